"""How fast does ``compressor validate`` answer, and where does its time go?

Prints, for one recipe (default: the shipped ``quickstart``):

1. the wall time (median and range over ``--repeat`` fresh processes) and peak resident memory
   of ``python -m compressor validate RECIPE``;
2. the same for two floors measured alongside: ``python -c "import torch"`` (the dataset and the
   untrained models the checks need are torch objects, so validate cannot answer faster than
   torch imports) and ``python -m compressor plugins`` (the CLI and the registry, no torch);
3. one in-process breakdown of validate's steps: the CLI, the registry, resolving the recipe,
   importing torch, loading the data, importing every factory, the stages' preflight checks.

Goal (issue 20): validate answers in under 3 s on quickstart.yaml with every check kept.
No figure is asserted: machines differ, and a shared machine's load moves every figure.

Usage:
    python benchmarks/validate_speed.py
    python benchmarks/validate_speed.py mnist_seed --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(argv: list[str], repeat: int) -> tuple[list[float], int]:
    """Run ``argv`` ``repeat`` times; the wall times and the largest peak RSS in KiB."""
    times, peak = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        times.append(time.perf_counter() - started)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(argv)} failed")
        peak = max(peak, usage.ru_maxrss)
    return times, peak


def breakdown(recipe_path: str) -> list[tuple[str, float]]:
    """The seconds each step of validate takes, in this process (first use of everything)."""
    steps: list[tuple[str, float]] = []
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps.append((name, now - mark))
        mark = now

    import compressor.cli.main  # noqa: F401 - what every command imports first

    step("import the CLI")
    from compressor import recipe
    from compressor.plugin.registry import Registry
    from compressor.recipe.shipped import resolve_recipe_path

    registry = Registry.load()
    step("load the registry")
    plan = recipe.load(resolve_recipe_path(recipe_path), registry)
    step("resolve the recipe")
    import torch  # noqa: F401 - timed on its own: the floor

    step("import torch")
    from compressor.preflight import Preflight, check_factories, load_data

    data = load_data(plan, registry)
    step("load the data")
    check_factories(plan, registry)
    step("import every factory")
    from compressor.records import resolve_factory

    checker = Preflight(plan, registry, data)
    for info in plan.stages:
        record = registry.get("stage", info.type)
        if record.preflight is not None:
            resolve_factory(record.preflight)(info, checker)
    step("stages' preflight checks")
    return steps


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="quickstart")
    parser.add_argument("--repeat", type=int, default=5, help="processes per command (default 5)")
    args = parser.parse_args()
    python = sys.executable
    commands = {
        "compressor validate": [python, "-m", "compressor", "validate", args.recipe],
        "import torch (floor)": [python, "-c", "import torch"],
        "compressor plugins (no torch)": [python, "-m", "compressor", "plugins"],
    }
    print(f"{'command':32s} {'median':>8s} {'min':>7s} {'max':>7s} {'peak RSS':>10s}")
    for name, argv in commands.items():
        times, peak = measure(argv, args.repeat)
        print(
            f"{name:32s} {statistics.median(times):7.2f}s {min(times):6.2f}s {max(times):6.2f}s "
            f"{peak / 1024:7.0f} MiB"
        )
    print(f"\nvalidate's steps, in one process ({args.recipe}):")
    steps = breakdown(args.recipe)
    for name, seconds in steps:
        print(f"  {name:28s} {seconds:6.3f}s")
    print(
        f"  {'total':28s} {sum(s for _, s in steps):6.3f}s (interpreter start and exit not included)"
    )


if __name__ == "__main__":
    main()
