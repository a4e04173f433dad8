"""The ``normalized_l1`` criterion: L1 channel norms, each layer normalized by its own mean.

A channel group spans several layers (a conv's output channels, the batch norm after it, the
next layer's input channels). Plain group magnitude adds their norms as they are, so the layer
with the largest weights decides alone. Dividing each layer's norms by that layer's mean first
gives every layer of the group an equal say; the group's scores are then divided by their
mean, so groups of different layers are comparable under global pruning too.
"""

from __future__ import annotations

from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.pruner import function

_OUT = (function.prune_conv_out_channels, function.prune_linear_out_channels)
_IN = (function.prune_conv_in_channels, function.prune_linear_in_channels)
#: Layers with no weights of their own (activations, pooling, flatten) do not vote.
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm)


class NormalizedL1Importance(tp.importance.Importance):
    """Scores a channel group: the sum over its layers of per-layer-normalized L1 norms.

    Args:
        bias: Add the absolute bias of an output channel to its norm.
    """

    def __init__(self, bias: bool = False) -> None:
        self.bias = bias

    def _layer_norms(self, layer: nn.Module, pruning_fn: Any) -> torch.Tensor | None:
        """L1 norm of every channel of ``layer`` along the pruned dimension."""
        weight = layer.weight.detach()
        if pruning_fn in _OUT:
            if getattr(layer, "transposed", False):
                weight = weight.transpose(0, 1)
            norms = weight.flatten(1).abs().sum(1)
            if self.bias and getattr(layer, "bias", None) is not None:
                norms = norms + layer.bias.detach().abs()
            return norms
        if pruning_fn in _IN:
            if not getattr(layer, "transposed", False):
                weight = weight.transpose(0, 1)
            norms = weight.flatten(1).abs().sum(1)
            groups = getattr(layer, "groups", 1)
            if groups > 1 and groups != getattr(layer, "in_channels", groups):
                norms = norms.repeat(groups)  # grouped conv: the weight holds one block per group
            return norms
        if pruning_fn == function.prune_batchnorm_out_channels and layer.affine:
            return weight.abs()
        return None

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor | None:
        channels = len(group[0].idxs)
        scores = torch.zeros(channels)
        voters = 0
        for item in group:
            layer, pruning_fn = item.dep.layer, item.dep.pruning_fn
            if not isinstance(layer, _WEIGHTED) or any(r is None for r in item.root_idxs):
                continue
            norms = self._layer_norms(layer, pruning_fn)
            if norms is None:
                continue
            normalized = norms / norms.mean().clamp_min(1e-12)
            scores.scatter_add_(
                0, torch.as_tensor(item.root_idxs), normalized[item.idxs].float().cpu()
            )
            voters += 1
        if voters == 0:
            return None  # torch-pruning skips groups without weights
        return scores / scores.mean().clamp_min(1e-12)


class NormalizedL1Criterion:
    """The pruning method compressor builds from ``pruner: {name: normalized_l1}``.

    Args:
        options: The validated ``NormalizedL1Options``.
    """

    #: Scores come from the weights alone; no gradients are needed.
    needs_gradients = False

    def __init__(self, options: Any) -> None:
        self.options = options

    def importance(self) -> tp.importance.Importance:
        """The torch-pruning criterion."""
        return NormalizedL1Importance(bias=self.options.bias)
