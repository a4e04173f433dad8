"""Helpers the recipe tests share: find a stage of a raw recipe, expect a one-line error."""

from __future__ import annotations

from typing import Any

import pytest

from compressor import recipe
from compressor.errors import RecipeError
from compressor.plugin.registry import Registry


def stage_of(r: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``stages:`` entry of raw recipe ``r`` named ``name``."""
    return next(s for s in r["stages"] if s["name"] == name)


def error_of(r: dict[str, Any], registry: Registry) -> str:
    """The message of the RecipeError that resolving ``r`` raises; it must be one line."""
    with pytest.raises(RecipeError) as excinfo:
        recipe.resolve(r, registry)
    message = str(excinfo.value)
    assert "\n" not in message
    return message
