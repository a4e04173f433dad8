"""Fields in file names: ``pattern: "{label}_{speaker}_{index}.wav"`` over each file's name.

A pattern is literal text with ``{field}`` placeholders; each placeholder matches one or more
characters (as few as the rest allows). It is matched against the whole file name, or, when
that fails, against the name without its extension, so ``{label}_{speaker}_{index}`` serves
WAV and FLAC files alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from compressor.errors import RecipeError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def pattern_fields(pattern: str) -> list[str]:
    """The field names of ``pattern``, in order.

    Raises:
        ValueError: A placeholder is not a name, a name repeats, or there is none.
    """
    names = _PLACEHOLDER.findall(pattern)
    if not names:
        raise ValueError(f"pattern {pattern!r} has no {{field}}; e.g. '{{label}}_{{speaker}}.wav'")
    for name in names:
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ValueError(f"pattern {pattern!r}: {{{name}}} is not a field name")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"pattern {pattern!r} names {', '.join(repeated)} more than once")
    return names


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of ``pattern`` (see the module docstring)."""
    pattern_fields(pattern)
    parts = _PLACEHOLDER.split(pattern)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


def name_fields(
    paths: Sequence[Path], pattern: str, field: str = "data.options.pattern"
) -> dict[str, list[str]]:
    """Each field's value in every file name of ``paths``.

    Raises:
        RecipeError: A file name does not match ``pattern`` (the first is named).
    """
    regex = compile_pattern(pattern)
    values: dict[str, list[str]] = {name: [] for name in regex.groupindex}
    for path in paths:
        found = regex.fullmatch(path.name) or regex.fullmatch(path.stem)
        if found is None:
            raise RecipeError(
                field,
                f"the file name {path.name!r} ({path}) does not match {pattern!r}; rename the "
                "files or change the pattern",
                value=pattern,
            )
        for name, column in values.items():
            column.append(found.group(name))
    return values
