"""Named pretrained weights of torchvision's builders (``weights: DEFAULT`` on a model entry).

The tensors come from torch's hub cache (``$TORCH_HOME/hub/checkpoints``), where torchvision
itself keeps them; nothing is downloaded unless the model entry says ``download: true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor.errors import UsageError, format_choices
from compressor.model.pretrained import PretrainedWeights, fetch_hub_file

if TYPE_CHECKING:
    from compressor_models import TorchvisionOptions


def torchvision_preprocessing(weights: Any) -> dict[str, Any]:
    """What ``weights.transforms()`` does to an image, as plain data.

    Returns:
        ``input_size`` ``[3, crop, crop]``, ``resize_size``, ``crop_pct``, ``interpolation``,
        ``mean`` and ``std``; empty when the transform is not an image classification one.
    """
    transform = weights.transforms()
    crop = getattr(transform, "crop_size", None)
    resize = getattr(transform, "resize_size", None)
    if not crop or not resize:
        return {}
    interpolation = getattr(transform, "interpolation", None)
    return {
        "input_size": [3, int(crop[0]), int(crop[0])],
        "resize_size": int(resize[0]),
        "crop_pct": round(int(crop[0]) / int(resize[0]), 4),
        "interpolation": getattr(interpolation, "value", str(interpolation)),
        "mean": [float(v) for v in transform.mean],
        "std": [float(v) for v in transform.std],
    }


def torchvision_weights(options: TorchvisionOptions, name: str) -> PretrainedWeights:
    """The registered ``pretrained`` of the ``torchvision`` model: ``DEFAULT``, ``IMAGENET1K_V1``...

    Raises:
        UsageError: The architecture has no pretrained weights, or none of that name (the
            message lists the valid names).
    """
    import torchvision.models

    arch = options.arch.strip().lower()
    try:
        enum = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        raise UsageError(f"torchvision {arch} has no pretrained weights") from None
    names = ["DEFAULT", *(w.name for w in enum)]
    wanted = name.strip().upper()
    if wanted not in names:
        raise UsageError(
            f"torchvision {arch} has no weights {name!r}; {format_choices(name, names)}, "
            "or the path of a state_dict file"
        )
    weights = enum.DEFAULT if wanted == "DEFAULT" else enum[wanted]
    what = f"torchvision {arch} {weights.name}"
    return PretrainedWeights(
        name=weights.name,
        label=what,
        num_classes=len(weights.meta.get("categories") or []) or None,
        preprocessing=torchvision_preprocessing(weights),
        fetch=lambda download: fetch_hub_file(weights.url, what, download),
    )
