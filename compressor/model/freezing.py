"""Freezing parts of a model for one stage's training: a pretrained backbone stays as it is.

A frozen module's parameters get no gradient (so no optimizer step and no weight decay moves
them), and its BatchNorm layers normalize with their running statistics and do not update them,
as in eval mode: a frozen backbone is exactly the backbone that was loaded. Everything is put
back when the stage's training ends, so a later stage trains the whole model again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _stay_in_eval_mode(module: nn.Module, _inputs: Any) -> None:
    module.training = False


@contextmanager
def frozen(modules: Sequence[nn.Module]) -> Iterator[int]:
    """Freeze ``modules`` (and everything inside them) while the block runs.

    Args:
        modules: The modules to freeze, e.g. ``[model.layer1, model.layer2]``.

    Yields:
        The number of parameter tensors frozen.
    """
    params = {id(p): p for m in modules for p in m.parameters() if p.requires_grad}
    norms = {id(n): n for m in modules for n in m.modules() if isinstance(n, _BatchNorm)}
    for param in params.values():
        param.requires_grad_(False)
    # The trainer calls model.train() every epoch; a pre-hook keeps these layers in eval mode.
    handles = [norm.register_forward_pre_hook(_stay_in_eval_mode) for norm in norms.values()]
    try:
        yield len(params)
    finally:
        for handle in handles:
            handle.remove()
        for param in params.values():
            param.requires_grad_(True)
