"""Models from elsewhere: ``torchvision`` classification builders and ``import`` of your own.

Both are checked with one forward pass on zeros shaped like the data when they are built, so a
model that cannot take the dataset's inputs, or that does not return ``(batch, num_classes)``
logits, is a one-line error at the start of a stage rather than a shape error deep in training.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from compressor.errors import UsageError, format_choices
from compressor.records import resolve_factory
from compressor_models import WEIGHT_KEYS

if TYPE_CHECKING:
    from compressor_models import ImportOptions, TorchvisionOptions

#: Builder defaults that would make the model return several outputs in training mode.
LOGITS_ONLY_DEFAULTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False},
    "inception_v3": {"aux_logits": False},
}
#: Batch size of the shape check; 2 rather than 1 so nothing special-cases a single sample.
CHECK_BATCH = 2


def build_torchvision(
    options: TorchvisionOptions, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """Build a torchvision classification model with random weights (the registered factory).

    Pretrained weights are loaded afterwards, from the model entry's ``weights:`` field
    (:mod:`compressor.model.building`).

    The first convolution is adapted to the data's channel count, so ``torchvision.resnet18``
    runs on one-channel digits as well as on RGB images.

    Raises:
        UsageError: Unknown architecture (the message names the closest ones), weights asked
            for in ``kwargs``, builder arguments it does not take, or inputs it cannot process.
    """
    import torchvision.models

    arch = options.arch.strip().lower()
    # Detection, segmentation and video builders do not return class logits.
    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        raise UsageError(
            f"unknown torchvision classification model {options.arch!r}; "
            f"{format_choices(arch, names)}"
        )
    found = [k for k in WEIGHT_KEYS if k in options.kwargs]
    if found:
        # The schema rejects these too; this guards callers that skip validation.
        raise UsageError(
            f"torchvision {arch}: {', '.join(found)} in kwargs would make the builder download "
            "weights; set weights: on the model instead"
        )
    kwargs = {**LOGITS_ONLY_DEFAULTS.get(arch, {}), **options.kwargs}
    what = f"torchvision {arch}"
    try:
        model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what}: cannot build with kwargs {options.kwargs!r} ({exc})") from exc
    if len(input_shape) == 3:
        fit_input_channels(model, input_shape[0])
    check_logits(model, input_shape, num_classes, what)
    return model


def fit_input_channels(model: nn.Module, channels: int) -> None:
    """Make the model's first convolution take ``channels`` input channels, in place.

    torchvision's builders assume RGB; grey datasets such as digits and MNIST have one channel.
    The replacement keeps the stem's configuration and, where it can, the builder's own random
    initialization (the first ``channels`` input slices of its weight).
    """
    for name, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if module.in_channels == channels or module.groups != 1:
            return
        # A Conv2d's kernel attributes are pairs; torch types them as tuple[int, ...].
        stem = nn.Conv2d(
            channels,
            module.out_channels,
            kernel_size=cast("tuple[int, int]", module.kernel_size),
            stride=cast("tuple[int, int]", module.stride),
            padding=cast("str | tuple[int, int]", module.padding),
            dilation=cast("tuple[int, int]", module.dilation),
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
        )
        with torch.no_grad():
            if channels <= module.in_channels:
                stem.weight.copy_(module.weight[:, :channels])
            if module.bias is not None and stem.bias is not None:
                stem.bias.copy_(module.bias)
        parent_name, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent_name), leaf, stem)
        return


def build_import(
    options: ImportOptions, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """Import ``options.target`` and call it with ``options.kwargs`` (the registered factory).

    ``num_classes`` and ``input_shape`` are passed too when the callable has parameters of those
    names and ``kwargs`` does not set them, so a model class can size itself from the data.

    Raises:
        UsageError: The target cannot be imported, does not accept the kwargs, does not return
            an ``nn.Module``, or the module cannot process the dataset's inputs.
    """
    what = f"model target {options.target!r}"
    try:
        target = resolve_factory(options.target)
    except Exception as exc:
        raise UsageError(f"{what} cannot be imported ({type(exc).__name__}: {exc})") from exc
    if not callable(target):
        raise UsageError(f"{what} is a {type(target).__name__}, not a class or function")

    kwargs = dict(options.kwargs)
    signature = _signature(target)
    if signature is not None:
        for name, value in (("num_classes", num_classes), ("input_shape", tuple(input_shape))):
            if name not in kwargs and _takes_keyword(signature, name):
                kwargs[name] = value
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            raise UsageError(f"{what}: {exc} (kwargs given: {sorted(options.kwargs)})") from None

    model = target(**kwargs)
    if not isinstance(model, nn.Module):
        raise UsageError(f"{what} returned a {type(model).__name__}, not a torch.nn.Module")
    check_logits(model, input_shape, num_classes, what)
    return model


def check_logits(
    model: nn.Module, input_shape: tuple[int, ...], num_classes: int, what: str
) -> None:
    """Run zeros shaped like the data through ``model`` and check it returns class logits.

    The pass runs in eval mode without gradients, so batch-norm statistics stay untouched, and
    the model's training mode is restored afterwards.

    Raises:
        UsageError: The forward pass fails, or its output is not ``(batch, num_classes)``.
    """
    shape = tuple(input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(CHECK_BATCH, *shape))
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise UsageError(
            f"{what} cannot take inputs of shape {shape} ({type(exc).__name__}: {reason})"
        ) from exc
    finally:
        model.train(was_training)
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if got != (CHECK_BATCH, num_classes):
        raise UsageError(
            f"{what} must return logits shaped (batch, {num_classes}) for inputs of shape "
            f"{shape}, got {got}"
        )


def _signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        # Some builtins have no introspectable signature; call them with the kwargs as given.
        return None


def _takes_keyword(signature: inspect.Signature, name: str) -> bool:
    parameter = signature.parameters.get(name)
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
