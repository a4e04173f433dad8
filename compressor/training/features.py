"""Intermediate outputs by module path, and adapters between student and teacher features.

Feature losses (FitNets, attention transfer, relation losses) compare what two networks compute
inside. :class:`FeatureTap` records the outputs of named modules during a forward pass;
:func:`build_adapter` makes the small regressor that maps the student's features to the
teacher's shape. Adapters are trained with the student and never exported.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from compressor.errors import RecipeError

LOGITS = "logits"


def find_module(model: nn.Module, path: str, field: str) -> nn.Module:
    """The module at ``path`` in ``model``.

    Raises:
        RecipeError: No such path; the message names ``field`` and the closest paths.
    """
    modules = dict(model.named_modules())
    if path in modules and path:
        return modules[path]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(path, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    shown = ", ".join(names[:25]) + (" ..." if len(names) > 25 else "")
    raise RecipeError(
        field, f"no module {path!r} in {type(model).__name__}; {hint}module paths: {shown}"
    )


class FeatureTap:
    """Records the outputs of the modules at ``paths`` while active (a context manager).

    Example:
        >>> with FeatureTap(model, ["features.3"]) as tap:
        ...     logits = model(x)
        >>> tap.outputs["features.3"].shape
    """

    def __init__(self, model: nn.Module, paths: Iterable[str], field: str = "losses") -> None:
        self.paths = [p for p in dict.fromkeys(paths) if p != LOGITS]
        self.modules = {p: find_module(model, p, field) for p in self.paths}
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> FeatureTap:  # noqa: PYI034  never subclassed; typing.Self needs 3.11
        for path, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(path)))
        return self

    def _hook(self, path: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if isinstance(output, tuple | list):
                output = output[0]
            self.outputs[path] = output

        return record

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def collect(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """The recorded outputs plus ``logits`` under the name ``logits``."""
        return {**self.outputs, LOGITS: logits}


class _PoolThen(nn.Module):
    """Resize the student's map to the teacher's spatial size, then apply ``inner``."""

    def __init__(self, size: tuple[int, int], inner: nn.Module) -> None:
        super().__init__()
        self.size = size
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.size:
            x = nn.functional.adaptive_avg_pool2d(x, self.size)
        return self.inner(x)


def build_adapter(
    kind: str, student_shape: torch.Size, teacher_shape: torch.Size
) -> nn.Module | None:
    """The regressor from student features to the teacher's shape, or ``None`` for ``none``.

    Args:
        kind: ``none``, ``linear`` (``(N, D)`` features), ``conv1x1`` (``(N, C, H, W)`` maps,
            pooled to the teacher's spatial size when it differs) or ``auto`` (by rank).
        student_shape: Shape of the student's features for one batch.
        teacher_shape: Shape of the teacher's features for the same batch.

    Raises:
        ValueError: The kind does not fit the features' rank.
    """
    if kind == "none":
        return None
    if kind == "auto":
        kind = "conv1x1" if len(student_shape) == 4 and len(teacher_shape) == 4 else "linear"
    if kind == "linear":
        return nn.Linear(
            int(torch.Size(student_shape[1:]).numel()), int(torch.Size(teacher_shape[1:]).numel())
        )
    if len(student_shape) != 4 or len(teacher_shape) != 4:
        raise ValueError(
            f"a conv1x1 adapter maps (N, C, H, W) feature maps; got {tuple(student_shape)} -> "
            f"{tuple(teacher_shape)}: use adapter: linear"
        )
    conv = nn.Conv2d(student_shape[1], teacher_shape[1], kernel_size=1, bias=False)
    return _PoolThen(
        (teacher_shape[2], teacher_shape[3]), nn.Sequential(conv, nn.BatchNorm2d(teacher_shape[1]))
    )


def adapt(adapter: nn.Module | None, features: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Apply ``adapter`` (flattening for linear adapters and restoring the teacher's shape)."""
    if adapter is None:
        return features
    if isinstance(adapter, nn.Linear):
        return adapter(features.flatten(1)).view(teacher.shape[0], *teacher.shape[1:])
    return adapter(features)
