"""Frozen teachers: what the loss terms read from them, and when their outputs are cached.

Teachers run in eval mode without autograd (no dropout, no graph kept) and see exactly the batch the student sees, augmented
or mixed. When batches are the same every epoch (:func:`outputs_reusable`: no random
augmentation), the teachers' outputs over a training split are computed once and reused: in
RAM for an in-memory split (by this stage and by later stages with the same teacher), on disk
as memory maps for a streamed one (:mod:`compressor.training.teacher_store`, also across runs).
Distillation then costs little more than training the student alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from compressor.data import DataSplit, batches, worker_errors
from compressor.training.features import LOGITS, FeatureTap
from compressor.training.terms import WeightedLoss

#: Teacher outputs larger than this are recomputed every step instead of cached.
CACHE_LIMIT_BYTES = 1 << 30

#: ``(teacher index, location) -> output``: a location is ``logits`` or a module path.
TeacherOutputs = dict[tuple[int, str], torch.Tensor]


def outputs_reusable(cache_teacher: bool, *augmenters: Any) -> bool:
    """Whether the teachers' outputs may be computed once and reused every epoch.

    The one place this is decided: only when the stage asks for it (``cache_teacher``) and
    every epoch serves the same inputs, i.e. no random augmentation of any kind. An augmenter
    that transforms samples at random (per batch or per sample) says so with ``active``.

    Args:
        cache_teacher: The stage's ``cache_teacher`` option.
        augmenters: The training's augmentations (per batch, per sample; ``None``: none).
    """
    return cache_teacher and not any(a is not None and a.active for a in augmenters)


class OutputLookup(Protocol):
    """Teacher outputs computed once for a split: a batch's rows, by their indices."""

    def rows(self, indices: torch.Tensor, device: str) -> TeacherOutputs:
        """The outputs of rows ``indices`` of the split, on ``device``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Where the outputs are kept, for the stage's metrics."""
        ...


@dataclass
class InMemoryOutputs:
    """Teacher outputs held in RAM: the in-memory path's (fastest: one tensor index per batch).

    Attributes:
        outputs: ``(teacher index, location) -> output`` for every row of the split, in order.
    """

    outputs: TeacherOutputs

    def rows(self, indices: torch.Tensor, device: str) -> TeacherOutputs:
        """``output[indices]`` of every output."""
        picked = indices.to(device)
        return {key: value[picked] for key, value in self.outputs.items()}

    def describe(self) -> dict[str, Any]:
        """``{"where": "memory"}``."""
        return {"where": "memory"}


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
        for _, found in self.passes(split, batch_size, device):
            for key, value in found.items():
                chunks.setdefault(key, []).append(value)
                total += value.numel() * value.element_size()
                if total > CACHE_LIMIT_BYTES:
                    return None
        return {key: torch.cat(parts) for key, parts in chunks.items()}

    def passes(
        self, split: DataSplit, batch_size: int, device: str
    ) -> Iterator[tuple[torch.Tensor, TeacherOutputs]]:
        """``(indices, outputs)`` of every batch of one in-order pass over ``split``."""
        with worker_errors():
            for idx, x, _ in batches(split, batch_size, device=device):
                yield idx, self.outputs(x.to(device))
