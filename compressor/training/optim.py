"""The optimizer and learning-rate schedule a recipe's ``optimizer:`` section describes."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compressor.errors import UsageError
from compressor.schemas import OptimizerConfig


def param_groups(
    params: list[torch.nn.Parameter], config: OptimizerConfig, model: nn.Module | None
) -> list[dict[str, Any]]:
    """``params`` split into the optimizer's groups: one per ``config.param_groups`` entry
    (the parameters of its modules, with its ``lr`` and ``weight_decay``), then the rest.

    A parameter belongs to the first entry naming a module it is in; parameters that are not
    the model's (distillation adapters) are in the rest.

    Raises:
        UsageError: An entry's module path holds no parameter of ``model`` (or no model given).
    """
    if not config.param_groups:
        return [{"params": params}]
    names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
    groups: list[dict[str, Any]] = []
    taken: set[int] = set()
    for i, group in enumerate(config.param_groups):
        chosen: list[torch.nn.Parameter] = []
        for j, path in enumerate(group.modules):
            inside = [
                p
                for p in params
                if names.get(id(p), "") == path or names.get(id(p), "").startswith(f"{path}.")
            ]
            if not inside and not any(n.startswith(f"{path}.") for n in names.values()):
                raise UsageError(
                    f"optimizer.param_groups[{i}].modules[{j}]: {path!r} holds no parameter of "
                    "the model"
                )
            chosen += [p for p in inside if id(p) not in taken]
            taken.update(id(p) for p in inside)
        extra = {k: v for k in ("lr", "weight_decay") if (v := getattr(group, k)) is not None}
        groups.append({"params": chosen, **extra})
    groups.append({"params": [p for p in params if id(p) not in taken]})
    return [group for group in groups if group["params"]]


def build_optimizer(
    params: Any, config: OptimizerConfig, total_steps: int, model: nn.Module | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Create the optimizer and (for ``schedule: cosine``) a per-step cosine schedule.

    Args:
        params: The parameters to optimize (any iterable; read once). Frozen ones (no
            ``requires_grad``) are left out.
        config: The recipe's optimizer, learning rate, weight decay, schedule and parameter
            groups.
        total_steps: Optimizer steps over the whole stage: the cosine schedule's period.
        model: The model the parameters belong to: ``config.param_groups`` name its modules.

    Returns:
        The optimizer, and the scheduler to step after every optimizer step (``None`` for a
        constant learning rate).

    Raises:
        UsageError: A parameter group names a module that holds no parameter of ``model``.
    """
    params = [p for p in params if p.requires_grad]
    groups = param_groups(params, config, model)
    # The fused kernels update every tensor in one call: for a small student the Python-level
    # per-tensor updates took a quarter of each step (0.2 ms against 0.08 ms per Adam step).
    fused: dict[str, Any] = (
        {"fused": True} if params and all(p.device.type in ("cpu", "cuda") for p in params) else {}
    )
    if config.name == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            **fused,
        )
    elif config.name == "adamw":
        optimizer = torch.optim.AdamW(
            groups, lr=config.lr, weight_decay=config.weight_decay, **fused
        )
    else:
        optimizer = torch.optim.Adam(
            groups, lr=config.lr, weight_decay=config.weight_decay, **fused
        )
    scheduler = None
    if config.schedule == "cosine" and total_steps > 0:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return optimizer, scheduler
