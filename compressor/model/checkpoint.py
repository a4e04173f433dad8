"""Model checkpoints that reload safely in a fresh process, pruned or not.

A checkpoint holds the model reference it was built from, its ``state_dict``, and the shape
attributes of every layer (``in_features``, ``out_channels``, ``groups``, ...). Loading builds
the architecture from the reference, resizes the layers a pruner shrank, and loads the weights
with ``torch.load(weights_only=True)``: only tensors and plain values, never a pickled class.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor.errors import CompressorError, UsageError, one_line

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry

FORMAT = "compressor.model"
FORMAT_VERSION = 1

# Attributes that describe a layer's size; pruning changes them, so they are saved and restored.
_SHAPE_ATTRS = (
    "in_features",
    "out_features",
    "in_channels",
    "out_channels",
    "groups",
    "num_features",
    "normalized_shape",
    "embed_dim",
    "num_heads",
    "hidden_size",
)


def _structure(model: nn.Module) -> dict[str, dict[str, Any]]:
    structure: dict[str, dict[str, Any]] = {}
    for path, module in model.named_modules():
        attrs = {}
        for attr in _SHAPE_ATTRS:
            value = getattr(module, attr, None)
            if isinstance(value, int | tuple) and not isinstance(value, bool):
                attrs[attr] = list(value) if isinstance(value, tuple) else value
        if attrs:
            structure[path] = attrs
    return structure


def save_model(model: nn.Module, spec: dict[str, Any], path: str | Path, **extra: Any) -> Path:
    """Save ``model`` (built from ``spec``) to ``path`` atomically.

    Args:
        model: The model, possibly pruned.
        spec: The model reference it was built from, ``{"name": ..., "options": ...}``.
        path: Destination, conventionally ``<artifact>.pt`` in the run folder.
        **extra: Plain values stored alongside (input shape, number of classes, ...).
    """
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "spec": spec,
        "structure": _structure(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _resize(
    model: nn.Module, structure: dict[str, dict[str, Any]], state: dict[str, torch.Tensor]
) -> None:
    modules = dict(model.named_modules())
    for path, attrs in structure.items():
        module = modules.get(path)
        if module is None:
            continue
        for attr, value in attrs.items():
            if hasattr(module, attr):
                setattr(module, attr, tuple(value) if isinstance(value, list) else value)
    # Replace every tensor whose saved shape differs; load_state_dict then fills the values.
    for key, tensor in state.items():
        owner_path, _, leaf = key.rpartition(".")
        owner = modules.get(owner_path)
        if owner is None:
            continue
        current = getattr(owner, leaf, None)
        if not isinstance(current, torch.Tensor) or current.shape == tensor.shape:
            continue
        if isinstance(current, nn.Parameter):
            setattr(
                owner,
                leaf,
                nn.Parameter(torch.empty_like(tensor), requires_grad=current.requires_grad),
            )
        else:
            owner.register_buffer(leaf, torch.empty_like(tensor))


def load_model(path: str | Path, registry: Registry) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_model`.

    Returns:
        The model in eval mode on the CPU, and the checkpoint's ``extra`` values (which include
        ``input_shape`` and ``num_classes`` when the pipeline saved it) plus its ``spec``.

    Raises:
        UsageError: The file is missing, truncated, or not a compressor checkpoint.
    """
    from compressor.schemas import ModelRef

    try:
        with warnings.catch_warnings():
            # torch warns about pickle details of files it then refuses; the error says enough.
            warnings.simplefilter("ignore")
            payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such checkpoint") from None
    except pickle.UnpicklingError:
        # torch's message advises weights_only=False, i.e. running the file's code: never here.
        raise UsageError(
            f"{path}: not a loadable checkpoint (not written by torch.save, or it holds Python "
            "objects other than tensors and plain values, which compressor never unpickles)"
        ) from None
    # torch.load raises whatever its unpickler or zip reader met: any of it means the same.
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"{path}: not a loadable checkpoint ({one_line(exc, 200)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UsageError(f"{path}: not a compressor model checkpoint")
    try:
        extra = payload.get("extra", {})
        ref = ModelRef.model_validate(payload["spec"])
        record = registry.get("model", ref.name)
        ref._parsed = record.options.model_validate(ref.options)
        model = record.build(
            ref.parsed,
            input_shape=tuple(extra["input_shape"]),
            num_classes=int(extra["num_classes"]),
        )
        _resize(model, payload["structure"], payload["state_dict"])
        model.load_state_dict(payload["state_dict"])
    except CompressorError:
        raise
    # A missing key, a wrong type, weights that do not fit the model: a damaged file.
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"{path}: damaged compressor checkpoint ({one_line(exc, 200)})") from None
    return model.eval(), {**extra, "spec": payload["spec"]}
