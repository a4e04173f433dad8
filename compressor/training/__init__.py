"""The training loop shared by the train, distill and prune stages.

One loop serves all three: weighted loss terms on logits or on intermediate features, zero or
more frozen teachers, batch augmentation, an optimizer with a schedule, validation accuracy
after every epoch, and a progress bar.

Teachers run in eval mode under ``torch.inference_mode`` (no dropout, no autograd records) and
see exactly the batch the student sees, augmented or mixed. When batches are the same every
epoch (no augmentation), the teachers' outputs over the training split are computed once and
reused, by this stage and by later stages with the same teacher: distillation then costs little
more than training the student alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from compressor import interrupt
from compressor.training import distributed
from compressor.training.augment import Augmenter
from compressor.data import DataBundle, Split, iterate_batches, num_batches
from compressor.errors import StageFailure
from compressor.training.features import LOGITS, FeatureTap, adapt, build_adapter
from compressor.schemas import OptimizerConfig
from compressor.training.epoch_checkpoint import EpochCheckpoint

#: Teacher outputs larger than this are recomputed every step instead of cached.
CACHE_LIMIT_BYTES = 1 << 30


@dataclass
class WeightedLoss:
    """One built loss term: ``weight * module(student[student_at], teacher[teacher_at], targets)``.

    Attributes:
        name: The loss plugin's name.
        weight: The term's weight.
        module: The built loss.
        needs_teacher: Whether the term reads the teacher.
        student_at: ``logits`` or a module path in the student.
        teacher_at: ``logits`` or a module path in the teacher.
        adapter: ``none``, ``linear``, ``conv1x1`` or ``auto``.
        teacher_index: Which teacher the term learns from; ``None`` averages all of them.
    """

    name: str
    weight: float
    module: nn.Module
    needs_teacher: bool
    student_at: str = LOGITS
    teacher_at: str = LOGITS
    adapter: str = "none"
    teacher_index: int | None = None


@dataclass
class FitResult:
    """What :func:`fit` measured.

    Attributes:
        history: One entry per epoch: ``epoch``, ``loss``, ``val_accuracy``, ``seconds``.
        samples_per_second: Training throughput over all epochs.
        teacher_cached: Whether the teachers' outputs were computed once and reused.
        adapters: The trained adapters (kept out of the model, so never exported).
        teacher_backends: What each teacher ran on when it ran every step.
    """

    history: list[dict[str, float]]
    samples_per_second: float
    teacher_cached: bool
    adapters: dict[int, nn.Module] = field(default_factory=dict)
    teacher_backends: list[str] = field(default_factory=list)


def build_optimizer(
    params: Any, config: OptimizerConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Create the optimizer and (for ``schedule: cosine``) a per-step cosine schedule."""
    params = list(params)
    # The fused kernels update every tensor in one call: for a small student the Python-level
    # per-tensor updates took a quarter of each step (0.2 ms against 0.08 ms per Adam step).
    fused = (
        {"fused": True} if params and all(p.device.type in ("cpu", "cuda") for p in params) else {}
    )
    if config.name == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            **fused,
        )
    elif config.name == "adamw":
        optimizer = torch.optim.AdamW(
            params, lr=config.lr, weight_decay=config.weight_decay, **fused
        )
    else:
        optimizer = torch.optim.Adam(
            params, lr=config.lr, weight_decay=config.weight_decay, **fused
        )
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


