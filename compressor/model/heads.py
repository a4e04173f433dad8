"""A model's classifier: where it is, and whether pretrained weights were made for another one.

A network pretrained on ImageNet ends in a 1000-way classifier; the recipe's data has its own
classes. The model is always built for the data's classes, so ``head: replace`` only has to
leave the weights' classifier out when loading: the builder's freshly initialized one stays,
on the pretrained backbone. Without it, a class-count mismatch is an error naming both counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from compressor.errors import UsageError

#: Module paths builders give their classifier (torchvision, timm, common scripts), tried first.
CLASSIFIER_PATHS = ("fc", "classifier", "head", "head.fc", "heads.head", "last_linear")


def _outputs(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Conv2d):
        return module.out_channels
    return None


def _last_layer(module: nn.Module, num_classes: int) -> str | None:
    """Path (relative to ``module``) of its last Linear or Conv2d with ``num_classes`` outputs."""
    found = None
    for name, sub in module.named_modules():
        if _outputs(sub) == num_classes:
            found = name
    return found


def find_classifier(model: nn.Module, num_classes: int) -> str:
    """Path of the layer that produces ``model``'s ``num_classes`` logits.

    The usual names come first (``fc`` of a ResNet, ``classifier`` of a MobileNet, whose last
    layer inside is taken); otherwise the last Linear or Conv2d with ``num_classes`` outputs.

    Raises:
        UsageError: No such layer; the message lists what was tried.
    """
    modules = dict(model.named_modules())
    for path in CLASSIFIER_PATHS:
        if path in modules:
            inner = _last_layer(modules[path], num_classes)
            if inner is not None:
                return f"{path}.{inner}" if inner else path
    found = _last_layer(model, num_classes)
    if found:
        return found
    raise UsageError(
        f"no classifier found in {type(model).__name__}: tried the module paths "
        f"{', '.join(CLASSIFIER_PATHS)} and the last Linear or Conv2d with {num_classes} outputs"
    )


def weights_classes(state: Mapping[str, object], path: str) -> int | None:
    """The number of classes the weights' classifier at ``path`` predicts, if it is there."""
    weight = state.get(f"{path}.weight")
    shape = getattr(weight, "shape", None)
    return int(shape[0]) if shape else None


def check_head(
    state: Mapping[str, object], path: str, num_classes: int, source: str, replace: bool
) -> int | None:
    """Whether the weights' classifier fits the data; with ``replace`` it need not.

    Args:
        state: The weights, prefixes already stripped.
        path: The model's classifier (:func:`find_classifier`).
        num_classes: The data's classes.
        source: The weights file or name, for the message.
        replace: ``head: replace`` was given.

    Returns:
        The weights' class count (``None`` when they have no tensor at ``path``).

    Raises:
        UsageError: The counts differ and ``replace`` is false; names both counts.
    """
    given = weights_classes(state, path)
    if given is not None and given != num_classes and not replace:
        raise UsageError(
            f"{source}: the weights' classifier {path} predicts {given} classes, the data has "
            f"{num_classes}; add head: replace to train a new classifier on the pretrained "
            "backbone"
        )
    return given
