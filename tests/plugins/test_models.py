"""Built-in models: shapes, sizes, trainability, torchvision and import builders, clear errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from compressor.errors import UsageError
from compressor.schemas import ModelRef

#: A user module, importable from a temporary folder during the tests that need it.
TINY_MODULE = "compressor_test_tiny_models"
TINY_SOURCE = """
    import math
    from torch import nn

    class TinyNet(nn.Module):
        def __init__(self, num_classes, input_shape, width=8):
            super().__init__()
            self.received = {"num_classes": num_classes, "input_shape": input_shape}
            self.net = nn.Sequential(
                nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
                nn.Linear(width, num_classes),
            )

        def forward(self, x):
            return self.net(x)

    def thousand_classes():
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(1000))

    def not_a_module(num_classes):
        return "hello"

    NOT_CALLABLE = 3
"""


@pytest.fixture
def tiny_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make ``compressor_test_tiny_models`` importable; return its name."""
    (tmp_path / f"{TINY_MODULE}.py").write_text(textwrap.dedent(TINY_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield TINY_MODULE
    sys.modules.pop(TINY_MODULE, None)


def _build(
    registry, name: str, input_shape: tuple[int, ...], num_classes: int = 10, **options: Any
):
    record = registry.get("model", name)
    return record.build(
        record.options.model_validate(options), input_shape=input_shape, num_classes=num_classes
    )


def _build_ref(registry, ref: Any, input_shape: tuple[int, ...], num_classes: int = 10):
    """Build from a recipe-style model reference, shorthands included."""
    model_ref = ModelRef.model_validate(ref)
    record = registry.get("model", model_ref.name)
    options = record.options.model_validate(model_ref.options)
    return record.build(options, input_shape=input_shape, num_classes=num_classes)


MODELS: list[tuple[str, dict[str, Any]]] = [
    ("seed_cnn", {}),
    ("seed_cnn", {"channels": [4], "hidden": 8, "dropout": 0.0}),
    ("seed_cnn", {"channels": [4, 8, 8, 8]}),
    ("seed_mlp", {}),
    ("seed_mlp", {"hidden": []}),
    ("seed_mlp", {"hidden": [16, 8], "dropout": 0.5}),
    ("torchvision", {"arch": "resnet18"}),
    ("torchvision", {"arch": "mobilenet_v3_small"}),
]


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 28, 28)])
@pytest.mark.parametrize(("name", "options"), MODELS)
def test_models_produce_logits(registry, name: str, options: dict[str, Any], input_shape) -> None:
    model = _build(registry, name, input_shape, num_classes=7, **options)
    assert isinstance(model, nn.Module)
    assert model.training, "a freshly built model is in training mode"
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(3, *input_shape))
    assert logits.shape == (3, 7)
    assert torch.isfinite(logits).all()


def test_seed_mlp_default_is_the_784_128_10_mlp(registry) -> None:
    model = _build(registry, "seed_mlp", (1, 28, 28))
    assert sum(p.numel() for p in model.parameters()) == 784 * 128 + 128 + 128 * 10 + 10
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 10


def test_seed_mlp_without_hidden_layers_is_logistic_regression(registry) -> None:
    model = _build(registry, "seed_mlp", (1, 8, 8), hidden=[])
    assert [type(m) for m in model.modules() if list(m.parameters(recurse=False))] == [nn.Linear]
    assert sum(p.numel() for p in model.parameters()) == 64 * 10 + 10


def test_seed_cnn_layout_and_module_paths(registry) -> None:
    model = _build(registry, "seed_cnn", (1, 8, 8))
    modules = dict(model.named_modules())
    # Readable paths that recipes can name, e.g. to exclude a layer from pruning.
    hidden, output = modules["classifier.1"], modules["classifier.4"]
    assert isinstance(hidden, nn.Linear) and hidden.out_features == 128
    assert isinstance(output, nn.Linear) and output.out_features == 10
    assert isinstance(modules["features.0"], nn.Conv2d)
    assert [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)] == [32, 64]
    # 8x8 pools twice (8 -> 4 -> 2); 28x28 also twice (28 -> 14 -> 7).
    assert modules["classifier.1"].in_features == 64 * 2 * 2
    mnist = _build(registry, "seed_cnn", (1, 28, 28))
    assert mnist.classifier[1].in_features == 64 * 7 * 7
    # Deep stacks stop pooling before the map would vanish.
    deep = _build(registry, "seed_cnn", (1, 8, 8), channels=[4, 4, 4, 4])
    assert sum(isinstance(m, nn.MaxPool2d) for m in deep.features) == 2


