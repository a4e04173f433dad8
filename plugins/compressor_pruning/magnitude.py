"""Magnitude pruning: drop the channel groups whose weights have the smallest norm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch_pruning as tp
from torch import nn


class MagnitudePruner:
    """Structural magnitude pruning with torch-pruning's ``GroupMagnitudeImportance``.

    Args:
        options: The validated ``MagnitudeOptions`` (ratio, importance norm, global, round_to).
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def prune(
        self, model: nn.Module, example_inputs: torch.Tensor, ignored_layers: Sequence[nn.Module]
    ) -> nn.Module:
        """Prune ``model`` in place and return it.

        Args:
            model: The model to prune (its weights rank the channels).
            example_inputs: A real input batch, traced to build the dependency graph.
            ignored_layers: Modules whose outputs are kept whole (the classifier at least).
        """
        if self.options.ratio == 0:
            return model
        importance = tp.importance.GroupMagnitudeImportance(
            p=1 if self.options.importance == "l1" else 2
        )
        pruner = tp.pruner.BasePruner(
            model,
            example_inputs,
            importance=importance,
            pruning_ratio=self.options.ratio,
            global_pruning=self.options.global_pruning,
            ignored_layers=list(ignored_layers),
            round_to=self.options.round_to,
        )
        pruner.step()
        return model
