"""Accuracy of a model on a split, in one process or shared among torchrun's ranks.

Both work on either kind of split (:class:`compressor.data.DataSplit`): the batches come from
:func:`compressor.data.batches`, in order.
"""

from __future__ import annotations

import torch
from torch import nn

from compressor.data import DataSplit, batches, worker_errors
from compressor.training import distributed


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """Logits of ``model`` (in eval mode) for every row of ``x``, on ``device``.

    The model's train/eval mode is put back afterwards.
    """
    was_training = model.training
    model.eval()
    outputs = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


@torch.inference_mode()
def predict_classes(
    model: nn.Module,
    split: DataSplit,
    batch_size: int,
    device: str,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """The predicted class of every sample of ``split`` (or of ``rows``), in order, on the CPU.

    The model runs in eval mode; its train/eval mode is put back afterwards.
    """
    was_training = model.training
    model.eval()
    predicted = []
    with worker_errors():
        for _, x, _ in batches(split, batch_size, order=rows, device=device):
            predicted.append(model(x.to(device)).argmax(dim=1).cpu())
    model.train(was_training)
    return torch.cat(predicted) if predicted else torch.empty(0, dtype=torch.long)


def evaluate(model: nn.Module, split: DataSplit, batch_size: int, device: str) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (0..1; NaN for an empty split).

    Counted as integers and divided once in Python: a float32 mean rounds 8/13 to
    0.61538464, and disagreed with :func:`evaluate_sharded` in the last digits.
    """
    if len(split) == 0:
        return float("nan")
    predicted = predict_classes(model, split, batch_size, device)
    return int((predicted == split.labels).sum()) / len(split)


def evaluate_sharded(model: nn.Module, split: DataSplit, batch_size: int, device: str) -> float:
    """Top-1 accuracy on ``split``, each rank scoring every ``world_size``-th sample.

    Every rank must call it (the counts are summed over ranks); all get the same result.
    """
    if len(split) == 0:
        return float("nan")
    place = distributed.current()
    rows = torch.arange(place.rank, len(split), place.world_size)
    predicted = predict_classes(model, split, batch_size, device, rows)
    correct = (predicted == split.labels[rows]).sum().item() if len(rows) else 0
    correct, total = distributed.reduce_totals(float(correct), float(len(rows)))
    return correct / total
