"""``--set a.b=c``: change any recipe field from the command line.

Paths are dotted. A list is indexed by position (``stages.0`` or ``losses[0]``) and the stage
list also by stage name (``stages.distill.epochs=3``). Values are parsed as YAML, so ``3`` is
an integer, ``0.5`` a float, ``[32, 64]`` a list and ``null`` removes nothing but sets None.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from compressor.errors import UsageError, format_choices


def _parts(path: str) -> list[str]:
    # "losses[0].weight" -> ["losses", "0", "weight"]
    return [p for p in re.split(r"\.|\[(\d+)\]", path) if p]


def _list_index(items: list[Any], part: str, where: str, setting: str) -> int:
    # ASCII digits only: str.isdigit() also accepts '¹' and '²', which int() refuses.
    if re.fullmatch(r"-?[0-9]+", part):
        index = int(part)
        if not -len(items) <= index < len(items):
            raise UsageError(f"--set {setting}: {where} has {len(items)} entries, no index {index}")
        return index
    names = [str(item.get("name") or item.get("type")) for item in items if isinstance(item, dict)]
    for index, item in enumerate(items):
        if isinstance(item, dict) and part in (item.get("name"), item.get("type")):
            return index
    raise UsageError(
        f"--set {setting}: no entry named {part!r} in {where}; {format_choices(part, names)}"
    )


def apply_override(raw: dict[str, Any], setting: str) -> None:
    """Apply one ``path=value`` setting to a raw recipe mapping, in place.

    Raises:
        UsageError: The setting has no ``=``, or the path does not lead anywhere.
    """
    path, sep, text = setting.partition("=")
    path = path.strip()
    if not sep or not path:
        raise UsageError(f"--set {setting!r}: expected PATH=VALUE, e.g. stages.distill.epochs=3")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    parts = _parts(path)
    node: Any = raw
    where = "the recipe"
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part, where, setting)
            if last:
                node[index] = value
                return
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node or node[part] is None:
                node[part] = {}
            node = node[part]
        else:
            raise UsageError(
                f"--set {setting}: {where} is a {type(node).__name__}, it has no field {part!r}"
            )
        where = ".".join(parts[: i + 1])


def apply_overrides(raw: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """Apply every ``--set`` setting in order and return the mapping."""
    for setting in settings:
        apply_override(raw, setting)
    return raw
