"""The keyword-spotting models: waveforms in, logits out; they train, prune, narrow and refuse
inputs that are not waveforms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch_pruning as tp
from compressor_audio import compressor_register_models
from compressor_audio.frontend import LogMel, SpecAugment
from compressor_audio.models.spotter import KeywordSpotter
from torch import nn

from compressor.errors import UsageError
from compressor.model.pruning import PruneSettings, prune_model
from compressor.model.width import scale_width
from compressor.records import ModelPlugin

pytestmark = pytest.mark.usefixtures("one_thread")

RATE, SAMPLES, CLASSES = 8000, 4000, 3
#: Small settings of each model: fast to build and to train a few steps.
SMALL: dict[str, dict[str, Any]] = {
    "ds_cnn": {"channels": 16},
    "bc_resnet": {"scale": 1.0},
    "spectrogram_backbone": {"arch": "shufflenet_v2_x0_5"},
}
#: Learning rates at which a few steps on one batch show the loss falling.
LEARNING_RATES = {"ds_cnn": 1e-2, "bc_resnet": 1e-2, "spectrogram_backbone": 3e-3}


def record(name: str) -> ModelPlugin:
    return next(r for r in compressor_register_models() if r.name == name)


def build(name: str, **options: Any) -> KeywordSpotter:
    plugin = record(name)
    parsed = plugin.options.model_validate({"sample_rate": RATE, **SMALL[name], **options})
    model = plugin.build(parsed, input_shape=(SAMPLES,), num_classes=CLASSES)
    assert isinstance(model, KeywordSpotter)
    return model


def tones(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c is a burst of 400 * (c + 1) Hz, at a random phase, level and time, in noise.

    A burst, not a steady tone: the front-end standardizes each mel bin over time, which
    leaves nothing of a tone that never changes.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    t = torch.arange(SAMPLES) / RATE
    phase = torch.rand(n, 1, generator=generator) * 6.28
    level = 0.1 + torch.rand(n, 1, generator=generator)
    start = torch.randint(0, SAMPLES // 2, (n, 1), generator=generator)
    burst = (torch.arange(SAMPLES) >= start) & (torch.arange(SAMPLES) < start + SAMPLES // 3)
    waves = level * burst * torch.sin(2 * torch.pi * 400 * (labels[:, None] + 1) * t + phase)
    return waves + 0.02 * torch.randn(n, SAMPLES, generator=generator), labels


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Train tiny models on one thread: faster than two for such batches, above all on a busy
    machine, where OpenMP threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", list(SMALL))
def test_a_model_trains_on_waveforms(name: str) -> None:
    torch.manual_seed(0)
    model = build(name, **({} if name == "spectrogram_backbone" else {"dropout": 0.0}))
    x, y = tones(12, seed=1)
    assert isinstance(model.frontend, LogMel) and model.frontend.sample_rate == RATE
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATES[name])
    model.train()
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    assert model.eval()(x[:2]).shape == (2, CLASSES)


def test_spec_augment_is_an_option_that_masks_while_training_only() -> None:
    model = build("ds_cnn", dropout=0.0, spec_augment={"freq_masks": 2, "time_masks": 2})
    assert isinstance(model.spec_augment, SpecAugment)
    assert isinstance(build("ds_cnn").spec_augment, nn.Identity)
    x = tones(4, seed=5)[0]
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # new masks every call
        model.eval()
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", ["ds_cnn", "bc_resnet"])
def test_pruning_keeps_the_classifier_and_leaves_the_frontend_alone(name: str) -> None:
    torch.manual_seed(0)
    model = build(name).eval()
    example = tones(2, seed=2)[0]
    classifier = model.network.get_submodule("classifier")
    assert isinstance(classifier, nn.Linear)
    kernels = model.frontend.kernels.clone()
    before = sum(p.numel() for p in model.parameters())
    prune_model(
        model,
        importance=tp.importance.MagnitudeImportance(p=2),
        example_inputs=example,
        ignored_layers=[classifier],
        settings=PruneSettings(ratio=0.5),
    )
    assert sum(p.numel() for p in model.parameters()) < 0.5 * before
    assert classifier.out_features == CLASSES
    assert torch.equal(model.frontend.kernels, kernels)
    assert model(example).shape == (2, CLASSES)


def test_bc_resnet_has_the_papers_sizes() -> None:
    sizes = {}
    for scale in (1.0, 8.0):
        plugin = record("bc_resnet")
        options = plugin.options.model_validate({"scale": scale})
        model = plugin.build(options, input_shape=(16000,), num_classes=12)
        sizes[scale] = sum(p.numel() for p in model.parameters())
    # Kim et al. 2021: BC-ResNet-1 9.2k and BC-ResNet-8 321k parameters (12 classes).
    assert round(sizes[1.0], -2) == 9200 and round(sizes[8.0], -3) == 321_000


def test_bc_resnet_exports_sub_spectral_norm_as_its_eval_form() -> None:
    torch.manual_seed(0)
    model = build("bc_resnet").eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # statistics as training leaves them
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            nn.init.normal_(module.weight)
    x = tones(2, seed=3)[0]
    expected = model(x)
    from unittest import mock

    with mock.patch("torch.onnx.is_in_onnx_export", return_value=True):
        assert torch.allclose(model(x), expected, atol=1e-5)


def test_width_narrows_every_model() -> None:
    model = build("bc_resnet", channels_last=False)
    before = sum(p.numel() for p in model.parameters())
    scale_width(
        model, 0.5, input_shape=(SAMPLES,), keep=[model.network.get_submodule("classifier")]
    )
    assert sum(p.numel() for p in model.parameters()) < 0.5 * before
    assert model.eval()(tones(2, seed=4)[0]).shape == (2, CLASSES)


def test_image_inputs_and_too_short_clips_are_refused() -> None:
    plugin = record("ds_cnn")
    options = plugin.options.model_validate({})
    with pytest.raises(UsageError, match=r"ds_cnn takes waveforms shaped \(samples,\)"):
        plugin.build(options, input_shape=(1, 28, 28), num_classes=10)
    with pytest.raises(UsageError, match="shorter than one STFT window"):
        plugin.build(options, input_shape=(100,), num_classes=10)
    with pytest.raises(ValueError, match="scale 4 is not one of BC-ResNet's"):
        record("bc_resnet").options.model_validate({"scale": 4})
