"""Whole searches on the shipped digits: a budget met, one that cannot be, Ctrl-C and --resume,
a worker joining the study, and the stage contract."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from compressor_search import trials as trials_module
from compressor_search.latency import LatencyBook
from compressor_search.worker import join

from compressor import recipe
from compressor.cli.main import main
from compressor.errors import RecipeError
from compressor.interrupt import Interrupted
from compressor.report.html import markdown_to_html
from compressor.run import pipeline
from compressor.run.progress import Progress
from compressor.testing import check_stage, run_tiny_recipe, tiny_mlp
from tests.plugins.search.conftest import SMALL_SEARCH, search_stages

#: What the winner of the meetable search must meet: a latency a tiny MLP meets with room.
LATENCY_BUDGET_MS = 0.5


@pytest.fixture(scope="module")
def meetable(teacher_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A search with a meetable budget, run by ``compressor search --storage`` with its study
    in SQLite, as workers share it."""
    folder = tmp_path_factory.mktemp("meetable")
    url = f"sqlite:///{folder / 'study.db'}"
    stages = search_stages(
        teacher_file, budget={"size_bytes": 8000, "latency_ms": LATENCY_BUDGET_MS}
    )
    raw = {
        "version": 1,
        "name": "tiny",
        "device": "cpu",
        "data": {"dataset": "digits", "batch_size": 64},
        "stages": stages,
    }
    (folder / "search.yaml").write_text(yaml.safe_dump(raw))
    argv = ["search", str(folder / "search.yaml"), "--storage", url, "--out", str(folder / "run")]
    assert main([*argv, "--quiet", "--no-cache"]) == 0
    metrics = json.loads((folder / "run" / "metrics.json").read_text())
    return {"run_dir": folder / "run", "url": url, "metrics": metrics["stages"]["search"]}


def test_a_meetable_budget_gives_a_winner_that_meets_it_again_in_a_fresh_process(
    meetable: dict[str, Any],
) -> None:
    m, run_dir = meetable["metrics"], meetable["run_dir"]
    assert m["met"] is True and m["verdict"] is None
    winner = m["winner"]
    assert winner["size_bytes"] <= 8000 and winner["standing"]["latency_ms"]["met"]
    assert m["trials"]["complete"] == SMALL_SEARCH["trials"]
    assert 0.5 < m["test_accuracy"] <= 1.0  # the winner alone is scored on test
    deployed = run_dir / winner["files"][0]
    assert deployed.stat().st_size == winner["size_bytes"]
    code = textwrap.dedent(
        f"""
        import time
        import numpy as np
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession({str(deployed)!r}, options, providers=["CPUExecutionProvider"])
        feed = {{"input": np.zeros((1, 1, 8, 8), np.float32)}}
        for _ in range(20):
            session.run(None, feed)
        times = []
        for _ in range(300):
            start = time.perf_counter()
            session.run(None, feed)
            times.append(time.perf_counter() - start)
        print(1000 * float(np.median(times)))
        """
    )
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(fresh.stdout.strip()) <= LATENCY_BUDGET_MS


def test_the_winner_is_published_reproducible_and_reported(
    meetable: dict[str, Any], registry: Any
) -> None:
    m, run_dir = meetable["metrics"], meetable["run_dir"]
    assert (run_dir / "student.pt").is_file()
    again = yaml.safe_load((run_dir / m["winner"]["recipe"]).read_text())
    plan = recipe.resolve(again, registry)  # a recipe that validates as it is
    kinds = [s.type for s in plan.stages]
    assert kinds[0] == "load" and kinds[1] in ("distill", "prune") and kinds[-1] == "benchmark"
    assert (run_dir / "search" / "trials.png").is_file()
    section = "\n".join(m["report_markdown"])
    assert "### Finalists against the budget" in section and "**winner**" in section
    report = (run_dir / "report.md").read_text()
    assert "`search`" in report and "test accuracy" in report
    page = markdown_to_html(section, run_dir, "search")  # the section as report.html shows it
    assert "<table>" in page and "data:image/png;base64," in page
    rows = m["trial_table"]
    assert {r["latency_source"] for r in rows if r["state"] == "complete"} <= {"measured", "cache"}
    assert m["latency_measurements"]["measured"] + m["latency_measurements"]["cache_hits"] >= 4


