"""timm models (``timm.NAME``), with the optional ``timm`` extra: ``pip install compressor[timm]``.

``timm.create_model`` builds the architecture for the data's classes and channels; named
weights (``weights: DEFAULT`` or a pretrained tag such as ``a1_in1k``) come from the Hugging
Face cache, where timm keeps them, and go through the same ``head:``/``strict:`` path as a
weights file. Each set of weights carries its preprocessing (input size, interpolation, crop,
mean and std), as :func:`compressor.model.building.pretrained_preprocessing` returns it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from compressor.errors import UsageError, format_choices
from compressor.model.pretrained import PretrainedWeights, StateDict, fetch_hub_file
from compressor_models.zoo import check_logits

if TYPE_CHECKING:
    from compressor_models import TimmOptions

#: Files a timm repository on the Hugging Face hub holds its weights in, preferred first.
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def _timm(arch: str) -> Any:
    try:
        import timm
    except ModuleNotFoundError:
        raise UsageError(
            f"timm.{arch} needs the timm package: pip install compressor[timm]"
        ) from None
    return timm


def _known(timm: Any, arch: str) -> str:
    name = arch.strip()
    names = timm.list_models()
    if name not in names:
        close = timm.list_models(f"*{name}*")[:20] or names
        raise UsageError(f"unknown timm model {arch!r}; {format_choices(name, close)}")
    return name


def build_timm(options: TimmOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build a timm model with random weights for the data (the registered factory).

    Raises:
        UsageError: timm is not installed, the architecture is unknown, it rejects the
            kwargs, or it cannot take the data's inputs.
    """
    timm = _timm(options.arch)
    arch = _known(timm, options.arch)
    extra: dict[str, Any] = {"in_chans": input_shape[0]} if len(input_shape) == 3 else {}
    what = f"timm {arch}"
    try:
        model = timm.create_model(
            arch, pretrained=False, num_classes=num_classes, **extra, **options.kwargs
        )
    except (TypeError, ValueError, AssertionError) as exc:
        raise UsageError(f"{what}: cannot build with kwargs {options.kwargs!r} ({exc})") from exc
    check_logits(model, input_shape, num_classes, what)
    return model


def timm_preprocessing(cfg: Any) -> dict[str, Any]:
    """A timm pretrained configuration's input preparation, as plain data."""
    size = [int(v) for v in cfg.input_size]
    crop_pct = float(cfg.crop_pct)
    return {
        "input_size": size,
        "resize_size": int(size[-1] / crop_pct) if crop_pct else size[-1],
        "crop_pct": crop_pct,
        "interpolation": str(cfg.interpolation),
        "mean": [float(v) for v in cfg.mean],
        "std": [float(v) for v in cfg.std],
    }


def _hub_cached(repo: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in HUB_FILES:
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def _fetch(cfg: Any, what: str, download: bool) -> StateDict:
    """The weights of ``cfg`` from the Hugging Face cache (or torch's, for URL-only weights)."""
    from compressor.model.weights import read_state_dict

    if not cfg.hf_hub_id:
        return fetch_hub_file(cfg.url, what, download)
    cached = _hub_cached(cfg.hf_hub_id)
    if cached is None and download:
        from huggingface_hub import hf_hub_download

        try:
            cached = Path(hf_hub_download(cfg.hf_hub_id, HUB_FILES[0]))
        except Exception as exc:  # noqa: BLE001 - offline, missing file, refused: one line
            raise UsageError(f"{what}: downloading {cfg.hf_hub_id} failed ({exc})") from None
    if cached is None:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise UsageError(
            f"{what}: not in the local cache; download the Hugging Face repository "
            f"{cfg.hf_hub_id} into {HF_HUB_CACHE} (hf download {cfg.hf_hub_id}), set "
            "download: true on the model to fetch it, or pass weights: PATH"
        )
    return read_state_dict(cached)


def timm_weights(options: TimmOptions, name: str) -> PretrainedWeights:
    """The registered ``pretrained`` of the ``timm`` model: ``DEFAULT`` or a pretrained tag.

    Raises:
        UsageError: timm is not installed, or the architecture has no weights of that name
            (the message lists its tags).
    """
    timm = _timm(options.arch)
    arch = _known(timm, options.arch)
    tags = [full.split(".", 1)[1] for full in timm.list_pretrained(f"{arch}.*")]
    if not tags:
        raise UsageError(f"timm {arch} has no pretrained weights")
    default = timm.models.get_pretrained_cfg(arch)
    wanted = (
        (default.tag if default is not None and default.tag in tags else tags[0])
        if name.strip().upper() == "DEFAULT"
        else name.strip()
    )
    if wanted not in tags:
        raise UsageError(
            f"timm {arch} has no weights {name!r}; {format_choices(name, ['DEFAULT', *tags])}, "
            "or the path of a state_dict file"
        )
    cfg = timm.models.get_pretrained_cfg(f"{arch}.{wanted}")
    what = f"timm {arch}.{wanted}"
    return PretrainedWeights(
        name=wanted,
        label=what,
        num_classes=int(cfg.num_classes) if cfg.num_classes else None,
        preprocessing=timm_preprocessing(cfg),
        fetch=lambda download: _fetch(cfg, what, download),
    )
