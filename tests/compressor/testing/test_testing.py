"""compressor.testing: the contract checks pass on the built-ins and fail, clearly, on broken plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch_pruning as tp
from torch import nn

from compressor.artifacts import FileArtifact
from compressor.atomic import atomic_path
from compressor.records import LossPlugin, PrunerPlugin, Role, StagePlugin
from compressor.testing import (
    check_exporter,
    check_loss,
    check_pruner,
    check_stage,
    tiny_cnn,
    tiny_data_bundle,
    tiny_mlp,
)

# The legacy exporter keeps the ONNX check fast; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


# --- tiny models and data ---------------------------------------------------------------------


def test_tiny_models_and_data_fit_together() -> None:
    bundle = tiny_data_bundle()
    assert bundle.input_shape == (1, 8, 8) and len(bundle.class_names) == bundle.num_classes == 4
    for make in (tiny_cnn, tiny_mlp):
        assert make()(bundle.test.x[:3]).shape == (3, 4)
        first, again = make().state_dict(), make().state_dict()
        assert all(torch.equal(first[k], again[k]) for k in first)  # seeded
    assert torch.equal(tiny_data_bundle().train.x, bundle.train.x)


def test_tiny_digits_are_the_real_digits() -> None:
    bundle = tiny_data_bundle("digits")
    assert bundle.name == "digits" and bundle.num_classes == 10 and bundle.input_shape == (1, 8, 8)


# --- losses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "zero"), [("kd", True), ("mse_logits", True), ("ce", False)])
def test_builtin_losses_pass(name: str, zero: bool) -> None:
    assert check_loss(name, zero_when_equal=zero) >= 0


def test_ce_is_not_zero_at_equality_and_the_check_says_so() -> None:
    with pytest.raises(
        AssertionError, match="'ce' is .* when the student's logits equal the teacher's"
    ):
        check_loss("ce", zero_when_equal=True)


def test_loss_options_are_validated_by_the_record() -> None:
    check_loss("kd", {"temperature": 2.0}, zero_when_equal=True)
    with pytest.raises(AssertionError, match="'kd': options .*rejected by its schema KDOptions"):
        check_loss("kd", {"temprature": 2.0})


class PerSample(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (s - t).pow(2).mean(dim=1)  # forgot to reduce over the batch


class Detached(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (s.detach() - t).pow(2).mean()


class NaiveSoftmax(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, q = torch.exp(s) / torch.exp(s).sum(1, keepdim=True), torch.softmax(t, 1)
        return (q * (q.log() - p.log())).sum(1).mean()  # overflows for large logits


class InPlace(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t.sub_(t.mean(1, keepdim=True))
        return (s - t).pow(2).mean()


class NeedsTeacherAnyway(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        return (s - t).pow(2).mean()


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (PerSample(), "must return a scalar .*got shape \\[8\\]"),
        (Detached(), "is not differentiable"),
        (NaiveSoftmax(), "returned nan on large logits"),
        (InPlace(), "modified its inputs in place"),
        (lambda options: "not a module", "has no forward"),
    ],
)
def test_broken_losses_fail_with_a_clear_message(loss: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_loss(loss)


def test_a_loss_without_teacher_gets_none() -> None:
    record = LossPlugin(
        name="broken_ce", factory=lambda options: NeedsTeacherAnyway(), needs_teacher=False
    )
    with pytest.raises(AssertionError, match="'broken_ce' raised on random logits.*TypeError"):
        check_loss(record)


# --- pruners ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["magnitude", "taylor", "bn_scale", "random"])
def test_builtin_pruners_pass(name: str) -> None:
    sizes = check_pruner(name)
    assert sizes["params_after"] < sizes["params_before"]


def test_check_model_refusal_is_reported() -> None:
    with pytest.raises(AssertionError, match="'bn_scale' cannot rank Sequential: .*no BatchNorm"):
        check_pruner("bn_scale", model=tiny_mlp())


class _Criterion:
    needs_gradients = False

    def __init__(self, importance: Any) -> None:
        self._importance = importance

    def importance(self) -> Any:
        return self._importance


class TooFewScores(tp.importance.Importance):
    def __call__(self, group: Any) -> torch.Tensor:
        return torch.ones(1)


class Meddling(tp.importance.Importance):
    def __call__(self, group: Any) -> torch.Tensor:
        layer = group[0].dep.layer
        layer.weight.data.mul_(0.5)  # an importance must only read the weights
        return torch.rand(len(group[0].idxs))


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        (
            _Criterion(lambda group: torch.rand(3)),
            "must return a torch_pruning.importance.Importance",
        ),
        (_Criterion(TooFewScores()), "must return a 1-D tensor of \\d+ scores"),
        (_Criterion(Meddling()), "changed the model's weights"),
    ],
)
def test_broken_pruners_fail_with_a_clear_message(criterion: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_pruner(criterion)


def test_pruner_without_needs_gradients_fails() -> None:
    class NoFlag:
        def importance(self) -> Any:
            return tp.importance.GroupMagnitudeImportance()

    record = PrunerPlugin(name="no_flag", factory=lambda options: NoFlag())
    with pytest.raises(AssertionError, match="needs_gradients: bool"):
        check_pruner(record)


# --- exporters --------------------------------------------------------------------------------


def test_onnx_exporter_passes(tmp_path: Path) -> None:
    facts = check_exporter("onnx", {"dynamo": "off", "opset": 17}, directory=tmp_path)
    assert facts["exporter"] == "onnx" and (tmp_path / "model.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


class DirectWriter:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        path.write_text("{}")
        return {}


class LeavesHalfAFile:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        tmp = path.with_name(path.name + ".part")
        with tmp.open("w") as f:
            f.write("[")
            model(example)  # raises for check_exporter's failing model, leaving the .part file
            f.write("]")
        tmp.replace(path)
        return {}


class ReturnsNothing:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text("[]")


class ModifiesTheModel:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        model.train()
        with atomic_path(path) as tmp:
            tmp.write_text("[]")
        return {}


@pytest.mark.parametrize(
    ("exporter", "message"),
    [
        (DirectWriter(), "opened the destination model.json for writing"),
        (LeavesHalfAFile(), "failed .* but left failing.json.part behind"),
        (ReturnsNothing(), "must return a dict"),
        (ModifiesTheModel(), "modified the model it exported"),
    ],
)
def test_broken_exporters_fail_with_a_clear_message(
    tmp_path: Path, exporter: Any, message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        check_exporter(exporter, suffix=".json", directory=tmp_path)


def test_unloadable_file_fails(tmp_path: Path) -> None:
    class NotJson:
        def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
            with atomic_path(path) as tmp:
                tmp.write_text("not json")
            return {}

    with pytest.raises(AssertionError, match="model.json does not load"):
        check_exporter(NotJson(), suffix=".json", directory=tmp_path)


# --- stages -----------------------------------------------------------------------------------


def test_builtin_train_stage_passes(tmp_path: Path) -> None:
    result = check_stage(
        "train",
        {"model": {"name": "seed_mlp", "options": {"hidden": [16]}}, "epochs": 1},
        run_dir=tmp_path,
    )
    assert result.published == ["check"] and (tmp_path / "check.pt").is_file()
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0


def test_stage_options_resolve_against_the_registry(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="unknown model 'seed_mpl'"):
        check_stage("train", {"model": {"name": "seed_mpl"}}, run_dir=tmp_path)


class PrunesInPlace:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        model = ctx.input("model").model
        with torch.no_grad():
            model[-1].weight.zero_()  # corrupts the artifact later stages read


class PublishesNothing:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        (ctx.run_dir / ".half.tmp").write_text("")


class PublishesAMissingFile:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        name = ctx.output_name("report")
        ctx.publish(FileArtifact(name=name, path=ctx.run_dir / name))


@pytest.mark.parametrize(
    ("factory", "outputs", "message"),
    [
        (PrunesInPlace, {}, "modified its input model 'model' in place"),
        (
            PublishesNothing,
            {"report": Role("a file")},
            "did not publish its declared output\\(s\\): check",
        ),
        (
            PublishesAMissingFile,
            {"report": Role("a file")},
            "published 'check' but .* does not exist",
        ),
    ],
)
def test_broken_stages_fail_with_a_clear_message(
    tmp_path: Path, factory: Any, outputs: dict, message: str
) -> None:
    record = StagePlugin(
        name="broken", factory=factory, inputs={"model": Role("a model")}, outputs=outputs
    )
    with pytest.raises(AssertionError, match=message):
        check_stage(record, run_dir=tmp_path)


def test_a_stage_that_raises_is_reported(tmp_path: Path) -> None:
    class Raises:
        def __init__(self, options: Any) -> None:
            pass

        def run(self, ctx: Any) -> None:
            raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="stage 'raises' failed: RuntimeError: boom"):
        check_stage(StagePlugin(name="raises", factory=Raises), run_dir=tmp_path)


def test_checks_do_not_disturb_the_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_cnn(), tiny_mlp()
    assert torch.equal(torch.rand(3), expected)


def test_an_unknown_name_suggests_installing_the_plugin() -> None:
    with pytest.raises(AssertionError, match="unknown loss 'cosinus'.*pip install -e"):
        check_loss("cosinus")
