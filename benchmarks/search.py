"""Compressing to a budget with the search stage: what it finds, against random search, and how
trials per hour grow with a second worker.

In one run on the 5,000 shipped MNIST digits (no download):

1. The mnist_seed teacher (its recipe's teacher stage; the stage cache keeps it between runs).
2. The goal "a student at least 40x smaller than the mnist_seed teacher, at most 1.5x the
   onnxruntime per-call floor at batch 1, with the best accuracy possible": a search (NSGA-II,
   seeded with the known-good points) with ``size_bytes`` = the teacher's ONNX file / 40 and
   ``latency_vs_floor: 1.5``. Printed: the winner's size, latency against the floor, test
   accuracy, trials and wall time.
3. The same number of trials with random search on the same space (the same seed points), and
   the hypervolume of both screening Pareto fronts (within the budget's costs: latency against
   screening accuracy) side by side.
4. Two worker processes on one study (this process and ``python -m compressor_search --role
   trials``, one torch thread each, the study in SQLite) against one process: trials per hour
   over the trial phase.

Arms: NSGA-II and random search differ only in the sampler (same space, seed points, trial
count and staged evaluation); one worker and two differ only in the number of processes.

Usage:
    python benchmarks/search.py                       # everything (about 25 minutes on 2 cores)
    python benchmarks/search.py --trials 12 --teacher-epochs 20 --skip-workers
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch
import yaml
from compressor_search.metric import MetricInfo
from compressor_search.pareto import hypervolume, pareto_front
from sqlalchemy.exc import SQLAlchemyError

from compressor import recipe
from compressor.plugin.registry import Registry
from compressor.recipe.shipped import resolve_recipe_path
from compressor.run import pipeline
from compressor.run.cache import StageCache, default_cache_dir
from compressor.run.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def teacher_recipe(epochs: int) -> dict[str, Any]:
    """The mnist_seed recipe's data and teacher stage (``epochs`` as given)."""
    seed = yaml.safe_load(Path(resolve_recipe_path("mnist_seed")).read_text())
    teacher = copy.deepcopy(seed["stages"][0])
    teacher["epochs"] = epochs
    export = {"name": "export", "type": "export", "inputs": {"models": ["teacher"]}}
    export["exporter"] = {"name": "onnx", "options": {"dynamo": "off"}}
    return {
        **{k: seed[k] for k in ("version", "seed", "device", "data")},
        "name": "search_bench",
        "stages": [teacher, export],
    }


def train_teacher(registry: Registry, epochs: int, out: Path) -> tuple[Path, int, float]:
    """The teacher's checkpoint, its ONNX file's size and its test accuracy (cached stage)."""
    plan = recipe.resolve(teacher_recipe(epochs), registry)
    cache = StageCache(default_cache_dir())
    result = pipeline.run(plan, registry, out, progress=Progress(), cache=cache)
    size = (result.run_dir / "teacher.onnx").stat().st_size
    return result.run_dir / "teacher.pt", size, result.metrics["stages"]["teacher"]["test_accuracy"]


def search_stage(size_bytes: int, trials: int, sampler: str, **extra: Any) -> dict[str, Any]:
    """The search of the goal: 40x smaller than the teacher, 1.5x the per-call floor."""
    return {
        "name": "search",
        "type": "search",
        "inputs": {"teacher": "teacher"},
        "outputs": {"model": "student"},
        "model": {"name": "seed_mlp", "options": {"hidden": [128]}},
        "budget": {"size_bytes": size_bytes, "latency_vs_floor": 1.5, "batch": 1, "threads": 1},
        "trials": trials,
        "sampler": sampler,
        "space": {
            "width": {"low": 0.02, "high": 1.0, "log": True},
            "depth": {"low": 0, "high": 2},  # 0: logistic regression, one Gemm
            "prune_ratio": {"low": 0.5, "high": 0.97},
            "epochs": {"low": 20, "high": 60},
        },
        "screening": {"short_epochs": 3, "finalists": 3},
        "optimizer": {"name": "adam", "lr": 0.003},
        "augment": {},  # the students this small learn best from the plain digits
        # Raw uint8 pixels in: static INT8 then feeds them straight into an INT8 first layer.
        "exporter": {
            "name": "onnx",
            "options": {"dynamo": "off", "embed_preprocessing": True, "raw_input": "uint8"},
        },
        **extra,
    }


