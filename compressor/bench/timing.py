"""Timing calls: cells, interleaved rounds, percentile summaries, and the figures they give.

Latency is the wall-clock time of one ``session.run`` call (``time.perf_counter``), inputs
already in host memory; with the CUDA provider it includes the host-device copies, as a
deployed service would see. Throughput and arithmetic speed are computed from a cell's median
call here, once, for every caller.

numpy is imported inside the functions that use it: the report imports this module's threshold
and thread label, and must load without numpy.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

#: Percentiles reported, as ``p50``, ``p90``, ...
PERCENTILES = (50, 90, 95, 99)
#: Round medians of one cell further apart than this (max / min - 1) mark it unstable.
UNSTABLE_SPREAD = 0.10


class RunsOnnx(Protocol):
    """What the measuring functions need from a session (an ``ort.InferenceSession``)."""

    def get_inputs(self) -> Any: ...

    def get_outputs(self) -> Any: ...

    def run(self, output_names: Any, input_feed: dict[str, Any]) -> Any: ...


def run_arguments(session: RunsOnnx, inputs: np.ndarray) -> tuple[list[str], dict[str, Any]]:
    """The output names and the input feed of a ``session.run`` call on ``inputs``.

    Every output is asked for, so that a timed call does all the work a deployment's does (a
    detector's boxes, scores and labels, its decoding and NMS included).

    Args:
        session: A model with one input.
        inputs: The batch to feed it.

    Returns:
        ``([every output's name], {input name: inputs})``.
    """
    names = [output.name for output in session.get_outputs()]
    return names, {session.get_inputs()[0].name: inputs}


def thread_label(threads: int | None) -> str:
    """How a thread count is written, in metrics keys and tables: the number, or ``default``.

    Args:
        threads: An intra-op thread count, ``None`` for the runtime's default.

    Returns:
        ``"default"`` or the count as text.
    """
    return "default" if threads is None else str(threads)


def throughput_per_s(batch: int, p50_ms: float) -> float:
    """Samples per second at ``batch`` from the median batch time.

    The median, not the mean: one slow call (a page fault, a scheduler hiccup) must not move
    the throughput.

    Args:
        batch: Samples per call.
        p50_ms: The median call, in milliseconds.

    Returns:
        ``batch`` per median call, in samples per second; infinite when the median is not
        positive (a call faster than the clock can tell).
    """
    return batch / (p50_ms / 1000.0) if p50_ms > 0 else float("inf")


def gflops(macs: float | None, batch: int, p50_ms: float) -> float | None:
    """Arithmetic speed from the median call: ``2 x MACs x batch`` operations per median call.

    Args:
        macs: Multiply-accumulates per sample (GOP/s for integer models).
        batch: Samples per call.
        p50_ms: The median call, in milliseconds.

    Returns:
        GFLOP/s, or ``None`` when ``macs`` is unknown (or zero) or the median is not positive.
    """
    if not macs or p50_ms <= 0:
        return None
    return 2.0 * macs * batch / (p50_ms / 1000.0) / 1e9


def summarize(times: list[float]) -> dict[str, float]:
    """Milliseconds per call from call times in seconds.

    Args:
        times: Seconds per timed call.

    Returns:
        ``p50``, ``p90``, ``p95``, ``p99``, ``mean`` and ``min`` in milliseconds; ``runs``,
        the number of calls.
    """
    import numpy as np

    ms = np.asarray(times) * 1000.0
    stats: dict[str, Any] = {
        f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(ms, PERCENTILES), strict=True)
    }
    stats["mean"] = float(ms.mean())
    stats["min"] = float(ms.min())
    stats["runs"] = len(times)
    return stats


def round_spread(medians: list[float]) -> float:
    """How far apart per-round medians are.

    Args:
        medians: The median call of each round.

    Returns:
        ``max / min - 1`` (0.25 = 25%); 0 for fewer than two rounds.
    """
    if len(medians) < 2 or min(medians) <= 0:
        return 0.0
    return max(medians) / min(medians) - 1.0


@dataclass
class Cell:
    """One thing to time: a session and the input it is called with.

    Attributes:
        session: The model (an ``ort.InferenceSession``).
        inputs: The input batch.
        key: What the caller needs to find the cell's figures again.
        times: Seconds per timed call, filled by :func:`time_cells`.
        round_medians: The median call of each round, in seconds.
    """

    session: RunsOnnx
    inputs: np.ndarray
    key: Any = None
    times: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)


def time_cells(
    cells: list[Cell],
    *,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
    rounds: int = 1,
    on_round: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """Time every cell: ``warmup`` untimed calls each, then at least ``repeat`` timed calls and at
    least ``min_seconds`` of them each, spread over ``rounds`` interleaved rounds.

    With several rounds each cell is timed in ``rounds`` slices visited in turn, so a burst of
    load from another process lands on every cell a little rather than on one cell entirely:
    the cells of one run are compared under the same conditions, and a cell's p50 does not
    depend on which second it happened to be measured in.

    Args:
        cells: What to time; each cell's ``times`` and ``round_medians`` are filled in.
        warmup: Untimed calls per cell before the first round.
        repeat: Timed calls per cell at least, over all rounds.
        min_seconds: Seconds of timed calls per cell at least, over all rounds.
        rounds: Interleaved rounds the timed calls are spread over.
        on_round: Called with the round's index after each round.

    Returns:
        One :func:`summarize` dict per cell, in order, with ``round_spread``: how far apart the
        slowest and the fastest round's medians are (0 with one round). Above
        :data:`UNSTABLE_SPREAD` the conditions changed while the cell was timed, and the
        report says so.
    """
    rounds = max(1, rounds)
    # As timeit does: a garbage collection pass inside a timed call is noise, not the model.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _run_rounds(cells, warmup, repeat, min_seconds, rounds, on_round)
    finally:
        if collecting:
            gc.enable()
    return [
        {**summarize(cell.times), "round_spread": round_spread(cell.round_medians)}
        for cell in cells
    ]


def _run_rounds(
    cells: list[Cell],
    warmup: int,
    repeat: int,
    min_seconds: float,
    rounds: int,
    on_round: Callable[[int], None] | None,
) -> None:
    """The timing loop of :func:`time_cells` (which owns the garbage collector around it)."""
    import numpy as np

    clock = time.perf_counter
    feeds = [run_arguments(cell.session, cell.inputs) for cell in cells]
    for cell, (outputs, feed) in zip(cells, feeds, strict=True):
        for _ in range(warmup):
            cell.session.run(outputs, feed)
    calls = -(-repeat // rounds)  # ceil: at least `repeat` calls in all
    seconds = min_seconds / rounds
    for index in range(rounds):
        for cell, (outputs, feed) in zip(cells, feeds, strict=True):
            done = 0
            started = clock()
            while done < calls or clock() - started < seconds:
                t0 = clock()
                cell.session.run(outputs, feed)
                cell.times.append(clock() - t0)
                done += 1
            cell.round_medians.append(float(np.median(cell.times[-done:])))
        if on_round is not None:
            on_round(index)


def measure_latency(
    session: RunsOnnx,
    inputs: np.ndarray,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
) -> dict[str, float]:
    """Time ``session.run`` on ``inputs``: ``warmup`` untimed calls, then at least ``repeat``
    timed calls, going on until they have taken at least ``min_seconds`` of wall-clock time.

    Args:
        session: The model.
        inputs: The batch it is called with.
        warmup: Untimed calls first.
        repeat: Timed calls at least.
        min_seconds: Seconds of timed calls at least.

    Returns:
        Milliseconds per call: ``p50``, ``p90``, ``p95``, ``p99``, ``mean``, ``min``; and
        ``runs``, the number of timed calls.
    """
    (stats,) = time_cells(
        [Cell(session, inputs)], warmup=warmup, repeat=repeat, min_seconds=min_seconds
    )
    return stats
