"""The training loop shared by the train, distill and prune stages.

One loop serves all three: a list of weighted loss terms, zero or more frozen teachers, an
optimizer with a schedule, an accuracy check on the validation split after every epoch, and a
progress bar. Teachers run in eval mode under ``torch.inference_mode`` (no dropout, no autograd
bookkeeping); when the inputs are deterministic their outputs are computed once for the whole
training split, which removes the teacher's cost from every epoch after the first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compressor.data import DataBundle, Split, iterate_batches, num_batches
from compressor.errors import StageFailure
from compressor.schemas import OptimizerConfig


@dataclass
class WeightedLoss:
    """One built loss term: ``weight * module(student, teacher, targets)``."""

    name: str
    weight: float
    module: nn.Module
    needs_teacher: bool


@dataclass
class FitResult:
    """What :func:`fit` measured.

    Attributes:
        history: One entry per epoch: ``epoch``, ``loss``, ``val_accuracy``, ``seconds``.
        samples_per_second: Training throughput over all epochs.
        teacher_cached: Whether the teachers' outputs were computed once and reused.
    """

    history: list[dict[str, float]]
    samples_per_second: float
    teacher_cached: bool


def build_optimizer(
    params: Any, config: OptimizerConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Create the optimizer and (for ``schedule: cosine``) a per-step cosine schedule."""
    if config.name == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    elif config.name == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = None
    if config.schedule == "cosine" and total_steps > 0:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return optimizer, scheduler


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """Logits of ``model`` (in eval mode) for every row of ``x``, on ``device``."""
    was_training = model.training
    model.eval()
    outputs = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def evaluate(model: nn.Module, split: Split, batch_size: int, device: str) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (0..1)."""
    if len(split) == 0:
        return float("nan")
    logits = predict_logits(model, split.x, batch_size, device)
    return (logits.argmax(dim=1).cpu() == split.y).float().mean().item()


def _teacher_logits(teachers: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        logits = [t(x) for t in teachers]
    # Several teachers teach through their averaged logits.
    return logits[0] if len(logits) == 1 else torch.stack(logits).mean(dim=0)


def fit(
    model: nn.Module,
    *,
    data: DataBundle,
    losses: Sequence[WeightedLoss],
    epochs: int,
    optimizer: OptimizerConfig,
    batch_size: int,
    eval_batch_size: int,
    device: str,
    seed: int,
    bar: Any,
    teachers: Sequence[nn.Module] = (),
    cache_teacher: bool = True,
) -> FitResult:
    """Train ``model`` in place.

    Args:
        model: The model to train (moved to ``device``).
        data: The dataset; trains on ``data.train``, reports accuracy on ``data.val``.
        losses: Weighted loss terms; terms that need a teacher get the teachers' logits.
        epochs: Passes over the training split.
        optimizer: Optimizer and schedule.
        batch_size: Training batch size.
        eval_batch_size: Batch size for inference (teacher cache, validation).
        device: Torch device.
        seed: Seeds the shuffling.
        bar: A progress bar with ``advance(steps, **postfix)``; advanced once per batch.
        teachers: Frozen teacher models (eval mode, no gradients).
        cache_teacher: Compute the teachers' training-split outputs once (correct only when the
            inputs are the same every epoch, which holds for the built-in in-memory datasets).

    Raises:
        StageFailure: The loss became NaN or infinite (names the epoch and step).
    """
    model.to(device)
    teachers = [t.to(device).eval() for t in teachers]
    for teacher in teachers:
        teacher.requires_grad_(False)
    needs_teacher = any(term.needs_teacher for term in losses)
    if needs_teacher and not teachers:
        raise StageFailure("a loss term needs a teacher, but the stage has none")

    steps_per_epoch = num_batches(len(data.train), batch_size)
    opt, scheduler = build_optimizer(model.parameters(), optimizer, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)

    cached: torch.Tensor | None = None
    if needs_teacher and cache_teacher:
        x_all = data.train.x
        cached = torch.cat(
            [_teacher_logits(teachers, x_all[i : i + eval_batch_size].to(device))
             for i in range(0, len(x_all), eval_batch_size)]
        )

    history: list[dict[str, float]] = []
    seen = 0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        total, count = 0.0, 0
        for step, (idx, x, y) in enumerate(
            iterate_batches(data.train, batch_size, shuffle=True, generator=generator), start=1
        ):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            teacher_out = None
            if needs_teacher:
                teacher_out = cached[idx.to(cached.device)] if cached is not None else _teacher_logits(teachers, x)
            student_out = model(x)
            loss = sum(
                term.weight * term.module(student_out, teacher_out if term.needs_teacher else None, y)
                for term in losses
            )
            if not torch.isfinite(loss):
                raise StageFailure(f"the loss became {loss.item()} at epoch {epoch}, step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(y)
            count += len(y)
            bar.advance(1, epoch=f"{epoch}/{epochs}", loss=total / count)
        seen += count
        val_accuracy = evaluate(model, data.val, eval_batch_size, device)
        history.append(
            {
                "epoch": epoch,
                "loss": total / max(count, 1),
                "val_accuracy": val_accuracy,
                "seconds": time.perf_counter() - epoch_start,
            }
        )
        bar.advance(0, epoch=f"{epoch}/{epochs}", loss=total / max(count, 1), val_acc=val_accuracy)
    elapsed = time.perf_counter() - started
    model.eval()
    return FitResult(
        history=history,
        samples_per_second=seen / elapsed if elapsed > 0 else math.inf,
        teacher_cached=cached is not None,
    )