def run_search(
    registry: Registry,
    teacher: Path,
    stage: dict[str, Any],
    out: Path,
    epochs: int,
    seed: int = 0,
) -> dict[str, Any]:
    """One search after a load stage of the teacher, no stage cache; its metrics and wall time.
    ``seed`` is the recipe's (the sampler's seed derives from it)."""
    raw = teacher_recipe(epochs)
    raw["seed"] = seed
    raw["stages"] = [{"name": "teacher", "type": "load", "path": str(teacher)}, stage]
    plan = recipe.resolve(raw, registry)
    started = time.perf_counter()
    result = pipeline.run(plan, registry, out, progress=Progress(enabled=False))
    metrics = result.metrics["stages"]["search"]
    return {"metrics": metrics, "wall_s": time.perf_counter() - started, "run_dir": result.run_dir}


def front_points(metrics: dict[str, Any]) -> list[tuple[float, float]]:
    """(latency, screening accuracy) of the screened trials within the costs."""
    return [
        (r["latency_ms"], r["score"])
        for r in metrics["trial_table"]
        if r["rung"] == "short" and r["within_costs"] and r["score"] is not None
    ]


def trials_per_hour(study: optuna.Study) -> float:
    """Complete trials per hour over the trial phase (first start to last completion)."""
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if len(done) < 2:
        return float("nan")
    start = min(t.datetime_start for t in done if t.datetime_start)
    end = max(t.datetime_complete for t in done if t.datetime_complete)
    return 3600.0 * len(done) / max((end - start).total_seconds(), 1e-9)


def _recorded(url: str) -> bool:
    """Whether the stage has recorded its run in the study at ``url`` (workers can join)."""
    try:
        study = optuna.load_study(study_name="search_bench-search", storage=url)
    except (KeyError, SQLAlchemyError):  # the database or the study is not there yet
        return False
    return "compressor" in study.user_attrs


def workers(
    registry: Registry,
    teacher: Path,
    teacher_bytes: int,
    trials: int,
    out: Path,
    epochs: int,
    *,
    second: str | None,
) -> float:
    """Trials per hour of this process alone, or with a ``second`` worker of that role, on
    one SQLite study (the same search either way). The budget is loose (a tenth of the teacher's size,
    3x the floor), so that most trials are distilled: the work a second worker shares."""
    out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{out / 'study.db'}"
    stage = search_stage(teacher_bytes // 10, trials, "nsga2", storage=url)
    stage["budget"]["latency_vs_floor"] = 3.0
    stage["screening"] = {"short_epochs": 3, "finalists": 1}
    stage["space"]["epochs"] = {"low": 1, "high": 1}  # the finalist is not what is timed here
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    command = [sys.executable, "-m", "compressor_search", "--storage", url, "--role", str(second)]

    def start_worker() -> subprocess.Popen[bytes]:
        # The worker joins once the stage has recorded the run in the study.
        while not _recorded(url):
            time.sleep(0.5)
        return subprocess.Popen([*command, "--quiet"], env=env)

    import threading

    holder: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: holder.update(process=start_worker()), daemon=True)
    if second is not None:
        thread.start()
    run_search(registry, teacher, stage, out / "run", epochs)
    if second is not None:
        thread.join(timeout=5)
    if "process" in holder:
        holder["process"].wait(timeout=600)
    return trials_per_hour(optuna.load_study(study_name="search_bench-search", storage=url))


def report_goal(goal: dict[str, Any], teacher: tuple[Path, int, float]) -> None:
    """The goal's figures: the winner's size, latency against the floor, accuracy."""
    m = goal["metrics"]
    winner = m["winner"]
    latency = winner["latency"]
    _, teacher_bytes, teacher_accuracy = teacher
    print(
        "\nGoal: >= 40x smaller than the mnist_seed teacher, <= 1.5x the per-call floor at batch 1"
    )
    print(
        f"  teacher: {teacher_bytes / 1024:.1f} KiB ONNX, test accuracy {100 * teacher_accuracy:.2f}%"
    )
    print(f"  winner: trial {winner['trial']} {winner['candidate']}")
    print(f"  met: {m['met']}" + (f" ({m['verdict']})" if m["verdict"] else ""))
    print(
        f"  size {winner['size_bytes'] / 1024:.1f} KiB ({teacher_bytes / winner['size_bytes']:.1f}x "
        f"smaller); latency p50 {1000 * latency['p50_ms']:.1f} us = {latency['vs_floor']:.2f}x the "
        f"{1000 * latency['floor_ms']:.1f} us floor (slowest round {latency['high_vs_floor']:.2f}x)"
    )
    print(
        f"  test accuracy {100 * m['test_accuracy']:.2f}% (PyTorch), "
        f"{100 * m['test_accuracy_deployed']:.2f}% (deployed file, onnxruntime)"
    )
    print(f"  trials {m['trials']['complete']} (rungs {m['rungs']}), wall {goal['wall_s']:.0f} s")


