"""Real image folders at scale: training throughput and the process tree's peak memory.

For each N (2,000, 8,000, 32,000 by default) an image folder of N 64x64 JPEG files in 10
class subfolders is generated once (cached under ``--cache``, by default the temp dir), then a
small CNN trains one epoch on it through the real run path (``compressor run`` of a one-stage
recipe on ``image_folder``, ``data.preprocess`` normalizing with ``auto`` statistics), twice:
streamed through 2 ``DataLoader`` workers (``in_memory: false``) and held in memory
(``in_memory: true``, decoded up front by the same 2 workers). Each configuration runs in a
fresh process, so each peak is its own; a thread samples the whole process tree (the run and its
workers) every 50 ms from /proc: the sum of resident sizes (RSS; pages a worker shares with the
process it forked from count in both) and of proportional sizes (PSS; shared pages split
between the processes sharing them, so the sum is what the tree really holds).

Printed: per configuration, the training epoch's samples/s (the train stage's
``samples_per_second``), the run's seconds (loading included: the in-memory path decodes
everything before the first step), and both peaks; then the two ratios issue 18 sets goals
for: streamed peak RSS at the largest N / at the smallest (goal <= 1.3x), and streamed
throughput / in-memory throughput at 8,000 (goal >= 0.7x).

Arms, per N: ``streamed`` (``in_memory: false``) and ``in memory`` (``in_memory: true``): the
same folder, recipe, model, seed and workers, each in a fresh process; they differ only in
whether the decoded images are held in memory. The sizes are arms too: the same streamed
recipe on N images, differing only in N.

Usage:
    python benchmarks/data_scale.py [--sizes 2000 8000 32000] [--workers 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

SIDE = 64
CLASSES = 10
#: How often the sampler reads the process tree's memory.
SAMPLE_SECONDS = 0.05


def generate(root: Path, n: int) -> Path:
    """``root/N/``: ``n`` 64x64 JPEGs in 10 class folders, made once (a marker says it is whole).

    Each class has its own colour; each image adds seeded noise and a shifted gradient, so a
    CNN has something to learn and the JPEGs are of a realistic size (about 2 KB).
    """
    from PIL import Image

    folder = root / str(n)
    marker = folder / ".complete"
    if marker.exists():
        return folder
    ramp = np.linspace(0, 60, SIDE, dtype=np.float32)
    for i in range(n):
        label = i % CLASSES
        rng = np.random.default_rng(i)
        colour = np.array([25 * label, 255 - 25 * label, 120], dtype=np.float32)
        shift = rng.integers(0, SIDE)
        pixels = colour + np.roll(ramp, shift)[None, :, None] + rng.normal(0, 20, (SIDE, SIDE, 3))
        path = folder / f"class_{label}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    marker.write_text(str(n))
    return folder


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def tree_memory(pid: int) -> tuple[int, int]:
    """The summed RSS and PSS of ``pid``'s process tree, in bytes (from smaps_rollup)."""
    rss = pss = 0
    for member in _tree(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue  # a worker that just exited
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


class PeakSampler(threading.Thread):
    """Samples :func:`tree_memory` of this process until stopped; keeps the peaks."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_rss = self.peak_pss = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            rss, pss = tree_memory(os.getpid())
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.done.wait(SAMPLE_SECONDS)


def recipe(folder: Path, in_memory: bool, workers: int) -> dict[str, Any]:
    """One epoch of a small CNN on ``folder``, 90% of it for training."""
    return {
        "version": 1,
        "name": "data_scale",
        "seed": 0,
        "device": "cpu",
        "data": {
            "dataset": "image_folder",
            "options": {"train_root": str(folder), "val_fraction": 0.05, "test_fraction": 0.05},
            "batch_size": 64,
            "in_memory": in_memory,
            "num_workers": workers,
            "memory_budget": "8GiB",
            "preprocess": {"mean": "auto", "std": "auto"},
        },
        "stages": [
            {
                "name": "model",
                "type": "train",
                "model": {"name": "seed_cnn", "options": {"channels": [8, 16], "hidden": 32}},
                "epochs": 1,
                "optimizer": {"name": "adam", "lr": 0.002},
            }
        ],
    }


def one(folder: Path, in_memory: bool, workers: int) -> dict[str, Any]:
    """Run the recipe in this process; its figures and the tree's peaks."""
    import yaml

    from compressor.cli import main as cli

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe(folder, in_memory, workers)))
        sampler = PeakSampler()
        sampler.start()
        started = time.perf_counter()
        code = cli(["run", str(path), "--out", f"{scratch}/run", "--quiet", "--no-cache"])
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        if code != 0:
            raise SystemExit(f"the run failed with exit code {code}")
        metrics = json.loads(Path(f"{scratch}/run/metrics.json").read_text())
    stage = metrics["stages"]["model"]
    return {
        "samples_per_second": stage["samples_per_second"],
        "test_accuracy": stage["test_accuracy"],
        "seconds": seconds,
        "peak_rss": sampler.peak_rss,
        "peak_pss": sampler.peak_pss,
        "in_memory": metrics["data"]["in_memory"],
        "train": metrics["data"]["sizes"]["train"],
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "data_scale")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.in_memory, args.workers)))
        return
    results: dict[tuple[int, str], dict[str, Any]] = {}
    print(f"{SIDE}x{SIDE} JPEG folders, seed_cnn one epoch, batch 64, {os.cpu_count()} cores")
    print("| images | path | train samples/s | run seconds | peak RSS (tree) | peak PSS (tree) |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.sizes:
        folder = generate(args.cache, n)
        for path in ("streamed", "in memory"):
            command = [
                sys.executable,
                __file__,
                "--one",
                str(folder),
                "--workers",
                str(args.workers),
            ]
            if path == "in memory":
                command.append("--in-memory")
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            r = results[n, path] = json.loads(done.stdout.strip().splitlines()[-1])
            assert r["in_memory"] is (path == "in memory")
            how = f"{path}, {args.workers} workers" if path == "streamed" else path
            print(
                f"| {n:,} | {how} | {r['samples_per_second']:,.0f} | {r['seconds']:.1f} | "
                f"{_mib(r['peak_rss'])} | {_mib(r['peak_pss'])} |",
                flush=True,
            )
    small, large = min(args.sizes), max(args.sizes)
    if small != large:
        ratio = results[large, "streamed"]["peak_rss"] / results[small, "streamed"]["peak_rss"]
        pss = results[large, "streamed"]["peak_pss"] / results[small, "streamed"]["peak_pss"]
        print(f"streamed peak RSS, {large:,} / {small:,} images: {ratio:.2f}x (goal <= 1.3x); "
              f"PSS {pss:.2f}x")  # fmt: skip
    if 8000 in args.sizes:
        speed = (
            results[8000, "streamed"]["samples_per_second"]
            / results[8000, "in memory"]["samples_per_second"]
        )
        print(f"streamed / in-memory training throughput at 8,000 images: {speed:.2f}x "
              "(goal >= 0.7x)")  # fmt: skip


if __name__ == "__main__":
    main()
