"""``mode: auto`` of the ``quantize`` stage: build INT8 candidates, measure them, keep one.

INT8 is not faster by itself: a graph's speed in onnxruntime depends on which kernels its
Quantize/Dequantize pairs let it use, and that differs by model and machine (on this project's
2-core x86 VM a ResNet-18 ran 3-10x faster as static INT8, a MobileNet-v3-small no faster than
FP32, and dynamic INT8 convolutions ran slower than FP32 everywhere). So the stage measures
instead of guessing: every candidate (:data:`CANDIDATES`) is built, its accuracy measured on the
split the stage chooses on (validation unless the recipe says ``split: test``) as the FP32
file's is, and all of them, FP32 included, are timed in one process in
interleaved rounds (:func:`compressor.bench.timing.time_cells`) at each batch size of
``auto_batches`` on ``threads`` intra-op threads.

The rule (:func:`choose`): an INT8 candidate qualifies when it loses at most
``max_accuracy_drop`` points (1.0 by default) and is at least ``min_speedup`` times faster than
FP32 at *every* timed batch size; of those, the one with the largest geometric mean speedup
over the batch sizes is kept. With none, FP32 is kept, and the stage says why.

This module owns the candidates, their timing and the rule; :mod:`compressor_stages.quantize`
builds each candidate's file and measures its accuracy.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compressor.atomic import atomic_path
from compressor.errors import StageFailure

#: The INT8 candidates ``auto`` builds, in the order they are reported.
CANDIDATES = ("static", "dynamic")
#: The name the FP32 file goes by among the candidates.
FP32 = "fp32"
#: Interleaved timing rounds per cell: a burst of load lands on every candidate a little.
ROUNDS = 3
#: Untimed calls per cell before the first round (allocations, caches).
WARMUP = 2


@dataclass
class Candidate:
    """One file the stage may keep, and what was measured of it.

    Attributes:
        name: ``fp32`` or the INT8 mode that built it.
        path: The file; ``None`` when it could not be built.
        accuracy: The task's headline metric (0..1: top-1 accuracy, mAP) on the split the
            stage chooses on.
        facts: What :func:`~compressor_stages.quantize_onnx.quantize_file` said of it, and
            ``calibration_samples``.
        p50_ms: Median call per timed batch size, in milliseconds.
        error: Why it could not be built.
    """

    name: str
    path: Path | None = None
    accuracy: float = float("nan")
    facts: dict[str, Any] = field(default_factory=dict)
    p50_ms: dict[int, float] = field(default_factory=dict)
    error: str | None = None

    def speedups(self, fp32: Candidate) -> dict[int, float]:
        """FP32's median over this candidate's, per batch size (> 1: this one is faster)."""
        return {b: fp32.p50_ms[b] / ms for b, ms in self.p50_ms.items() if ms > 0}

    def delta_points(self, fp32: Candidate) -> float:
        """Metric points gained against FP32 (negative: lost)."""
        return 100.0 * (self.accuracy - fp32.accuracy)


@dataclass(frozen=True)
class Choice:
    """The candidate kept and the reason, in one sentence for the console and the report."""

    kept: str
    reason: str


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else 0.0


def _speedup_words(speedups: dict[int, float]) -> str:
    """``3.10× at batch 1, 2.95× at batch 32``."""
    return ", ".join(f"{s:.2f}× at batch {b}" for b, s in sorted(speedups.items()))


def describe(candidate: Candidate, fp32: Candidate, label: str = "val accuracy") -> str:
    """One candidate in a few words: its speedups and metric change (``label``: accuracy,
    mAP), or why it was not built."""
    if candidate.error is not None:
        return f"{candidate.name}: not built ({candidate.error})"
    return (
        f"{candidate.name}: {_speedup_words(candidate.speedups(fp32))}, {label} "
        f"{candidate.delta_points(fp32):+.2f} points"
    )


def choose(
    fp32: Candidate,
    int8: list[Candidate],
    *,
    max_drop: float | None,
    min_speedup: float,
    label: str = "val accuracy",
) -> Choice:
    """The fastest INT8 candidate that is accurate enough and faster everywhere, else FP32.

    Args:
        fp32: The FP32 file, timed and measured.
        int8: The INT8 candidates, timed at the same batch sizes (or with ``error`` set).
        max_drop: Metric points a candidate may lose; ``None``: any.
        min_speedup: How many times faster than FP32 a candidate must be at every batch size.
        label: How the metric is named in the reason, with the split it was measured on
            (``val accuracy``, ``val mAP@[.5:.95]``).

    Returns:
        The :class:`Choice`; its reason names the kept candidate's figures and every other's.
    """
    qualified = []
    for candidate in int8:
        if candidate.error is not None or not candidate.p50_ms:
            continue
        accurate = max_drop is None or -candidate.delta_points(fp32) <= max_drop
        speedups = candidate.speedups(fp32)
        fast = len(speedups) == len(fp32.p50_ms) and min(speedups.values()) >= min_speedup
        if accurate and fast:
            qualified.append((_geomean(list(speedups.values())), candidate))
    if max_drop is None:
        limit = f"any {label}"
    else:
        limit = f"at most {max_drop:g} {label} point{'' if max_drop == 1 else 's'} lost"
    if not qualified:
        others = "; ".join(describe(c, fp32, label) for c in int8)
        return Choice(
            FP32,
            f"kept FP32: no INT8 candidate was {min_speedup:g}× faster at every batch size "
            f"with {limit} ({others})",
        )
    best = max(qualified, key=lambda pair: pair[0])[1]
    others = "; ".join(describe(c, fp32, label) for c in int8 if c is not best)
    return Choice(
        best.name,
        f"kept {best.name} INT8: {_speedup_words(best.speedups(fp32))} faster than FP32, "
        f"{label} {best.delta_points(fp32):+.2f} points" + (f" ({others})" if others else ""),
    )


def time_candidates(
    candidates: list[Candidate], inputs: dict[int, np.ndarray], *, threads: int, seconds: float
) -> None:
    """Fill each built candidate's ``p50_ms``: all timed in one set of interleaved rounds.

    Args:
        candidates: FP32 and the INT8 candidates; those without a file are skipped.
        inputs: Batch size -> a batch as the files take it.
        threads: onnxruntime intra-op threads.
        seconds: Timed seconds per candidate and batch size, over all rounds.
    """
    # Imported here: the session module imports onnxruntime, needed only to time files.
    from compressor.bench.session import make_session
    from compressor.bench.timing import Cell, time_cells

    cells = []
    for candidate in candidates:
        if candidate.path is None:
            continue
        session = make_session(candidate.path, threads=threads)
        cells += [Cell(session, batch, key=(candidate, b)) for b, batch in inputs.items()]
    stats = time_cells(cells, warmup=WARMUP, repeat=ROUNDS, min_seconds=seconds, rounds=ROUNDS)
    for cell, figures in zip(cells, stats, strict=True):
        candidate, batch_size = cell.key
        candidate.p50_ms[batch_size] = figures["p50"]


def candidate_figures(
    candidate: Candidate, fp32: Candidate, key: str = "val_accuracy"
) -> dict[str, Any]:
    """One candidate's figures for ``metrics.json`` (batch sizes as text: JSON keys); the
    metric under its ``key``, named by the split it was measured on (``val_accuracy``,
    ``val_map``)."""
    if candidate.error is not None or candidate.path is None:
        return {"error": candidate.error}
    figures: dict[str, Any] = {
        "file_bytes": candidate.path.stat().st_size,
        key: candidate.accuracy,
    }
    figures["p50_ms"] = {str(b): ms for b, ms in sorted(candidate.p50_ms.items())}
    if candidate is not fp32:
        figures[f"{key}_delta_points"] = candidate.delta_points(fp32)
        figures["speedup"] = {str(b): s for b, s in sorted(candidate.speedups(fp32).items())}
        figures.update(candidate.facts)
    return figures


def quantize_auto(
    source: Path,
    target: Path,
    *,
    build: Callable[[str, Path], dict[str, Any]],
    accuracy: Callable[[Path], float],
    inputs: dict[int, np.ndarray],
    opts: Any,
    metric: tuple[str, str] = ("accuracy", "accuracy"),
) -> tuple[Choice, dict[str, Any], dict[str, Any]]:
    """Build every candidate, measure them next to ``source``, write the kept one to ``target``.

    Args:
        source: The FP32 file.
        target: Where the kept file goes (the FP32 graph itself when FP32 is kept), atomically.
        build: ``build(mode, path)`` writes that INT8 candidate to ``path`` and returns its
            facts; a :class:`StageFailure` marks the candidate as not built.
        accuracy: The task's headline metric of a file on the split the stage chooses on
            (``opts.split``, validation unless the recipe says test).
        inputs: Batch size -> a batch as the file takes it, for the timing.
        opts: The stage's :class:`~compressor_stages.options.QuantizeOptions`.
        metric: The metric's ``(key, label)``: how figures and the reason name it.

    Returns:
        The :class:`Choice`, every candidate's figures (``fp32`` first), and the kept
        candidate's facts (``{}`` for FP32).

    Raises:
        StageFailure: No INT8 candidate could be built; the message gives each one's reason.
    """
    fp32 = Candidate(FP32, path=source, accuracy=accuracy(source))
    with tempfile.TemporaryDirectory(prefix="compressor-auto-") as scratch:
        int8 = []
        for mode in CANDIDATES:
            candidate = Candidate(mode)
            path = Path(scratch) / f"{mode}.onnx"
            try:
                candidate.facts = build(mode, path)
            except StageFailure as error:
                candidate.error = str(error)
            else:
                candidate.path = path
                candidate.accuracy = accuracy(path)
            int8.append(candidate)
        if all(c.path is None for c in int8):
            reasons = "; ".join(f"{c.name}: {c.error}" for c in int8)
            raise StageFailure(f"no INT8 candidate of {source.name} could be built ({reasons})")
        time_candidates([fp32, *int8], inputs, threads=opts.threads, seconds=opts.auto_seconds)
        key, label = metric
        choice = choose(
            fp32,
            int8,
            max_drop=opts.accuracy_limit,
            min_speedup=opts.min_speedup,
            label=f"{opts.split} {label}",
        )
        # Only built candidates are timed, and only timed ones can be chosen: kept has a file.
        kept = next((c for c in int8 if c.name == choice.kept and c.path), fp32)
        with atomic_path(target) as tmp:
            shutil.copyfile(kept.path or source, tmp)
        named = f"{opts.split}_{key}"
        figures = {c.name: candidate_figures(c, fp32, named) for c in [fp32, *int8]}
    return choice, figures, kept.facts