def compare_samplers(runs: dict[str, list[dict[str, Any]]]) -> None:
    """NSGA-II against random search, seed by seed: feasible trials, the front's hypervolume
    (one reference point for all runs), the best screening accuracy, the winner's test one."""
    accuracy = MetricInfo()
    points = {name: [front_points(r["metrics"]) for r in rs] for name, rs in runs.items()}
    everything = [p for runs_ in points.values() for ps in runs_ for p in ps]
    if not everything:
        print("\nno trial within the costs in any run: no front to compare")
        return
    reference = (max(p[0] for p in everything) * 1.05, min(p[1] for p in everything) - 0.01)
    print("\nSame space, same seed points, same trials: NSGA-II against random search")
    print(f"  reference point: {reference[0]:.4f} ms, accuracy {reference[1]:.4f}")
    header = "within costs  front  hypervolume  best screening  winner test  met  wall"
    print(f"  {'sampler':9}{'seed':>5}  {header}")
    for name, rs in runs.items():
        volumes = []
        for seed, (run, ps) in enumerate(zip(rs, points[name], strict=True)):
            m = run["metrics"]
            volume = hypervolume(ps, reference, accuracy)
            volumes.append(volume)
            best = max((p[1] for p in ps), default=float("nan"))
            print(
                f"  {name:9}{seed:>5}  {len(ps):>12}  {len(pareto_front(ps, accuracy)):>5}  "
                f"{1e3 * volume:>11.4f}  {100 * best:>13.2f}%  {100 * m['test_accuracy']:>10.2f}%  "
                f"{m['met']!s:>4}  {run['wall_s']:>4.0f}s"
            )
        print(
            f"  {name:9}{'mean':>5}  {'':>12}  {'':>5}  {1e3 * sum(volumes) / len(volumes):>11.4f}"
        )
    print("  (hypervolume in ms x accuracy x 1000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3, help="sampler comparisons")
    parser.add_argument("--teacher-epochs", type=int, default=60, help="mnist_seed's is 60")
    parser.add_argument("--worker-trials", type=int, default=40)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--only-workers", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread per process, in every configuration compared
    registry = Registry.load()
    with tempfile.TemporaryDirectory(prefix="search-bench-") as scratch:
        folder = Path(scratch)
        teacher = train_teacher(registry, args.teacher_epochs, folder / "teacher")
        size = teacher[1] // 40
        runs: dict[str, list[dict[str, Any]]] = {"nsga2": [], "random": []}
        for seed in range(args.seeds if not args.only_workers else 0):
            for sampler, done in runs.items():
                stage = search_stage(size, args.trials, sampler)
                out = folder / f"{sampler}{seed}"
                done.append(run_search(registry, teacher[0], stage, out, args.teacher_epochs, seed))
        if runs["nsga2"]:
            report_goal(runs["nsga2"][0], teacher)
            compare_samplers(runs)
        if args.skip_workers:
            return
        rates = {
            second: workers(
                registry,
                teacher[0],
                teacher[1],
                args.worker_trials,
                folder / f"workers-{second}",
                args.teacher_epochs,
                second=second,
            )
            for second in (None, "trials", "any")
        }
        one = rates[None]
        print("\nTrials per hour over the trial phase (one torch thread per process, 2 cores)")
        print(f"  one process (times its own candidates):               {one:6.0f}")
        for role, what in (
            ("trials", "+ a --role trials worker (the first times for both)"),
            ("any", "+ a --role any worker (each times its own)"),
        ):
            print(f"  {what:54} {rates[role]:6.0f}  ({rates[role] / one:.2f}x)")


if __name__ == "__main__":
    main()
