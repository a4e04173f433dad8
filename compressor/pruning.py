"""Moved to :mod:`compressor.model.pruning`; kept so that code written against it still runs."""

from __future__ import annotations

from compressor.model.pruning import PruneReport, PruneSettings, measure, prune_model

__all__ = ["PruneReport", "PruneSettings", "measure", "prune_model"]
