"""torchvision's detectors, built to follow the detector protocol of :mod:`compressor_detection.task`.

``build_torchvision_detector(arch, num_classes, input_shape, kwargs)`` calls the torchvision
builder (never with weights: they come from the recipe's ``weights:`` file, whose keys match
torchvision's own, since the model stays the torchvision class), then:

- converts any ``FrozenBatchNorm2d`` to ``BatchNorm2d`` (torch-pruning's dependency graph does
  not see the frozen kind, and a recipe may train it);
- bypasses torchvision's transform: no resize (the input already has the run's fixed size),
  no normalization (the data is normalized), no padding;
- makes the first convolution take the data's channel count;
- swaps the instance's class for a subclass that adds the protocol
  (:mod:`~compressor_detection.models.torchvision_protocol`): ``forward(x)`` returns the head
  outputs over every anchor as one tensor, ``boxes_and_scores``, ``loss`` (torchvision's own
  losses), ``output_layers``; the anchors, fixed by the input size, are computed once here.

Class indices: RetinaNet and FCOS get ``num_classes`` sigmoid classes, the data's indices as
they are; SSD and Faster R-CNN get ``num_classes + 1`` softmax classes, background first, the
data's index ``i`` being their class ``i + 1``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compressor.errors import UsageError
from compressor_detection.models.backbones import first_conv_takes
from compressor_detection.models.torchvision_protocol import (
    FasterRCNNDetector,
    FCOSDetector,
    RetinaNetDetector,
    SSDDetector,
    prepare,
)

#: Supported builders and the protocol class each gets.
FAMILIES: dict[str, type[nn.Module]] = {
    "retinanet_resnet50_fpn": RetinaNetDetector,
    "retinanet_resnet50_fpn_v2": RetinaNetDetector,
    "fcos_resnet50_fpn": FCOSDetector,
    "ssd300_vgg16": SSDDetector,
    "ssdlite320_mobilenet_v3_large": SSDDetector,
    "fasterrcnn_mobilenet_v3_large_fpn": FasterRCNNDetector,
    "fasterrcnn_mobilenet_v3_large_320_fpn": FasterRCNNDetector,
    "fasterrcnn_resnet50_fpn": FasterRCNNDetector,
    "fasterrcnn_resnet50_fpn_v2": FasterRCNNDetector,
}
#: The ``arch`` names ``build_torchvision_detector`` accepts.
SUPPORTED_ARCHS: tuple[str, ...] = tuple(FAMILIES)


def unfreeze_batchnorm(model: nn.Module) -> int:
    """Replace every ``FrozenBatchNorm2d`` of ``model`` by an equal ``BatchNorm2d``; how many."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    replaced = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, FrozenBatchNorm2d):
            continue
        normal = nn.BatchNorm2d(module.weight.shape[0], eps=module.eps)
        with torch.no_grad():
            normal.weight.copy_(module.weight)
            normal.bias.copy_(module.bias)
            normal.running_mean.copy_(module.running_mean)  # type: ignore[union-attr]
            normal.running_var.copy_(module.running_var)  # type: ignore[union-attr]
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, normal)
        replaced += 1
    return replaced


def build_torchvision_detector(
    arch: str,
    num_classes: int,
    input_shape: tuple[int, ...],
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """A torchvision detector following the detector protocol (see the module docstring).

    Args:
        arch: One of :data:`SUPPORTED_ARCHS`.
        num_classes: The data's classes (no background).
        input_shape: ``(C, H, W)`` of one input.
        kwargs: More builder arguments (not ``weights``, ``weights_backbone``,
            ``num_classes``).

    Raises:
        UsageError: An unknown ``arch`` (lists the supported ones), or arguments the builder
            refuses.
    """
    import torchvision

    family = FAMILIES.get(arch)
    if family is None:
        raise UsageError(
            f"torchvision detector {arch!r} is not supported; choose one of "
            f"{', '.join(SUPPORTED_ARCHS)}"
        )
    background = 1 if family in (SSDDetector, FasterRCNNDetector) else 0
    builder = getattr(torchvision.models.detection, arch)
    try:
        model = builder(
            weights=None,
            weights_backbone=None,
            num_classes=num_classes + background,
            **(kwargs or {}),
        )
    except (TypeError, ValueError) as error:
        raise UsageError(f"torchvision.models.detection.{arch}: {error}") from None
    unfreeze_batchnorm(model)
    first_conv_takes(model.backbone, input_shape[0])
    model.__class__ = family
    prepare(model, num_classes, tuple(input_shape))
    return model


def build_from_options(
    options: Any, *, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """The ``torchvision_detector`` model plugin's factory (options ``arch``, ``kwargs``)."""
    return build_torchvision_detector(options.arch, num_classes, input_shape, options.kwargs)
