"""Moved to :mod:`compressor.plugin.registry`; kept so that code written against it still runs."""

from __future__ import annotations

from compressor.plugin.registry import REGISTRATION_HOOKS, Registry

__all__ = ["REGISTRATION_HOOKS", "Registry"]
