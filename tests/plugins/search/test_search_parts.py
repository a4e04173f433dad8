"""The search's parts that decide: the space, the rungs' gate, the fronts, the budget's verdict."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from compressor_search.budget import Figures, meets, standing, verdict, violations
from compressor_search.build import family_ref
from compressor_search.latency import Latency
from compressor_search.metric import MetricInfo
from compressor_search.options import SearchOptions
from compressor_search.pareto import hypervolume, pareto_front
from compressor_search.screening import promoted
from compressor_search.space import Candidate, candidate_of, resolve_families, seed_points, suggest
from compressor_search.study import WORKER, retry_interrupted

from compressor.errors import RecipeError

ACCURACY = MetricInfo()


def _options(**changes: Any) -> SearchOptions:
    raw = {
        "model": {"name": "seed_mlp", "options": {"hidden": [64, 32]}},
        "budget": {"latency_ms": 1.0},
        **changes,
    }
    options = SearchOptions.model_validate(raw)
    assert options.model is not None
    return options


def test_the_space_has_numeric_knobs_and_families_their_own() -> None:
    options = _options()
    families = resolve_families(options, "stages.s")
    assert [f.label for f in families] == ["teacher", "student"]
    student = families[1]
    assert student.depth_option == "hidden" and student.base_depth == 2
    assert student.options_at(3)["hidden"] == [64, 32, 32]
    assert student.options_at(1)["hidden"] == [64]
    assert student.options_at(0)["hidden"] == []  # seed_mlp: logistic regression
    shallow = family_ref(student, Candidate("student", width=0.5, depth=0))
    assert shallow.width is None and shallow.options["hidden"] == []
    study = optuna.create_study(directions=["minimize", "maximize"])
    seen = set()
    for _ in range(25):
        trial = study.ask()
        candidate = suggest(trial, options.space, families)
        distributions = trial.distributions
        assert not isinstance(distributions["epochs"], optuna.distributions.CategoricalDistribution)
        if candidate.family == "teacher":
            assert isinstance(distributions["prune_ratio"], optuna.distributions.FloatDistribution)
            assert candidate.round_to in (1, 2, 4, 8) and candidate.criterion in (
                "magnitude",
                "fpgm",
            )
        else:
            assert isinstance(distributions["width"], optuna.distributions.FloatDistribution)
            assert candidate.depth in (1, 2)
        assert candidate_of(trial.params) == candidate  # the latency worker rebuilds it so
        seen.add(candidate.family)
        study.tell(trial, [1.0, 0.5])
    assert seen == {"teacher", "student"}


def test_the_seed_points_are_the_recipe_student_and_uniform_widths_within_the_space() -> None:
    options = _options(space={"width": {"low": 0.3, "high": 0.9}, "quantization": ["static"]})
    families = resolve_families(options, "stages.s")
    points = seed_points(options, families)
    widths = [p["width"] for p in points if p["family"] == "student"]
    assert widths == [0.9, 0.5, 0.3]  # full, half and quarter width, clamped into the space
    assert {p["prune_ratio"] for p in points if p["family"] == "teacher"} == {0.5, 0.75}
    study = optuna.create_study(directions=["minimize", "maximize"])
    for point in points:
        study.enqueue_trial(point)
    for point in points:
        trial = study.ask()
        assert suggest(trial, options.space, families).family == point["family"]
        assert all(trial.params[k] == v for k, v in point.items())
        study.tell(trial, [1.0, 0.5])


def test_families_are_refused_in_one_line_when_they_cannot_be_built() -> None:
    options = SearchOptions.model_validate(
        {"budget": {"params": 10}, "space": {"families": ["student"]}}
    )
    with pytest.raises(RecipeError, match=r"stages.s.space.families\[0\]: 'student' is the"):
        resolve_families(options, "stages.s")


def test_a_candidate_goes_on_unless_enough_earlier_ones_beat_it() -> None:
    earlier = [(1.0, 0.90), (0.5, 0.95), (2.0, 0.99)]
    # Beaten (as fast or faster, scoring as well) by two: stopped when two are enough.
    assert not promoted((1.0, 0.90), earlier, 2, ACCURACY)
    assert promoted((1.0, 0.90), earlier, 3, ACCURACY)
    # Faster than all: nobody beats it.
    assert promoted((0.1, 0.50), earlier, 1, ACCURACY)
    loss = MetricInfo("loss", "loss", higher_is_better=False, fraction=False)
    assert not promoted((1.0, 0.5), [(0.5, 0.2)], 1, loss)


def test_the_pareto_front_and_its_hypervolume() -> None:
    points = [(1.0, 0.90), (0.5, 0.95), (2.0, 0.99), (3.0, 0.98), (0.5, 0.95)]
    assert pareto_front(points, ACCURACY) == [1, 2, 4]
    area = hypervolume(points, (4.0, 0.8), ACCURACY)
    # From 0.5 ms the front holds 0.95 (0.15 above the reference) until 2 ms, then 0.99.
    assert area == pytest.approx(1.5 * 0.15 + 2.0 * 0.19)
    assert hypervolume(points[:1], (4.0, 0.8), ACCURACY) < area
    assert hypervolume([(5.0, 0.99)], (4.0, 0.8), ACCURACY) == 0.0


def _latency(p50: float, high: float) -> Latency:
    return Latency(p50_ms=p50, low_ms=p50 * 0.9, high_ms=high, floor_ms=0.005, runs=100)


def test_each_constraint_says_how_close_a_candidate_came() -> None:
    options = _options(budget={"latency_ms": 2.0, "size_bytes": 1000, "max_metric_drop": 0.02})
    figures = Figures(params=10, macs=10, size_bytes=900, latency=_latency(1.9, 2.1), metric=0.95)
    screening = standing(options.budget, figures, ACCURACY, 0.96, upper=False, costs_only=True)
    assert set(screening) == {"latency_ms", "size_bytes"} and meets(screening)
    assert violations(screening) == pytest.approx([1.9 / 2 - 1, 900 / 1000 - 1])
    final = standing(options.budget, figures, ACCURACY, 0.96, upper=True)
    assert final["latency_ms"]["met"] is False  # its slowest round is over the budget
    assert final["max_metric_drop"]["value"] == pytest.approx(0.01)
    assert final["max_metric_drop"]["met"] is True
    assert not meets(final)


def test_an_unmeetable_budget_gets_one_sentence_with_the_best_figure_reached() -> None:
    options = _options(budget={"latency_ms": 2.0})
    candidates = []
    for p50, metric in ((2.4, 0.971), (3.0, 0.98)):
        figures = Figures(latency=_latency(p50, p50), metric=metric)
        rows = standing(options.budget, figures, ACCURACY, None, upper=True)
        candidates.append({"standing": rows, "metric": metric})
    assert verdict(options.budget, candidates, ACCURACY) == (
        "no candidate meets latency_ms: the fastest candidate measured 2.400 ms (budget "
        "2.000 ms) at 97.10% accuracy"
    )
    both = _options(budget={"latency_ms": 2.0, "size_bytes": 1000})
    mixed = [
        {"standing": standing(both.budget, f, ACCURACY, None, upper=True), "metric": 0.9}
        for f in (
            Figures(size_bytes=900, latency=_latency(3.0, 3.0)),
            Figures(size_bytes=2000, latency=_latency(1.0, 1.0)),
        )
    ]
    sentence = verdict(both.budget, mixed, ACCURACY)
    assert sentence.startswith("no candidate meets every constraint at once: the closest missed")


def test_a_trial_left_running_by_a_killed_process_is_retried_once() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"])
    done = study.ask({"width": optuna.distributions.FloatDistribution(0.1, 1.0)})
    study.tell(done, [1.0, 0.5])
    killed = study.ask({"width": optuna.distributions.FloatDistribution(0.1, 1.0)})
    killed.set_user_attr(WORKER, "lead")  # its process was killed outright: still running
    other = study.ask({"width": optuna.distributions.FloatDistribution(0.1, 1.0)})
    other.set_user_attr(WORKER, "host:123")  # another worker's, alive: left alone
    assert retry_interrupted(study, "lead") == [killed.number]
    assert retry_interrupted(study, "lead") == []  # once
    states = {t.number: t.state.name for t in study.trials}
    assert states[killed.number] == "FAIL" and states[other.number] == "RUNNING"
    assert [t.state.name for t in study.trials].count("WAITING") == 1
    again = study.ask({"width": optuna.distributions.FloatDistribution(0.1, 1.0)})
    assert again.params == killed.params and again.user_attrs["retry_of"] == killed.number


def test_the_multiple_of_the_floor_is_bounded_round_by_round() -> None:
    # A burst of load in one round slowed the candidate and the floor alike.
    latency = Latency(
        p50_ms=0.012, low_ms=0.011, high_ms=0.030, floor_ms=0.008, runs=10, round_vs_floor=1.6
    )
    assert latency.high_vs_floor == 1.6 and latency.vs_floor == pytest.approx(1.5)
    older = {k: v for k, v in latency.as_dict().items() if k != "round_vs_floor"}
    assert Latency.from_dict(older).high_vs_floor == pytest.approx(0.030 / 0.008)
