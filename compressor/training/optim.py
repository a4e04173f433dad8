"""The optimizer and learning-rate schedule a recipe's ``optimizer:`` section describes."""

from __future__ import annotations

from typing import Any

import torch

from compressor.schemas import OptimizerConfig


def build_optimizer(
    params: Any, config: OptimizerConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Create the optimizer and (for ``schedule: cosine``) a per-step cosine schedule.

    Args:
        params: The parameters to optimize (any iterable; read once).
        config: The recipe's optimizer, learning rate, weight decay and schedule.
        total_steps: Optimizer steps over the whole stage: the cosine schedule's period.

    Returns:
        The optimizer, and the scheduler to step after every optimizer step (``None`` for a
        constant learning rate).
    """
    params = list(params)
    # The fused kernels update every tensor in one call: for a small student the Python-level
    # per-tensor updates took a quarter of each step (0.2 ms against 0.08 ms per Adam step).
    fused: dict[str, Any] = (
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
