"""Compressing to a budget: the ``search`` stage (optuna), its space and its constraints.

Registered through the ``compressor`` entry-point group exactly as a third party's package
would be. Only pydantic is imported here; optuna and torch load when a search runs.
"""

from __future__ import annotations

from compressor import hookimpl
from compressor.records import StagePlugin


@hookimpl
def compressor_register_stages() -> list[StagePlugin]:
    """Register the ``search`` stage."""
    return []
