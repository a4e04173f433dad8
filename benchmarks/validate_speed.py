"""How fast does ``compressor validate`` answer, and where does its time go?

Prints, for one recipe (default: the shipped ``quickstart``):

1. the wall time (median and range over ``--repeat`` fresh processes) and peak resident memory
   of ``python -m compressor validate RECIPE``;
2. the same for two floors measured alongside, interleaved with it (one process of each in
   turn): ``python -c "import torch"`` (the dataset and the untrained models the checks need
   are torch objects, so validate cannot answer faster than torch imports) and
   ``python -m compressor plugins`` (the CLI and the registry, no torch);
3. where the real command spends its time: ``compressor validate RECIPE`` run in one process
   through the CLI's own entry point (``compressor.cli.main.main``), with the functions it
   calls wrapped to time themselves. Nothing is re-implemented here, so the breakdown cannot
   drift from the command; whatever the wrapped steps do not cover is printed as "the rest".

Arms of 1-2: the three commands, each in fresh processes; they differ in what they import and
check. Goal (issue 20): validate answers in under 3 s on quickstart.yaml with every check kept.
No figure is asserted: machines differ, and a shared machine's load moves every figure.

Usage:
    python benchmarks/validate_speed.py
    python benchmarks/validate_speed.py mnist_seed --repeat 7
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(commands: dict[str, list[str]], repeat: int) -> dict[str, tuple[list[float], int]]:
    """Run every command ``repeat`` times, interleaved (one of each in turn); per command the
    wall times and the largest peak RSS in KiB."""
    found: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            started = time.perf_counter()
            process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - started
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"{' '.join(argv)} failed")
            times, peak = found[name]
            found[name] = ([*times, elapsed], max(peak, usage.ru_maxrss))
    return found


#: The functions the real command calls, wrapped where the command looks them up:
#: (module, attribute). validate() imports load_data and run_preflight at call time, and
#: run_preflight looks check_factories up as a module global and Preflight.build on the class.
WRAPPED = (
    ("compressor.cli.validate", "registry_for"),
    ("compressor.recipe", "load"),
    ("compressor.preflight", "load_data"),
    ("compressor.preflight", "run_preflight"),
    ("compressor.preflight", "check_factories"),
    ("compressor.preflight:Preflight", "build"),
)


def breakdown(recipe_path: str) -> list[tuple[str, float]]:
    """The seconds the real ``compressor validate`` spends per step, in this process.

    Returns:
        (step, seconds) in order; they add up to the command's time in this process.
    """
    import importlib

    spent: dict[str, float] = {}

    def timed(function, key):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - began

        return wrapper

    started = time.perf_counter()
    from compressor.cli.main import main as cli_main  # what every command imports first

    cli_import = time.perf_counter() - started
    for where, attribute in WRAPPED:
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        setattr(owner, attribute, timed(getattr(owner, attribute), attribute))
    began = time.perf_counter()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        code = cli_main(["validate", recipe_path])
    total = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"compressor validate {recipe_path} exited {code}")
    top = ("registry_for", "load", "load_data", "run_preflight")
    inside = spent.get("check_factories", 0.0) + spent.get("build", 0.0)
    return [
        ("import the CLI", cli_import),
        ("load the registry", spent.get("registry_for", 0.0)),
        ("resolve the recipe", spent.get("load", 0.0)),
        ("load the data (decode=False)", spent.get("load_data", 0.0)),
        ("import every factory", spent.get("check_factories", 0.0)),
        ("build every model", spent.get("build", 0.0)),
        ("stages' preflight checks", spent.get("run_preflight", 0.0) - inside),
        ("the rest (parsing, logging, printing)", total - sum(spent.get(k, 0.0) for k in top)),
    ]


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
    for name, (times, peak) in measure(commands, args.repeat).items():
        print(
            f"{name:32s} {statistics.median(times):7.2f}s {min(times):6.2f}s {max(times):6.2f}s "
            f"{peak / 1024:7.0f} MiB"
        )
    print(f"\nthe real validate command's steps, in one process ({args.recipe}):")
    steps = breakdown(args.recipe)
    for name, seconds in steps:
        print(f"  {name:40s} {seconds:6.3f}s")
    print(
        f"  {'total':40s} {sum(s for _, s in steps):6.3f}s (interpreter start and exit not included)"
    )


if __name__ == "__main__":
    main()
