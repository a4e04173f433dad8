"""The one place the search scores a model, and what it asks of the run's task.

Every selection the search makes reads a score from :func:`score_model`: the run's task's
metric (:mod:`compressor.task`: top-1 accuracy, mAP), through
:func:`compressor.training.evaluation.score` for a PyTorch model and
:func:`compressor.bench.session.onnx_score` for an ONNX file in onnxruntime, both the task's
one scorer. Nothing else in the package reads a model's outputs, so nothing else assumes class
logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from compressor.context import StageContext
    from compressor.data import DataSplit


@dataclass(frozen=True)
class MetricInfo:
    """The run's metric, as the search names and compares it.

    Attributes:
        key: How ``metrics.json`` names it (``accuracy``: ``val_accuracy``, ``test_accuracy``).
        label: How tables and plots name it.
        higher_is_better: Whether a larger value is better.
        fraction: Whether it is a fraction shown as a percentage.
    """

    key: str = "accuracy"
    label: str = "accuracy"
    higher_is_better: bool = True
    fraction: bool = True

    @property
    def worst(self) -> float:
        """The value a candidate that was never scored is given in the study."""
        if self.fraction:
            return 0.0 if self.higher_is_better else 1.0
        return -1e9 if self.higher_is_better else 1e9

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is at least as good as ``b``."""
        return a >= b if self.higher_is_better else a <= b

    def drop(self, teacher: float, value: float) -> float:
        """How much worse ``value`` is than ``teacher`` (negative: better)."""
        return teacher - value if self.higher_is_better else value - teacher

    def show(self, value: float | None) -> str:
        """``97.10%`` for a fraction, the number otherwise; ``—`` when unknown."""
        if value is None or math.isnan(value):
            return "—"
        return f"{100 * value:.2f}%" if self.fraction else f"{value:.4g}"


def metric_info(ctx: StageContext) -> MetricInfo:
    """The run's task's headline metric."""
    metric = ctx.task.metric
    return MetricInfo(metric.key, metric.label, metric.higher_is_better, metric.fraction)


def kept_whole(ctx: StageContext, model: nn.Module) -> list[nn.Module]:
    """The modules pruning and width scaling must leave whole: the task's output layers (the
    classifier; a detector's class and box layers)."""
    return list(ctx.task.kept_whole(model, ctx.data.num_classes))


def score_model(ctx: StageContext, model: nn.Module | Path, split: DataSplit) -> float:
    """The task's metric of a PyTorch model or an ONNX file on ``split``.

    Args:
        ctx: The search stage (data, batch size, device).
        model: The model (scored in eval mode on the run's device), or a deployed ``.onnx``
            file (scored in onnxruntime on the CPU, fed as it takes its inputs: raw pixels for
            a file with embedded preprocessing).
        split: The samples; selection always passes the validation split or a part of it.

    Returns:
        The metric (NaN for an empty split).
    """
    data, task = ctx.data, ctx.task
    if isinstance(model, Path):
        from compressor.bench.session import make_session, onnx_accuracy
        from compressor.onnx.inspection import input_spec, load_onnx, to_model_inputs

        spec = input_spec(load_onnx(model))
        return onnx_accuracy(
            make_session(model),
            split,
            ctx.eval_batch_size,
            convert=lambda x: to_model_inputs(x, spec, data.mean, data.std),
            task=task,
            data=data,
        )
    from compressor.training import evaluate

    return float(evaluate(model, split, ctx.eval_batch_size, ctx.device, task=task, data=data))
