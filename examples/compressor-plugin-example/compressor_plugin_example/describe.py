"""What the model card and the summary stage share: a per-module description of a model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def parameter_count(module: nn.Module) -> int:
    """Number of parameters of ``module``, its children included."""
    return sum(p.numel() for p in module.parameters())


def describe_modules(
    model: nn.Module, example: torch.Tensor, max_depth: int = 1
) -> list[dict[str, Any]]:
    """One row per module down to ``max_depth``: path, type, parameters, output shape.

    Args:
        model: The model; it is run once on ``example`` (in eval mode, without gradients) to
            record output shapes, and is otherwise left as it was.
        example: A batch of inputs; its batch size shows as the first output dimension.
        max_depth: 1 lists the top-level modules, 2 their children too, and so on.

    Returns:
        Rows ``{"module", "type", "params", "output_shape"}``; ``output_shape`` is ``None`` for
        a module the forward pass did not call or whose output is not a tensor.
    """
    rows: dict[nn.Module, dict[str, Any]] = {}
    for name, module in model.named_modules():
        depth = name.count(".") + 1 if name else 0
        if 1 <= depth <= max_depth:
            rows[module] = {
                "module": name,
                "type": type(module).__name__,
                "params": parameter_count(module),
                "output_shape": None,
            }

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and rows[module]["output_shape"] is None:
            rows[module]["output_shape"] = list(output.shape)

    handles = [module.register_forward_hook(record) for module in rows]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return list(rows.values())
