"""Does a streamed split's memory stay flat as the data grows? Peak RSS of one pass.

N generated 64x64 RGB uint8 images (each made from its index, so no files are needed) served
through :class:`compressor.data.StreamedSplit` with the deterministic preprocessing (to 0..1,
normalized) and worker processes, one pass in batches of 256. Each size runs in a fresh process;
the script prints the main process's peak RSS, the largest worker's, and what holding the same
split in memory would take (its decoded size; ``--in-memory`` measures it, by copying the split
into one tensor as ``data.in_memory: true`` does).

Arms: one per N (the same generator, preprocessing, workers and batch size; they differ only in
N), and with ``--in-memory`` the same split held in memory, differing only in that.

Usage:
    python benchmarks/streamed_rss.py [--sizes 2000 32000] [--workers 2] [--in-memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from torch.utils.data import Dataset

SIDE = 64


class GeneratedImages(Dataset):
    """``n`` random RGB images, image ``i`` drawn from a generator seeded with ``i``."""

    def __init__(self, n: int) -> None:
        # Labels in a numpy array, as docs/data.md asks of dataset plugins: no Python list.
        self.targets = np.arange(n, dtype=np.int64) % 10

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        pixels = np.random.default_rng(index).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
        return pixels, int(self.targets[index])


def one_size(n: int, workers: int, in_memory: bool) -> dict[str, float]:
    """One pass over ``n`` images in this process; peak RSS figures in MiB."""
    import gc

    from compressor.data import Preprocessing, StreamedSplit, batches, materialize

    split = StreamedSplit(
        GeneratedImages(n),
        preprocessing=Preprocessing(mean=(0.5,) * 3, std=(0.25,) * 3, value_range=(0, 255)),
        num_workers=workers,
    )
    split.take(np.arange(2))  # torchvision imported: what the process holds before the pass
    kib = 1024  # ru_maxrss is in KiB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib
    started = time.perf_counter()
    if in_memory:
        held = materialize(split, 256)
        seen = len(held)
    else:
        seen = sum(len(y) for _, _, y in batches(split, 256))
    seconds = time.perf_counter() - started
    split.close()
    gc.collect()  # the workers exit and are waited for: RUSAGE_CHILDREN counts them
    time.sleep(0.5)
    return {
        "n": n,
        "before_mib": before,
        "samples": seen,
        "seconds": seconds,
        "main_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib,
        "worker_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib,
        "decoded_mib": n * 3 * SIDE * SIDE * 4 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 32000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-memory", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.workers, args.in_memory)))
        return
    how = "copied into memory" if args.in_memory else f"streamed, {args.workers} workers"
    print(f"{SIDE}x{SIDE} RGB uint8 images, one pass in batches of 256, {how}")
    for n in args.sizes:
        command = [sys.executable, __file__, "--one", str(n), "--workers", str(args.workers)]
        done = subprocess.run(
            command + (["--in-memory"] if args.in_memory else []),
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  N={n:>7,}: peak RSS main {r['main_peak_mib']:7.1f} MiB "
            f"({r['main_peak_mib'] - r['before_mib']:+7.1f} MiB in the pass), largest worker "
            f"{r['worker_peak_mib']:6.1f} MiB (decoded size {r['decoded_mib']:7.1f} MiB), "
            f"{r['samples'] / r['seconds']:8,.0f} samples/s"
        )


if __name__ == "__main__":
    main()
