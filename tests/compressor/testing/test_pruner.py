"""check_pruner: passes on the built-in pruners and fails, clearly, on broken pruners."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch_pruning as tp

from compressor.records import PrunerPlugin
from compressor.testing import check_pruner, tiny_mlp


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
