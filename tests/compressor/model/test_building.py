"""A model entry, built: width, weights from files and names, heads for other class counts."""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torchvision
from pydantic import ValidationError
from torch import nn

from compressor.errors import RecipeError
from compressor.model.building import build_model, pretrained_preprocessing
from compressor.model.pruning import measure
from compressor.recipe.resolve import resolve_refs
from compressor.schemas import ModelRef


def _ref(registry, entry) -> ModelRef:
    ref = ModelRef.model_validate(entry)
    resolve_refs(ref, registry, "stages.s.model")
    return ref


def _build(registry, entry, input_shape=(3, 32, 32), num_classes=10):
    return build_model(
        _ref(registry, entry),
        registry,
        input_shape=input_shape,
        num_classes=num_classes,
        field="stages.s.model",
    )


def test_half_width_resnet18_has_a_quarter_of_the_parameters_and_macs(registry) -> None:
    full = _build(registry, "torchvision.resnet18").model
    half = _build(registry, {"name": "torchvision.resnet18", "width": 0.5}).model
    x = torch.zeros(1, 3, 32, 32)
    (full_macs, full_params), (half_macs, half_params) = measure(full, x), measure(half, x)
    assert 3.5 < full_params / half_params < 4.2
    assert 3.5 < full_macs / half_macs < 4.2
    assert half.conv1.out_channels == 32 and half.layer4[1].conv2.out_channels == 256
    assert half.fc.out_features == 10  # the classifier keeps every class
    assert half(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("width", [0.0, -0.5, 1.5])
def test_width_outside_zero_one_is_refused(width) -> None:
    with pytest.raises(ValidationError, match="width"):
        ModelRef.model_validate({"name": "torchvision.resnet18", "width": width})


def test_weights_of_another_class_count_need_head_replace(registry, tmp_path) -> None:
    pretrained = torchvision.models.resnet18(num_classes=1000)
    torch.save({"state_dict": pretrained.state_dict()}, tmp_path / "r18.pt")
    entry = {"name": "torchvision.resnet18", "weights": str(tmp_path / "r18.pt")}
    with pytest.raises(
        RecipeError,
        match=r"stages.s.model.head: .*classifier fc predicts 1000 classes, the data has 10; add head: replace",
    ):
        _build(registry, entry)
    built = _build(registry, {**entry, "head": "replace"})
    model = built.model
    assert torch.equal(model.layer3[0].conv1.weight, pretrained.layer3[0].conv1.weight)
    assert model.fc.out_features == 10
    assert built.weights is not None
    assert built.weights.head == {"replaced": "fc", "weights_classes": 1000, "classes": 10}
    assert not built.weights.missing  # the new classifier is expected to be new


def test_head_replace_keeps_the_rest_of_a_sequential_classifier(registry, tmp_path) -> None:
    pretrained = torchvision.models.mobilenet_v3_small(num_classes=1000)
    torch.save(pretrained.state_dict(), tmp_path / "m.pt")
    entry = {"name": "torchvision.mobilenet_v3_small", "weights": str(tmp_path / "m.pt")}
    model = _build(registry, {**entry, "head": "replace"}, input_shape=(1, 32, 32)).model
    # Only the last Linear is new; the hidden one keeps its pretrained weights.
    assert torch.equal(model.classifier[0].weight, pretrained.classifier[0].weight)
    assert model.classifier[3].out_features == 10


def test_head_replace_without_a_classifier_says_what_was_tried(
    registry, tmp_path, monkeypatch
) -> None:
    class Pooled(nn.Module):
        """Logits straight from a pooled conv: no Linear, no layer with 10 outputs."""

        def __init__(self, num_classes: int, input_shape) -> None:
            super().__init__()
            self.conv = nn.Conv2d(input_shape[0], 5, 3)

        def forward(self, x):
            out = self.conv(x).mean(dim=(2, 3))
            return torch.cat([out, out], dim=1)

    module = types.ModuleType("compressor_test_pooled")
    module.Pooled = Pooled
    monkeypatch.setitem(sys.modules, "compressor_test_pooled", module)
    torch.save(Pooled(10, (3,)).state_dict(), tmp_path / "p.pt")
    entry = {
        "name": "compressor_test_pooled:Pooled",
        "weights": str(tmp_path / "p.pt"),
        "head": "replace",
    }
    with pytest.raises(
        RecipeError,
        match=r"stages.s.model.head: no classifier found in Pooled: tried the module paths fc, classifier, head",
    ):
        _build(registry, entry)


def test_named_torchvision_weights_come_from_the_local_hub_cache(
    registry, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    entry = {"name": "torchvision.mobilenet_v3_small", "weights": "DEFAULT", "head": "replace"}
    cached = tmp_path / "torch" / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[1]
    with pytest.raises(
        RecipeError,
        match=rf"not in the local cache; put {cached.name} .* at {cached}, set download: true .* or pass weights: PATH",
    ) as caught:
        _build(registry, entry)
    assert "\n" not in str(caught.value)
    cached.parent.mkdir(parents=True)
    pretrained = torchvision.models.mobilenet_v3_small(num_classes=1000)
    torch.save(pretrained.state_dict(), cached)
    built = _build(registry, entry)
    assert torch.equal(
        built.model.features[3].block[0][0].weight, pretrained.features[3].block[0][0].weight
    )
    assert built.preprocessing == {
        "input_size": [3, 224, 224],
        "resize_size": 256,
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    assert pretrained_preprocessing(_ref(registry, entry), registry) == built.preprocessing
    assert (
        built.weights is not None
        and built.weights.source == "torchvision mobilenet_v3_small IMAGENET1K_V1"
    )


def test_unknown_weights_names_list_the_valid_ones(registry) -> None:
    with pytest.raises(
        RecipeError, match=r"has no weights 'IMAGENET_V9'; .*valid choices: DEFAULT, IMAGENET1K_V1"
    ):
        _build(registry, {"name": "torchvision.resnet18", "weights": "IMAGENET_V9"})
    with pytest.raises(RecipeError, match="model 'seed_mlp' has no named weights"):
        _build(registry, {"name": "seed_mlp", "weights": "DEFAULT"})


def test_head_replace_needs_weights(registry) -> None:
    with pytest.raises(RecipeError, match="head: replace needs weights"):
        _build(registry, {"name": "torchvision.resnet18", "head": "replace"})
