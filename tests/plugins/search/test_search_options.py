"""Bad budgets and spaces fail in one line naming the field, before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compressor_search.metric import MetricInfo
from compressor_search.options import SearchOptions
from compressor_search.stage import check_latency_budget, check_metric_budget

from compressor import recipe
from compressor.cli.main import main
from compressor.errors import RecipeError
from tests.plugins.search.conftest import SMALL_SEARCH


def _recipe(**changes: Any) -> dict[str, Any]:
    search = {**SMALL_SEARCH, **changes}
    search["inputs"] = {"teacher": "teacher"}
    return {
        "version": 1,
        "name": "bad",
        "device": "cpu",
        "data": {"dataset": "digits"},
        "stages": [
            {"name": "teacher", "type": "train", "model": {"name": "seed_mlp"}, "epochs": 1},
            search,
        ],
    }


BAD = [
    ({"budget": {"latency_sec": 1.0}}, "stages.search.budget.latency_sec: unknown key"),
    ({"budget": {"latency_ms": -1}}, "stages.search.budget.latency_ms: invalid value -1"),
    ({"budget": {"size_bytes": 0}}, "stages.search.budget.size_bytes: invalid value 0"),
    ({"budget": {"min_metric": 0.9}}, "give at least one cost to compress to"),
    ({"budget": {"size_bytes": 9, "max_metric_drop": -0.1}}, "budget.max_metric_drop"),
    (
        {"space": {"width": {"low": 0.9, "high": 0.2}}},
        "stages.search.space.width: low 0.9 is above high 0.2: no value fits",
    ),
    ({"space": {"families": []}}, "families: the list is empty, so there is no candidate"),
    (
        {"space": {"prune_ratio": {"low": 0.5, "high": 1.0}}},
        "prune_ratio: 0.5..1 must lie in [0, 1)",
    ),
    ({"space": {"round_to": {"low": 3, "high": 8}}}, "round_to: low 3 is not a power of two"),
    ({"space": {"quantization": ["int4"]}}, "stages.search.space.quantization[0]: invalid value"),
    ({"space": {"quantization": []}}, "stages.search.space.quantization"),
    (
        {"space": {"criteria": ["magnitud"]}},
        "stages.search.space.criteria[0]: unknown pruner 'magnitud'",
    ),
    (
        {"model": None, "space": {"families": ["student"]}},
        "stages.search.space.families[0]: 'student' is the stage's model:, which is not given",
    ),
    ({"space": {"families": ["techer"]}}, "space.families[0]: unknown family 'techer'"),
    ({"trials": 0}, "stages.search.trials: invalid value 0"),
    ({"storage": "study.db"}, "neither an RDB URL"),
]


@pytest.mark.parametrize(("changes", "expected"), BAD)
def test_a_bad_budget_or_space_is_one_line_naming_the_field(
    registry: Any, changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(RecipeError) as caught:
        recipe.resolve(_recipe(**changes), registry)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_compressor_validate_exits_2_with_one_line(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_recipe(budget={"latency_sec": 1.0})))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "budget.latency_sec: unknown key" in err and "latency_ms" in err


def test_a_metric_budget_a_fraction_cannot_reach_is_refused() -> None:
    accuracy = MetricInfo()
    options = SearchOptions.model_validate({"budget": {"size_bytes": 100, "min_metric": 95}})
    with pytest.raises(RecipeError, match=r"stages.s.budget.min_metric: 95 cannot be reached"):
        check_metric_budget(options, accuracy, "stages.s")
    fine = SearchOptions.model_validate({"budget": {"size_bytes": 100, "min_metric": 0.95}})
    check_metric_budget(fine, accuracy, "stages.s")
    # A metric that is no fraction may be any number.
    check_metric_budget(options, MetricInfo("loss", "loss", False, False), "stages.s")


def test_a_latency_budget_below_the_per_call_floor_is_refused() -> None:
    options = SearchOptions.model_validate(
        {"budget": {"latency_ms": 1e-6}, "timing": {"rounds": 2, "warmup": 1}}
    )
    with pytest.raises(RecipeError, match=r"budget.latency_ms: 1e-06 ms is below onnxruntime's"):
        check_latency_budget(options, "stages.s")
    reachable = SearchOptions.model_validate({"budget": {"latency_ms": 50.0}})
    floor = check_latency_budget(reachable, "stages.s")
    assert floor is not None and 0 < floor < 50.0


def test_defaults_are_sensible_and_trials_bound_the_search() -> None:
    options = SearchOptions.model_validate({"budget": {"latency_ms": 1.0}})
    assert options.trials == 30 and options.time_budget is None
    assert options.budget.batch == 1 and options.budget.threads == 1
    assert options.space.quantization == ["fp32", "dynamic", "static"]
    timed = SearchOptions.model_validate({"budget": {"params": 10}, "time_budget": 60})
    assert timed.trials is None and timed.time_budget == 60
