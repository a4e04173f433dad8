"""Training: the loop the train, distill and prune stages share, and what it is built from.

The package owns the loop (:mod:`.loop`: :func:`fit`), the set-up, epoch and batch it runs
(:mod:`.trainer`), its loss terms (:mod:`.terms`), the teachers and their cached outputs
(:mod:`.teachers`), the optimizer (:mod:`.optim`), validation accuracy (:mod:`.evaluation`),
mixed precision (:mod:`.precision`), batch augmentation (:mod:`.augment`), feature taps and
adapters (:mod:`.features`), fast teacher backends (:mod:`.fast_teacher`), per-epoch
checkpoints (:mod:`.epoch_checkpoint`) and data-parallel training under torchrun
(:mod:`.distributed`).

The names plugins and benchmarks use are re-exported here:
``from compressor.training import fit, WeightedLoss, evaluate``.
"""

from __future__ import annotations

from compressor.training import distributed
from compressor.training.evaluation import evaluate, predict_logits
from compressor.training.loop import FitResult, fit
from compressor.training.optim import build_optimizer
from compressor.training.teachers import CACHE_LIMIT_BYTES, Teachers
from compressor.training.terms import WeightedLoss

__all__ = [
    "CACHE_LIMIT_BYTES",
    "FitResult",
    "Teachers",
    "WeightedLoss",
    "build_optimizer",
    "distributed",
    "evaluate",
    "fit",
    "predict_logits",
]
