"""Moved to :mod:`compressor.model.checkpoint`; kept so that code written against it still runs."""

from __future__ import annotations

from compressor.model.checkpoint import load_model, save_model

__all__ = ["load_model", "save_model"]
