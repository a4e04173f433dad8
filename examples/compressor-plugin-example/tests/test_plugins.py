"""Contract checks of the four plugins, through the `compressor` entry points (pip install -e . first)."""

from __future__ import annotations

import json

import pytest
import torch

from compressor.testing import (
    check_exporter,
    check_loss,
    check_pruner,
    check_stage,
    run_tiny_recipe,
    tiny_cnn,
    tiny_mlp,
)


def test_registered_through_the_entry_point(compressor_registry) -> None:
    for kind, name in [
        ("loss", "cosine"),
        ("pruner", "normalized_l1"),
        ("exporter", "model_card"),
        ("stage", "summary"),
    ]:
        assert compressor_registry.get(kind, name).source.startswith("compressor_plugin_example ")


@pytest.mark.parametrize("center", [True, False])
def test_cosine_loss(center: bool) -> None:
    check_loss("cosine", {"center": center}, zero_when_equal=True)


def test_cosine_loss_ignores_scale_and_shift() -> None:
    from compressor_plugin_example.losses import CosineLoss

    teacher = torch.randn(4, 10)
    loss = CosineLoss(center=True)
    assert loss(3 * teacher + 1.5, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(-teacher, teacher).item() == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize("make_model", [tiny_cnn, tiny_mlp])
def test_normalized_l1_pruner(make_model) -> None:
    sizes = check_pruner("normalized_l1", model=make_model())
    assert sizes["params_after"] < sizes["params_before"]


def test_normalized_l1_keeps_the_strong_channels() -> None:
    import torch_pruning as tp
    from compressor_plugin_example.pruning import NormalizedL1Importance

    model = tiny_mlp()
    with torch.no_grad():
        model[1].weight[:16] *= 100  # the first half of the hidden units are the strong ones
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.randn(2, 1, 8, 8))
    group = graph.get_pruning_group(model[1], tp.prune_linear_out_channels, idxs=list(range(32)))
    scores = NormalizedL1Importance()(group)
    assert scores[:16].min() > scores[16:].max()


def test_model_card_exporter(tmp_path) -> None:
    facts = check_exporter("model_card", {"description": "tiny"}, directory=tmp_path)
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["params"] == facts["params"] == sum(p.numel() for p in tiny_cnn().parameters())
    assert card["input_shape"] == [1, 8, 8] and card["output_shape"] == [4]
    assert card["test_accuracy"] is None and card["description"] == "tiny"


def test_model_card_takes_accuracy_and_classes_when_given(tmp_path) -> None:
    from compressor_plugin_example import ModelCardOptions
    from compressor_plugin_example.model_card import ModelCardExporter

    path = tmp_path / "student.json"
    ModelCardExporter(ModelCardOptions()).export(
        tiny_mlp(),
        torch.randn(2, 1, 8, 8),
        path,
        meta={"test_accuracy": 0.9},
        class_names=list("abcd"),
    )
    card = json.loads(path.read_text())
    assert card["test_accuracy"] == 0.9 and card["class_names"] == ["a", "b", "c", "d"]


def test_summary_stage(tmp_path, tiny_bundle) -> None:
    result = check_stage(
        "summary", inputs={"model": tiny_cnn()}, data=tiny_bundle, run_dir=tmp_path
    )
    assert result.published == ["model.summary.txt"]
    text = (tmp_path / "model.summary.txt").read_text()
    assert "Conv2d" in text and "output shape" in text
    assert result.metrics["params"] == sum(result.metrics["params_by_module"].values())


def test_summary_and_model_card_in_a_recipe(tmp_path) -> None:
    # The stage and the exporter where they will live: a real (tiny) run on the digits.
    student = {
        "name": "student",
        "type": "train",
        "model": {"name": "seed_mlp", "options": {"hidden": [16]}},
        "epochs": 1,
    }
    describe = {"name": "describe", "type": "summary", "inputs": {"model": "student"}}
    card = {
        "name": "card",
        "type": "export",
        "inputs": {"models": ["student"]},
        "exporter": {"name": "model_card"},
    }
    run = run_tiny_recipe([student, describe, card], tmp_path=tmp_path)
    written = json.loads((run.run_dir / "student.json").read_text())
    assert written["params"] == run.metrics["stages"]["describe"]["params"]
    # The export stage passes its context: the card gets the digits' class names.
    assert written["class_names"] == [str(d) for d in range(10)]
    assert (run.run_dir / "student.summary.txt").read_text().startswith("student: ")
