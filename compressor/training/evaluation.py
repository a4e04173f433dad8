"""A model's figures on a split, by its task's metric, in one process or shared among ranks.

The task (:class:`compressor.task.Task`) owns the metric: its deployed form of the model runs
on each batch, its scorer reads the outputs as numpy arrays, exactly as it reads an ONNX file's
outputs in the benchmark. :func:`score` gives every figure, :func:`evaluate` the headline one
(top-1 accuracy for classification). Both work on either kind of split
(:class:`compressor.data.DataSplit`): the batches come from :func:`compressor.data.batches`, in
order. Without a task, classification is scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from compressor.data import DataSplit, batches, worker_errors
from compressor.plugin.tasks import classification
from compressor.training import distributed

if TYPE_CHECKING:
    from compressor.data import DataBundle
    from compressor.task import Task


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """Raw outputs of ``model`` (in eval mode) for every row of ``x``, on ``device``.

    The model's train/eval mode is put back afterwards.
    """
    was_training = model.training
    model.eval()
    outputs = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def as_arrays(outputs: Any) -> list[Any]:
    """The deployed form's outputs (a tensor, or a tuple of them) as a list of numpy arrays on
    the CPU: the one form a task's scorer reads."""
    parts = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [
        part.detach().float().cpu().numpy()
        if part.is_floating_point()
        else part.detach().cpu().numpy()
        for part in parts
    ]


@torch.inference_mode()
def _scored(
    model: nn.Module,
    split: DataSplit,
    batch_size: int,
    device: str,
    task: Task,
    data: DataBundle | None,
    rows: torch.Tensor | None,
) -> Any:
    """A scorer fed with ``model``'s deployed outputs on ``split`` (or its ``rows``)."""
    scorer = task.scorer(data)  # type: ignore[arg-type]
    deployed = task.deployable(model)
    was_training = model.training
    model.eval()
    deployed.eval()
    try:
        with worker_errors():
            for _, x, y in batches(split, batch_size, order=rows, device=device):
                scorer.update(as_arrays(deployed(x.to(device))), y.numpy())
    finally:
        model.train(was_training)
    return scorer


def score(
    model: nn.Module,
    split: DataSplit,
    batch_size: int,
    device: str,
    *,
    task: Task | None = None,
    data: DataBundle | None = None,
) -> dict[str, Any]:
    """Every figure of ``task``'s metric for ``model`` on ``split``.

    Args:
        model: The model (run in eval mode; its mode is put back afterwards).
        split: Labelled samples.
        batch_size: Samples per forward pass.
        device: Torch device.
        task: The run's task (default: classification).
        data: The run's dataset, which the task's scorer reads its classes and input shape
            from (classification needs none).

    Returns:
        The scorer's figures: the headline (``accuracy``; ``map``) and any others; NaN for an
        empty split.
    """
    task = task or classification()
    figures: dict[str, Any] = _scored(model, split, batch_size, device, task, data, None).compute()
    return figures


def evaluate(
    model: nn.Module,
    split: DataSplit,
    batch_size: int,
    device: str,
    *,
    task: Task | None = None,
    data: DataBundle | None = None,
) -> float:
    """The headline figure of ``task``'s metric (top-1 accuracy by default; NaN for an empty
    split); see :func:`score`."""
    task = task or classification()
    return float(score(model, split, batch_size, device, task=task, data=data)[task.metric.key])


def score_sharded(
    model: nn.Module,
    split: DataSplit,
    batch_size: int,
    device: str,
    *,
    task: Task | None = None,
    data: DataBundle | None = None,
) -> dict[str, Any]:
    """:func:`score`, each rank scoring every ``world_size``-th sample.

    Every rank must call it (the scorers' states are gathered over ranks); all get the same
    result.
    """
    task = task or classification()
    place = distributed.current()
    rows = torch.arange(place.rank, len(split), place.world_size)
    scorer = _scored(model, split, batch_size, device, task, data, rows)
    others = [
        s for i, s in enumerate(distributed.gather_objects(scorer.state())) if i != place.rank
    ]
    scorer.merge(others)
    figures: dict[str, Any] = scorer.compute()
    return figures


def evaluate_sharded(
    model: nn.Module,
    split: DataSplit,
    batch_size: int,
    device: str,
    *,
    task: Task | None = None,
    data: DataBundle | None = None,
) -> float:
    """The headline figure of :func:`score_sharded`."""
    task = task or classification()
    figures = score_sharded(model, split, batch_size, device, task=task, data=data)
    return float(figures[task.metric.key])