class Teachers:
    """Frozen teachers and the outputs the loss terms read from them."""

    def __init__(
        self, models: Sequence[nn.Module], losses: Sequence[WeightedLoss], device: str
    ) -> None:
        self.models = [m.to(device).eval().requires_grad_(False) for m in models]
        self.paths: list[list[str]] = [[] for _ in self.models]
        for term in losses:
            if not term.needs_teacher:
                continue
            for i in self._indices(term):
                if term.teacher_at not in self.paths[i]:
                    self.paths[i].append(term.teacher_at)

    def speed_up(self, example: torch.Tensor, backend: str) -> list[str]:
        """Run logits-only teachers on the fastest backend (see :mod:`compressor.training.fast_teacher`)."""
        from compressor.training.fast_teacher import fastest_teacher

        chosen = []
        for i, paths in enumerate(self.paths):
            if paths == [LOGITS]:
                self.models[i], name = fastest_teacher(self.models[i], example, backend)
            else:
                name = "torch"
            chosen.append(name)
        return chosen

    def _indices(self, term: WeightedLoss) -> list[int]:
        return list(range(len(self.models))) if term.teacher_index is None else [term.teacher_index]

    # no_grad, not inference_mode: losses may save the teacher's outputs for their backward pass,
    # which inference tensors forbid.
    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> dict[tuple[int, str], torch.Tensor]:
        """``(teacher index, location) -> output`` for one batch."""
        found: dict[tuple[int, str], torch.Tensor] = {}
        for i, (model, paths) in enumerate(zip(self.models, self.paths, strict=True)):
            if not paths:
                continue
            with FeatureTap(model, paths, "losses") as tap:
                logits = model(x)
            for path, value in tap.collect(logits).items():
                if path in paths:
                    found[(i, path)] = value
        return found

    def for_term(
        self, term: WeightedLoss, outputs: dict[tuple[int, str], torch.Tensor]
    ) -> torch.Tensor:
        """What ``term`` compares against: one teacher's output, or all teachers' averaged."""
        values = [outputs[(i, term.teacher_at)] for i in self._indices(term)]
        return values[0] if len(values) == 1 else torch.stack(values).mean(dim=0)

    def cache(self, x: torch.Tensor, batch_size: int) -> dict[tuple[int, str], torch.Tensor] | None:
        """Outputs for every row of ``x``, or ``None`` when they would not fit in memory."""
        chunks: dict[tuple[int, str], list[torch.Tensor]] = {}
        total = 0
        for start in range(0, len(x), batch_size):
            for key, value in self.outputs(x[start : start + batch_size]).items():
                chunks.setdefault(key, []).append(value)
                total += value.numel() * value.element_size()
                if total > CACHE_LIMIT_BYTES:
                    return None
        return {key: torch.cat(parts) for key, parts in chunks.items()}


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
    augment: Any = None,
    teacher_cache: dict[Any, Any] | None = None,
    teacher_backend: str = "torch",
    checkpoint: EpochCheckpoint | None = None,
    precision: str = "fp32",
) -> FitResult:
    """Train ``model`` in place.

    Args:
        model: The model to train (moved to ``device``).
        data: The dataset; trains on ``data.train``, reports accuracy on ``data.val``.
        losses: Weighted loss terms.
        epochs: Passes over the training split.
        optimizer: Optimizer and schedule.
        batch_size: Training batch size.
        eval_batch_size: Batch size for inference (teacher cache, validation).
        device: Torch device.
        seed: Seeds shuffling and augmentation.
        bar: A progress bar with ``advance(steps, **postfix)``; advanced once per batch.
        teachers: Frozen teacher models.
        cache_teacher: Reuse the teachers' outputs when batches are the same every epoch.
        augment: The recipe's ``data.augment`` (``None``: no augmentation).
        teacher_cache: A dict shared across calls (the run's), so a later stage with the same
            teacher and data reuses the outputs this one computed.
        teacher_backend: Where logits-only teachers run (every step, or the one caching pass):
            ``torch``, ``torchscript``, ``channels_last``, ``onnxruntime`` or ``auto`` (a fixed
            rule, see :func:`compressor.training.fast_teacher.fastest_teacher`).
        checkpoint: Where to save the state after every epoch; when it already holds one (an
            interrupted run being resumed), training continues after its epoch.
        precision: ``fp32``, or ``bf16`` to run the forward passes and losses under bfloat16
            autocast.

    Under torchrun (:mod:`compressor.training.distributed`) the student trains in
    ``DistributedDataParallel`` on this rank's shard of every epoch, ``batch_size`` being the
    global batch; the teachers stay unwrapped and the epoch loss and validation accuracy are
    reduced over ranks.

    Raises:
        StageFailure: The loss became NaN or infinite (names the epoch and step; the
            checkpoint of the last completed epoch stays).
        compressor.interrupt.Interrupted: Ctrl-C was pressed (checked after every step).
    """
    model.to(device)
    needs_teacher = any(term.needs_teacher for term in losses)
    if needs_teacher and not teachers:
        raise StageFailure("a loss term needs a teacher, but the stage has none")
    tutor = Teachers(teachers, losses, device)
    dist = distributed.current()
    # Each rank augments its own samples: a rank-dependent seed, the stage seed itself on rank 0.
    generator = torch.Generator().manual_seed(seed + 7919 * dist.rank)
    augmenter = Augmenter(augment, data.mean, data.std, generator)
    student_paths = [term.student_at for term in losses]

    # A dry forward pass gives the feature shapes the adapters must map between.
    adapters: dict[int, nn.Module] = {}
    if any(term.adapter != "none" for term in losses):
        probe = data.train.x[:2].to(device)
        model.eval()
        with torch.no_grad(), FeatureTap(model, student_paths) as tap:
            student_probe = tap.collect(model(probe))
        teacher_probe = tutor.outputs(probe)
        for i, term in enumerate(losses):
            built = build_adapter(
                term.adapter,
                student_probe[term.student_at].shape,
                tutor.for_term(term, teacher_probe).shape,
            )
            if built is not None:
                adapters[i] = built.to(device)
    params = list(model.parameters()) + [p for a in adapters.values() for p in a.parameters()]
    adapter_params = [p for a in adapters.values() for p in a.parameters()]
    for adapter in adapters.values():
        distributed.broadcast_module(adapter)
    # Feature taps stay on the unwrapped model: its hooks fire when the wrapper calls it.
    trained = distributed.wrap(
        model, device, static_graph=not any(term.student_at == LOGITS for term in losses)
    )
    autocast = distributed.autocast(device, precision)

    steps_per_epoch = (
        distributed.steps_per_epoch(len(data.train), batch_size)
        if dist.enabled
        else num_batches(len(data.train), batch_size)
    )
    opt, scheduler = build_optimizer(params, optimizer, epochs * steps_per_epoch)

    backends: list[str] = []
    example = data.train.x[:batch_size].to(device)
    cached: dict[tuple[int, str], torch.Tensor] | None = None
    if needs_teacher and cache_teacher and not augmenter.active:
        key = (
            tuple(id(t) for t in teachers),
            id(data.train.x),
            tuple(map(tuple, tutor.paths)),
            device,
        )
        if teacher_cache is not None and key in teacher_cache:
            cached = teacher_cache[key]
        else:
            # The one pass over the data runs on the fast backend too.
            if teacher_backend != "torch":
                backends = tutor.speed_up(example, teacher_backend)
            # On the CPU, chunks of the training batch size: a small teacher's activations for
            # 512-row chunks spill out of the caches, and the pass took twice as long per row.
            chunk = batch_size if str(device) == "cpu" else eval_batch_size
            with autocast:
                cached = tutor.cache(data.train.x.to(device), chunk)
            if teacher_cache is not None and cached is not None:
                teacher_cache[key] = cached

    if needs_teacher and cached is None and teacher_backend != "torch" and not backends:
        backends = tutor.speed_up(example, teacher_backend)

    history: list[dict[str, float]] = []
    seen, earlier_seconds, first_epoch = 0, 0.0, 1
    if checkpoint is not None:
        resumed = checkpoint.restore(
            model=model, adapters=adapters, optimizer=opt, scheduler=scheduler, generator=generator
        )
        if resumed is not None:
            history, seen, earlier_seconds = resumed.history, resumed.seen, resumed.elapsed
            first_epoch = resumed.epoch + 1
            bar.advance(
                resumed.epoch * steps_per_epoch, epoch=f"{resumed.epoch}/{epochs} (resumed)"
            )
    started = time.perf_counter()
    for epoch in range(first_epoch, epochs + 1):
        model.train()
        for adapter in adapters.values():
            adapter.train()
        epoch_start = time.perf_counter()
        total, count = 0.0, 0
        batches = (
            distributed.shard_batches(data.train, batch_size, seed=seed, epoch=epoch)
            if dist.enabled
            else iterate_batches(data.train, batch_size, shuffle=True, generator=generator)
        )
        for step, (idx, x, y) in enumerate(batches, start=1):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            x, targets = augmenter(x, y, data.num_classes)
            teacher_out: dict[tuple[int, str], torch.Tensor] = {}
            with autocast:
                if needs_teacher:
                    if cached is not None:
                        rows = idx.to(device)
                        teacher_out = {k: v[rows] for k, v in cached.items()}
                    else:
                        teacher_out = tutor.outputs(x)
                with FeatureTap(model, student_paths) as tap:
                    student_out = tap.collect(trained(x))
                loss = torch.zeros((), device=device)
                for i, term in enumerate(losses):
                    teacher_value = (
                        tutor.for_term(term, teacher_out) if term.needs_teacher else None
                    )
                    student_value = student_out[term.student_at]
                    if i in adapters:
                        student_value = adapt(adapters[i], student_value, teacher_value)
                    loss = loss + term.weight * term.module(student_value, teacher_value, targets)
            if not torch.isfinite(loss):
                kept = (
                    f"; the checkpoint of epoch {epoch - 1} is kept (checkpoints/{checkpoint.path.name})"
                    if checkpoint is not None and epoch > 1
                    else ""
                )
                raise StageFailure(
                    f"the loss became {loss.item()} at epoch {epoch}, step {step}{kept}; "
                    "try a lower learning rate"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(adapter_params)
            opt.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(y)
            count += len(y)
            bar.advance(1, epoch=f"{epoch}/{epochs}", loss=total / count)
            if not dist.enabled:  # ranks must stop at the same step; torchrun handles Ctrl-C there
                interrupt.check(f"epoch {epoch}, step {step}")
        if dist.enabled:
            total, count = distributed.reduce_totals(total, count)
            count = int(count)
            val_accuracy = distributed.evaluate_sharded(model, data.val, eval_batch_size, device)
        else:
            val_accuracy = evaluate(model, data.val, eval_batch_size, device)
        seen += count
        history.append(
            {
                "epoch": epoch,
                "loss": total / max(count, 1),
                "val_accuracy": val_accuracy,
                "seconds": time.perf_counter() - epoch_start,
            }
        )
        bar.advance(0, epoch=f"{epoch}/{epochs}", loss=total / max(count, 1), val_acc=val_accuracy)
        if checkpoint is not None and dist.is_main:
            checkpoint.save(
                epoch=epoch,
                model=model,
                adapters=adapters,
                optimizer=opt,
                scheduler=scheduler,
                generator=generator,
                history=history,
                seen=seen,
                elapsed=earlier_seconds + time.perf_counter() - started,
            )
    elapsed = earlier_seconds + time.perf_counter() - started
    for module in (model, *adapters.values()):
        distributed.broadcast_module(module)
    model.eval()
    return FitResult(
        history=history,
        samples_per_second=seen / elapsed if elapsed > 0 else math.inf,
        teacher_cached=cached is not None,
        adapters=adapters,
        teacher_backends=backends,
    )
