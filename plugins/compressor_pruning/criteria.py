"""The built-in importance criteria. Each builds a torch-pruning ``Importance``.

Contract (see :class:`compressor.records.PrunerPlugin`): ``importance()`` returns a callable
``(group) -> 1-D tensor`` of scores, higher meaning keep; ``needs_gradients`` says whether the
engine must accumulate gradients on the model before each pruning step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch_pruning as tp
from torch import nn


def _p(options: Any) -> int:
    return 1 if options.norm == "l1" else 2


class MagnitudeCriterion:
    """Group magnitude (Li et al. 2017, grouped by DepGraph)."""

    needs_gradients = False

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return tp.importance.GroupMagnitudeImportance(p=_p(self.options))


class TaylorCriterion:
    """First-order Taylor expansion of the loss (Molchanov et al. 2019)."""

    needs_gradients = True

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return tp.importance.GroupTaylorImportance(multivariable=self.options.multivariable)


class BNScaleCriterion:
    """Network slimming (Liu et al. 2017): BatchNorm scale factors rank channels."""

    needs_gradients = False

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return tp.importance.BNScaleImportance()

    @staticmethod
    def check_model(model: nn.Module) -> str | None:
        """Why the criterion cannot rank this model, if it cannot."""
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            return (
                "bn_scale ranks channels by BatchNorm scales, and the model has no BatchNorm layer"
            )
        return None


class LAMPCriterion:
    """Layer-adaptive magnitude-based pruning (Lee et al. 2021)."""

    needs_gradients = False

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return tp.importance.LAMPImportance(p=_p(self.options))


class FPGMCriterion:
    """Filter pruning via geometric median (He et al. 2019)."""

    needs_gradients = False

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return tp.importance.FPGMImportance(p=_p(self.options))


class _SeededRandomImportance(tp.importance.Importance):
    """Random scores from a private generator, so a seed repeats the same ranking."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor:
        _, idxs = group[0]
        return torch.rand(len(idxs), generator=self.generator)


class RandomCriterion:
    """Random ranking: the baseline that shows what a criterion is worth."""

    needs_gradients = False

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return _SeededRandomImportance(self.options.seed)
