"""Values that no option can mean, rejected once for every plugin's options."""

from __future__ import annotations

import math
from typing import Any

from compressor.errors import RecipeError, describe_value
from compressor.recipe.messages import field_path

#: torch's int64 range: integers beyond it overflow mid-run.
_INT64 = (-(2**63), 2**63 - 1)


def check_values(
    value: Any, field: str = "", _open: set[int] | None = None, _done: set[int] | None = None
) -> None:
    """Reject what no option can mean: recursive YAML aliases, non-finite floats, integers
    beyond 64 bits.

    Plugin schemas rarely bound their fields, and pydantic accepts ``.inf`` and huge integers
    for unbounded ones; torch would later fail on them mid-run with an overflow or a NaN loss.
    Checking the raw mapping once covers every plugin, third-party ones included.

    Raises:
        RecipeError: The first such value, naming its field.
    """
    open_ids = set() if _open is None else _open
    done = set() if _done is None else _done
    if isinstance(value, dict | list):
        # YAML aliases share nodes: `a: &x [*x]` is a cycle, and nested aliases a huge tree.
        # Each container is checked once, and one that contains itself is an error.
        if id(value) in open_ids:
            raise RecipeError(field, "refers to itself (a recursive YAML alias)")
        if id(value) in done:
            return
        open_ids.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            check_values(item, field_path(field, key), open_ids, done)
        open_ids.discard(id(value))
        done.add(id(value))
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise RecipeError(
            field,
            f"invalid value {describe_value(value)}: integers must fit in 64 bits",
            value=value,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(field, f"invalid value {value}: numbers must be finite", value=value)