def test_a_latency_worker_joins_the_study_and_answers_requests(meetable: dict[str, Any]) -> None:
    url = meetable["url"]
    study = optuna.load_study(study_name="tiny-search", storage=url)
    target = meetable["metrics"]["target"]
    book = LatencyBook(study, target)
    asked = next(t for t in study.trials if t.state.name == "COMPLETE")
    book.request("0123456789abcdef", dict(asked.params), asked.number)
    done = join(url, role="latency", progress=Progress(enabled=False), idle_seconds=0.2)
    assert done["timed"] == 1
    answer = book.get("0123456789abcdef")
    assert answer is not None and answer.low_ms <= answer.p50_ms <= answer.high_ms
    # The search has moved on to its finalists: a trials worker starts none.
    done = join(url, role="trials", progress=Progress(enabled=False))
    assert done["trials"] == 0 and "finalists" in done["stopped_by"]


def test_an_unmeetable_budget_gives_a_verdict_and_the_closest_candidates(
    teacher_file: Path, tmp_path: Path
) -> None:
    run = run_tiny_recipe(
        search_stages(teacher_file, budget={"size_bytes": 300}), tmp_path=tmp_path
    )
    m = run.metrics["stages"]["search"]
    assert m["met"] is False
    assert m["verdict"].startswith("no candidate meets size_bytes: the smallest candidate measured")
    assert "(budget 300 B) at " in m["verdict"] and "% accuracy" in m["verdict"]
    assert m["closest"] and m["winner"]["trial"] == m["closest"][0]
    # No candidate fits in 300 bytes: each stopped at its size, untimed and untrained.
    assert m["rungs"] == {
        "analytic": SMALL_SEARCH["trials"],
        "graph": 0,
        "zero_shot": 0,
        "short": 0,
    }
    assert all(r["latency_ms"] is None for r in m["trial_table"])
    assert m["finalists"][0]["latency"]["p50_ms"] > 0  # the closest ones are timed in the finals
    assert (run.run_dir / "student.pt").is_file()  # the closest candidate flows on
    assert "**Budget not met:**" in "\n".join(m["report_markdown"])


def _plan(registry: Any, teacher: Path) -> Any:
    raw = {
        "version": 1,
        "name": "tiny",
        "seed": 0,
        "device": "cpu",
        "data": {"dataset": "digits", "batch_size": 64},
        "stages": search_stages(teacher, budget={"size_bytes": 300}, trials=5),
    }
    return recipe.resolve(raw, registry)


def test_an_interrupted_search_resumes_without_repeating_a_trial(
    teacher_file: Path, tmp_path: Path, registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate = trials_module.evaluate
    calls = {"n": 0}

    def ctrl_c_in_the_third_trial(session: Any, trial: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C: stop at the next safe point
        return evaluate(session, trial)

    monkeypatch.setattr(trials_module, "evaluate", ctrl_c_in_the_third_trial)
    plan = _plan(registry, teacher_file)
    with pytest.raises(Interrupted):
        pipeline.run(plan, registry, tmp_path / "run", progress=Progress(enabled=False))
    kept = tmp_path / "run.failed"
    journal = f"{kept}/search/study.journal"
    storage = optuna.storages.journal.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal)
    )
    before = optuna.load_study(study_name="tiny-search", storage=storage).trials
    finished = {t.number: t.datetime_complete for t in before if t.state.name == "COMPLETE"}
    assert len(finished) == 2 and any(t.user_attrs.get("interrupted") for t in before)

    monkeypatch.setattr(trials_module, "evaluate", evaluate)
    result = pipeline.run(plan, registry, None, progress=Progress(enabled=False), resume=kept)
    m = result.metrics["stages"]["search"]
    assert m["trials"]["complete"] == 5 and m["trials"]["this_run"] == 3
    assert m["trials"]["retried"] == [2]  # the interrupted trial's point, run once more
    after = {t["trial"]: t for t in m["trial_table"]}
    assert [n for n, t in after.items() if t.get("retry_of") == 2]
    study = optuna.load_study(
        study_name="tiny-search",
        storage=optuna.storages.journal.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(result.run_dir / "search/study.journal"))
        ),
    )
    for trial in study.trials:
        if trial.number in finished:  # finished before: not run again
            assert trial.datetime_complete == finished[trial.number]
    points = [
        json.dumps(t.params, sort_keys=True) for t in study.trials if t.state.name == "COMPLETE"
    ]
    assert len(points) == len(set(points))


