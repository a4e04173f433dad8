"""timm models (``timm.NAME``): optional, built for the data, named weights from the local cache."""

from __future__ import annotations

import sys

import pytest
import torch

from compressor.errors import RecipeError, UsageError
from compressor.model.building import build_model, pretrained_preprocessing
from compressor.recipe.resolve import resolve_refs
from compressor.schemas import ModelRef


def _ref(registry, entry) -> ModelRef:
    ref = ModelRef.model_validate(entry)
    resolve_refs(ref, registry, "stages.s.model")
    return ref


def _build(registry, entry, input_shape=(3, 32, 32)):
    return build_model(
        _ref(registry, entry),
        registry,
        input_shape=input_shape,
        num_classes=10,
        field="stages.s.model",
    )


def test_without_timm_the_error_says_what_to_install(registry, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ModuleNotFoundError
    with pytest.raises(
        UsageError, match=r"timm.resnet18 needs the timm package: pip install compressor\[timm\]"
    ):
        _build(registry, "timm.resnet18")


def test_a_timm_model_is_built_for_the_data(registry) -> None:
    pytest.importorskip("timm")
    model = _build(registry, "timm.resnet18", input_shape=(1, 16, 16)).model
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)
    with pytest.raises(UsageError, match="unknown timm model 'resnet181'"):
        _build(registry, "timm.resnet181")


def _hub_cache(tmp_path, monkeypatch, repo: str, state: dict) -> None:
    """A Hugging Face cache holding ``repo``'s model.safetensors, as a download leaves it."""
    from huggingface_hub import constants
    from safetensors.torch import save_file

    cache = tmp_path / "hf"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    snapshot = folder / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))


def test_named_timm_weights_load_offline_with_their_preprocessing(
    registry, tmp_path, monkeypatch
) -> None:
    timm = pytest.importorskip("timm")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    entry = {"name": "timm.resnet18", "weights": "DEFAULT", "head": "replace"}
    with pytest.raises(
        RecipeError,
        match=r"timm resnet18.a1_in1k: not in the local cache; .*timm/resnet18.a1_in1k .*or pass weights: PATH",
    ) as caught:
        _build(registry, entry)
    assert "\n" not in str(caught.value)

    pretrained = timm.create_model("resnet18", pretrained=False)
    _hub_cache(tmp_path, monkeypatch, "timm/resnet18.a1_in1k", pretrained.state_dict())
    built = _build(registry, entry)
    assert torch.equal(built.model.layer2[0].conv1.weight, pretrained.layer2[0].conv1.weight)
    assert built.weights is not None and built.weights.head["weights_classes"] == 1000
    expected = {
        "input_size": [3, 224, 224],
        "resize_size": 235,
        "crop_pct": 0.95,
        "interpolation": "bicubic",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    assert built.preprocessing == expected
    assert pretrained_preprocessing(_ref(registry, entry), registry) == expected
    with pytest.raises(RecipeError, match=r"timm resnet18 has no weights 'b9_in1k'; .*a1_in1k"):
        _build(registry, {**entry, "weights": "b9_in1k"})
