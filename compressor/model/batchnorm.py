"""BatchNorm running statistics: recomputing them, and scoring a model without them.

A network evaluates with the running mean and variance its BatchNorm layers accumulated in
training, at their ``momentum``. With torchvision's MobileNet-v3 (momentum 0.01) a short
schedule leaves them far from the data: the model scores at chance in eval mode while it
classifies its training batches well. Pruning has the same effect: a layer's inputs change
when the channels before it go. :func:`recalibrate` recomputes the statistics as exact averages
over training batches (forward passes, BatchNorm layers alone in train mode, no gradients);
:func:`batch_statistics` lets a caller score the model as training sees it, to tell when the
running statistics lag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _snapshot(layers: list[_BatchNorm]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Copies of the layers' buffers (running mean, variance, batch count), to put back."""
    return [(buffer, buffer.clone()) for layer in layers for buffer in layer.buffers(recurse=False)]


def _restore(snapshot: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for buffer, copy in snapshot:
        buffer.copy_(copy)


@contextmanager
def _only_batchnorm_training(model: nn.Module, layers: list[_BatchNorm]) -> Iterator[None]:
    """Everything in eval mode (dropout off) except ``layers``; modes restored afterwards."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for layer in layers:
        layer.train()
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode


@torch.no_grad()
def recalibrate(model: nn.Module, batches: Iterable[torch.Tensor], max_batches: int) -> int:
    """Recompute every BatchNorm layer's running statistics on ``batches``, in place.

    The statistics are reset and then averaged over the batches with equal weight (momentum
    ``None`` while recalibrating; each layer's own momentum is put back afterwards).

    Args:
        model: The model, on the device the batches are on.
        batches: Input batches from the training split (no labels, no augmentation needed).
        max_batches: At most this many batches are used.

    Returns:
        The number of batches used (0 when the model has no BatchNorm layer or no batch came).
    """
    layers = batchnorm_layers(model)
    if not layers or max_batches <= 0:
        return 0
    saved = [(layer, layer.momentum) for layer in layers]
    backup = _snapshot(layers)
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    used = 0
    try:
        with _only_batchnorm_training(model, layers):
            for x in batches:
                if used == max_batches:
                    break
                model(x)
                used += 1
    finally:
        for layer, momentum in saved:
            layer.momentum = momentum
    if used == 0:
        # Nothing to average over: keep the statistics the model had.
        _restore(backup)
    return used


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` as training does: BatchNorm normalizes with each batch's own statistics.

    The running statistics are left exactly as they were (momentum 0 while inside, the batch
    counters restored), and everything else is in eval mode.
    """
    layers = batchnorm_layers(model)
    saved = [(layer, layer.momentum) for layer in layers]
    backup = _snapshot(layers)
    for layer in layers:
        layer.momentum = 0.0
    try:
        with _only_batchnorm_training(model, layers):
            yield model
    finally:
        for layer, momentum in saved:
            layer.momentum = momentum
        _restore(backup)
