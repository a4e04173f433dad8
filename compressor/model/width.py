"""Scaled copies of any architecture: the same network with a fraction of its channels.

Builders rarely take a width argument (torchvision's ResNet-18 only allows 64-wide basic
blocks), so ``width: 0.5`` is done the general way: the freshly built model is pruned
structurally over torch-pruning's dependency graph, every prunable layer keeping that fraction
of its channels and the classifier keeping all its outputs. Residual connections, grouped and
depthwise convolutions stay consistent because the graph prunes coupled channels together.
The channels removed are the ones with the smallest random initial weights, which carries no
meaning: the copy is trained (or given weights) afterwards.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from compressor.errors import UsageError
from compressor.model.pruning import PruneSettings, prune_model

#: Rows of the zeros the dependency graph is traced on.
TRACE_BATCH = 2


def scale_width(
    model: nn.Module,
    width: float,
    *,
    input_shape: tuple[int, ...],
    keep: list[nn.Module],
    round_to: int | None = None,
) -> nn.Module:
    """Keep ``width`` of the channels of every prunable layer of ``model``, in place.

    Args:
        model: A freshly built model (on the CPU).
        width: Fraction of channels kept, in ``(0, 1]``; 1 leaves the model as it is.
        input_shape: Shape of one input, for tracing.
        keep: Layers whose outputs must all stay (the classifier).
        round_to: Keep channel counts multiples of this.

    Returns:
        ``model``, narrowed.

    Raises:
        UsageError: ``width`` is outside ``(0, 1]``, or the model cannot be traced or has no
            prunable layer.
    """
    if not 0.0 < width <= 1.0:
        raise UsageError(f"width must be in (0, 1], got {width}")
    if width == 1.0:
        return model
    was_training = model.training
    model.eval()
    example = torch.zeros(TRACE_BATCH, *input_shape)
    # Not under no_grad: the dependency graph is traced through autograd's graph.
    prune_model(
        model,
        importance=tp.importance.MagnitudeImportance(p=2),
        example_inputs=example,
        ignored_layers=keep,
        settings=PruneSettings(ratio=1.0 - width, round_to=round_to),
    )
    model.train(was_training)
    return model