def test_the_stage_contract(teacher_file: Path, tmp_path: Path) -> None:
    own = ("name", "type", "inputs", "outputs")
    options = {k: v for k, v in SMALL_SEARCH.items() if k not in own}
    options["budget"], options["time_budget"] = {"size_bytes": 300}, 0.001
    options["space"] = {**options["space"], "epochs": {"low": 0, "high": 0}}
    result = check_stage(
        "search",
        options,
        inputs={"teacher": tiny_mlp((1, 8, 8), 4)},
        outputs={"model": "student"},
        run_dir=tmp_path,
    )
    assert result.published == ["student"]
    assert (tmp_path / "check" / "winner.yaml").is_file()
    assert result.metrics["met"] is False and result.metrics["verdict"]
    trials = result.metrics["trials"]
    assert trials["complete"] == 1 and trials["stopped_by"] == "time_budget 0.001 s"


def test_a_criterion_that_cannot_rank_the_teacher_is_refused_before_training(
    tmp_path: Path, registry: Any
) -> None:
    # bn_scale ranks BatchNorm scales, and the MLP teacher has none.
    stages = search_stages(
        tmp_path, space={**SMALL_SEARCH["space"], "criteria": ["magnitude", "bn_scale"]}
    )
    stages[0] = {"name": "teacher", "type": "train", "model": {"name": "seed_mlp"}, "epochs": 1}
    raw = {"version": 1, "name": "t", "device": "cpu", "data": {"dataset": "digits"}}
    plan = recipe.resolve({**raw, "stages": stages}, registry)
    with pytest.raises(RecipeError, match=r"stages.search.space.criteria\[1\]: .*BatchNorm"):
        pipeline.run(plan, registry, tmp_path / "run", progress=Progress(enabled=False))
    assert not (tmp_path / "run.failed" / "teacher.pt").exists()  # nothing trained


def test_a_worker_without_a_study_to_join_is_one_line(tmp_path: Path, capsys: Any) -> None:
    missing = str(tmp_path / "none.journal")
    assert main(["search", "--worker", "--storage", missing]) == 2
    assert main(["search", "--storage", missing]) == 2
    err = capsys.readouterr().err
    assert f"error: --storage {missing}: no such journal file" in err
    assert "error: give a RECIPE to run, or --worker to join a running search" in err


def test_the_stage_cache_serves_a_search_again(teacher_file: Path, tmp_path: Path) -> None:
    stages = search_stages(teacher_file, budget={"size_bytes": 300}, trials=2)
    first = run_tiny_recipe(stages, tmp_path=tmp_path / "a", cache_dir=tmp_path / "cache")
    again = run_tiny_recipe(stages, tmp_path=tmp_path / "b", cache_dir=tmp_path / "cache")
    m = again.metrics["stages"]["search"]
    assert m.get("cached") is True
    assert m["winner"] == first.metrics["stages"]["search"]["winner"]
    for name in ("search/winner.yaml", "search/study.journal", "student.pt"):
        assert (again.run_dir / name).is_file()