def test_seed_cnn_learns_a_fixed_batch(registry) -> None:
    torch.manual_seed(0)
    model = _build(registry, "seed_cnn", (1, 8, 8), channels=[8, 16], hidden=32)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channels": []}, "at least 1"),
        ({"channels": [0]}, "greater than or equal to 1"),
        ({"dropout": 1.0}, "less than 1"),
        ({"hidden": 0}, "greater than or equal to 1"),
        ({"width": 3}, "Extra inputs"),
    ],
)
def test_seed_cnn_option_validation(registry, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        registry.get("model", "seed_cnn").options.model_validate(options)


def test_seed_mlp_option_validation(registry) -> None:
    schema = registry.get("model", "seed_mlp").options
    with pytest.raises(ValidationError):
        schema.model_validate({"hidden": [0]})
    with pytest.raises(ValidationError):
        schema.model_validate({"dropout": -0.1})


def test_seed_cnn_needs_image_inputs(registry) -> None:
    with pytest.raises(UsageError, match=r"\(C, H, W\)"):
        _build(registry, "seed_cnn", (64,))


def test_torchvision_resnet18_on_rgb(registry) -> None:
    model = _build(registry, "torchvision", (3, 32, 32), arch="resnet18")
    assert model.fc.out_features == 10 and model.conv1.in_channels == 3
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_torchvision_stem_follows_the_data_channels(registry) -> None:
    model = _build(registry, "torchvision", (1, 28, 28), arch="resnet18")
    assert model.conv1.in_channels == 1 and model.conv1.out_channels == 64


def test_torchvision_shorthand_and_kwargs(registry) -> None:
    model = _build_ref(registry, "torchvision.mobilenet_v3_small", (3, 32, 32), num_classes=4)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    wide = _build_ref(
        registry,
        {"name": "torchvision.mobilenet_v2", "options": {"kwargs": {"width_mult": 0.5}}},
        (3, 32, 32),
    )
    assert wide.features[0][0].out_channels == 16


def test_unknown_torchvision_arch_suggests_the_closest(registry) -> None:
    with pytest.raises(UsageError, match="did you mean 'resnet18'") as caught:
        _build(registry, "torchvision", (3, 32, 32), arch="resnet181")
    assert "\n" not in str(caught.value)


def test_torchvision_kwargs_never_download_weights(registry) -> None:
    # Weights go through the model entry's weights: field, which is offline unless told.
    record = registry.get("model", "torchvision")
    with pytest.raises(ValidationError, match="set weights: on the model instead"):
        record.options.model_validate({"arch": "resnet18", "kwargs": {"weights": "DEFAULT"}})
    with pytest.raises(ValidationError, match="num_classes"):
        record.options.model_validate({"arch": "resnet18", "kwargs": {"num_classes": 3}})
    # Even options that skipped validation cannot fetch weights.
    unchecked = record.options.model_construct(arch="resnet18", kwargs={"weights": "DEFAULT"})
    with pytest.raises(UsageError, match="set weights: on the model instead"):
        record.build(unchecked, input_shape=(3, 32, 32), num_classes=10)


def test_torchvision_inputs_it_cannot_take_are_a_usage_error(registry) -> None:
    # SqueezeNet's pooling shrinks an 8x8 input to nothing.
    with pytest.raises(UsageError, match=r"squeezenet1_1 cannot take inputs of shape \(1, 8, 8\)"):
        _build(registry, "torchvision", (1, 8, 8), arch="squeezenet1_1")
    with pytest.raises(UsageError, match="cannot build"):
        _build(registry, "torchvision", (3, 32, 32), arch="resnet18", kwargs={"depth": 3})


def test_import_passes_num_classes_and_input_shape(registry, tiny_module: str) -> None:
    model = _build(registry, "import", (1, 8, 8), num_classes=5, target=f"{tiny_module}:TinyNet")
    assert model.received == {"num_classes": 5, "input_shape": (1, 8, 8)}
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 5)


def test_import_shorthand_passes_options_as_kwargs(registry, tiny_module: str) -> None:
    ref = {"name": f"{tiny_module}:TinyNet", "options": {"width": 3}}
    model = _build_ref(registry, ref, (1, 28, 28), num_classes=10)
    assert model.net[1].out_features == 3
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_import_keeps_explicit_kwargs(registry, tiny_module: str) -> None:
    # An explicit kwarg wins over the value compressor would pass; the shape check then notices.
    with pytest.raises(UsageError, match=r"logits shaped \(batch, 10\)"):
        _build(
            registry,
            "import",
            (1, 8, 8),
            target=f"{tiny_module}:TinyNet",
            kwargs={"num_classes": 4},
        )


def test_import_of_a_torch_class(registry) -> None:
    model = _build(
        registry,
        "import",
        (64,),
        target="torch.nn:Linear",
        kwargs={"in_features": 64, "out_features": 10},
    )
    assert isinstance(model, nn.Linear)


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        ("compressor_no_such_module:Net", {}, "cannot be imported"),
        ("{module}:Missing", {}, "cannot be imported"),
        ("{module}:NOT_CALLABLE", {}, "not a class or function"),
        ("{module}:not_a_module", {}, "returned a str, not a torch.nn.Module"),
        ("{module}:TinyNet", {"depth": 2}, "unexpected keyword argument 'depth'"),
        ("{module}:thousand_classes", {}, r"\(batch, 10\).*got \(2, 1000\)"),
    ],
)
def test_import_errors_name_the_target(
    registry, tiny_module: str, target: str, kwargs: dict[str, Any], message: str
) -> None:
    target = target.format(module=tiny_module)
    with pytest.raises(UsageError, match=message) as caught:
        _build(registry, "import", (1, 8, 8), target=target, kwargs=kwargs)
    assert repr(target) in str(caught.value)


def test_import_target_must_look_like_module_colon_attr(registry) -> None:
    with pytest.raises(ValidationError):
        registry.get("model", "import").options.model_validate({"target": "torch.nn.Linear"})
