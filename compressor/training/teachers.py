"""Frozen teachers: what the loss terms read from them, and when their outputs are cached.

Teachers run in eval mode without autograd (no dropout, no graph kept) and see exactly the batch the student sees, augmented
or mixed. When batches are the same every epoch (no augmentation), the teachers' outputs over
the training split are computed once and reused, by this stage and by later stages with the
same teacher: distillation then costs little more than training the student alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from compressor.data import DataSplit, batches, head, worker_errors
from compressor.training.features import LOGITS, FeatureTap
from compressor.training.terms import WeightedLoss

#: Teacher outputs larger than this are recomputed every step instead of cached.
CACHE_LIMIT_BYTES = 1 << 30

#: ``(teacher index, location) -> output``: a location is ``logits`` or a module path.
TeacherOutputs = dict[tuple[int, str], torch.Tensor]


class Teachers:
    """Frozen teachers and the outputs the loss terms read from them.

    Args:
        models: The teacher models (moved to ``device``, put in eval mode and frozen).
        losses: The loss terms; those that need a teacher decide which locations are read.
        device: Torch device.
    """

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
    def outputs(self, x: torch.Tensor) -> TeacherOutputs:
        """``(teacher index, location) -> output`` for one batch."""
        found: TeacherOutputs = {}
        for i, (model, paths) in enumerate(zip(self.models, self.paths, strict=True)):
            if not paths:
                continue
            with FeatureTap(model, paths, "losses") as tap:
                logits = model(x)
            for path, value in tap.collect(logits).items():
                if path in paths:
                    found[(i, path)] = value
        return found

    def for_term(self, term: WeightedLoss, outputs: TeacherOutputs) -> torch.Tensor:
        """What ``term`` compares against: one teacher's output, or all teachers' averaged."""
        values = [outputs[(i, term.teacher_at)] for i in self._indices(term)]
        return values[0] if len(values) == 1 else torch.stack(values).mean(dim=0)

    def cache(self, split: DataSplit, batch_size: int, device: str) -> TeacherOutputs | None:
        """Outputs for every row of ``split``, in order, or ``None`` when they would not fit in
        memory."""
        chunks: dict[tuple[int, str], list[torch.Tensor]] = {}
        total = 0
        with worker_errors():
            for _, x, _ in batches(split, batch_size, device=device):
                for key, value in self.outputs(x.to(device)).items():
                    chunks.setdefault(key, []).append(value)
                    total += value.numel() * value.element_size()
                    if total > CACHE_LIMIT_BYTES:
                        return None
        return {key: torch.cat(parts) for key, parts in chunks.items()}


def prepare_teacher_outputs(
    tutor: Teachers,
    teachers: Sequence[nn.Module],
    split: DataSplit,
    *,
    cacheable: bool,
    shared: dict[Any, Any] | None,
    backend: str,
    batch_size: int,
    eval_batch_size: int,
    device: str,
    precision: AbstractContextManager[Any],
) -> tuple[TeacherOutputs | None, list[str]]:
    """Cache the teachers' outputs over ``split`` when allowed, else ready them to run every step.

    Args:
        tutor: The teachers, as the loss terms read them.
        teachers: The teacher models the caller passed: the shared cache's key names them.
        split: The whole training split.
        cacheable: Whether batches are the same every epoch and caching was asked for.
        shared: The run's cache, shared across stages (``None``: this call's alone).
        backend: Where logits-only teachers run (``torch`` leaves them as they are).
        batch_size: Training batch size (also the CPU's chunk for the caching pass).
        eval_batch_size: Chunk of the caching pass on other devices.
        device: Torch device.
        precision: The autocast context the caching pass runs under.

    Returns:
        The outputs for every row of ``split`` (``None`` when not cached: not cacheable, or too
        large), and the backend each teacher runs on, when a fast backend was set up (empty
        otherwise).
    """
    backends: list[str] = []
    example = head(split, batch_size).to(device)
    cached: TeacherOutputs | None = None
    if cacheable:
        key = (tuple(id(t) for t in teachers), id(split), tuple(map(tuple, tutor.paths)), device)
        if shared is not None and key in shared:
            cached = shared[key]
        else:
            # The one pass over the data runs on the fast backend too.
            if backend != "torch":
                backends = tutor.speed_up(example, backend)
            # On the CPU, chunks of the training batch size: a small teacher's activations for
            # 512-row chunks spill out of the caches, and the pass took twice as long per row.
            chunk = batch_size if str(device) == "cpu" else eval_batch_size
            with precision:
                cached = tutor.cache(split, chunk, device)
            if shared is not None and cached is not None:
                shared[key] = cached
    if cached is None and backend != "torch" and not backends:
        backends = tutor.speed_up(example, backend)
    return cached, backends
