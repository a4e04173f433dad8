"""Latency of deployed files on the budget's target, measured once per graph.

Each file is timed in interleaved rounds beside onnxruntime's per-call floor (an Identity
model, :mod:`compressor.bench.limits`), so a burst of load from another process lands on both:
the p50, the fastest and slowest round medians (the lower and upper bounds a decision reads)
and the p50 as a multiple of the floor come from the same rounds.

Measurements are kept in the study, keyed by the target (host, batch, threads) and the graph's
fingerprint (:func:`compressor_search.graph.graph_hash`): a candidate whose graph was timed
before, by this process, an earlier run resumed or another worker, is not timed again.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from compressor_search.options import Budget, Timing

#: Study attribute prefixes: a measurement, a request for one, a designated timer's heartbeat.
LATENCY_KEY = "latency"
REQUEST_KEY = "request"
TIMER_KEY = "timer"


@dataclass(frozen=True)
class Latency:
    """One file's latency on the target.

    Attributes:
        p50_ms: Median call over every round.
        low_ms: The fastest round's median (lower bound).
        high_ms: The slowest round's median (upper bound: what a decision must meet).
        floor_ms: The per-call floor's median, timed in the same rounds.
        runs: Timed calls.
        round_vs_floor: The largest ratio of a round's median to the floor's median in the
            same round (0: unknown). A burst of load slows both alike, so this upper bound of
            the multiple of the floor holds on a busy machine where ``high_ms`` does not.
    """

    p50_ms: float
    low_ms: float
    high_ms: float
    floor_ms: float
    runs: int
    round_vs_floor: float = 0.0

    @property
    def spread(self) -> float:
        """How far apart the slowest and fastest rounds are (0.1: 10%)."""
        return self.high_ms / self.low_ms - 1.0 if self.low_ms > 0 else 0.0

    @property
    def vs_floor(self) -> float:
        """The p50 as a multiple of the floor."""
        return self.p50_ms / self.floor_ms if self.floor_ms > 0 else float("inf")

    @property
    def high_vs_floor(self) -> float:
        """The upper bound as a multiple of the floor: the slowest round against the floor in
        that same round (the slowest round against the floor's median when unknown)."""
        if self.round_vs_floor > 0:
            return self.round_vs_floor
        return self.high_ms / self.floor_ms if self.floor_ms > 0 else float("inf")

    def as_dict(self) -> dict[str, float]:
        """Plain values, with the spread and the multiples of the floor."""
        return {
            **asdict(self),
            "spread": self.spread,
            "vs_floor": self.vs_floor,
            "high_vs_floor": self.high_vs_floor,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Latency:
        """The inverse of :meth:`as_dict` (fields added later take their defaults)."""
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


def target_label(budget: Budget, host: str | None = None) -> str:
    """The target a latency belongs to: ``host/b1/t1``."""
    return f"{host or platform.node() or 'host'}/b{budget.batch}/t{budget.threads}"


def timing_input(path: Path, ctx: Any, batch: int) -> np.ndarray:
    """A batch of real validation samples, fed as ``path`` takes them."""
    from compressor.bench.session import batch_of
    from compressor.onnx.inspection import input_spec, load_onnx, to_model_inputs

    spec = input_spec(load_onnx(path))
    return to_model_inputs(batch_of(ctx.data.val, batch), spec, ctx.data.mean, ctx.data.std)


def time_files(
    files: list[tuple[Path, np.ndarray]], *, threads: int, timing: Timing, longer: float = 1.0
) -> list[Latency]:
    """Time ``files`` and the per-call floor in the same interleaved rounds.

    Args:
        files: Each file with the batch it is called with.
        threads: onnxruntime intra-op threads.
        timing: Rounds, seconds per file and warm-up calls.
        longer: Time each round this many times longer (a round's median steadier); the
            finalists' decisive timing uses it.

    Returns:
        One :class:`Latency` per file, in order.
    """
    from compressor.bench.limits import limit_cells
    from compressor.bench.session import make_session
    from compressor.bench.timing import Cell, time_cells

    cells = [Cell(make_session(path, threads=threads), x, key=str(path)) for path, x in files]
    floor = limit_cells([threads])[0]  # (floor, peak): the floor is all a latency needs
    stats = time_cells(
        [*cells, floor],
        warmup=timing.warmup,
        repeat=timing.rounds,
        min_seconds=timing.seconds * longer,
        rounds=timing.rounds,
    )
    floor_ms = stats[-1]["p50"]
    floor_rounds = floor.round_medians
    return [
        Latency(
            p50_ms=figures["p50"],
            low_ms=1000.0 * min(cell.round_medians),
            high_ms=1000.0 * max(cell.round_medians),
            floor_ms=floor_ms,
            runs=int(figures["runs"]),
            round_vs_floor=max(
                mine / theirs
                for mine, theirs in zip(cell.round_medians, floor_rounds, strict=True)
                if theirs > 0
            ),
        )
        for cell, figures in zip(cells, stats[:-1], strict=True)
    ]


class LatencyBook:
    """Latencies kept in the study's attributes, shared by every worker and every resume.

    Args:
        study: The optuna study.
        target: :func:`target_label` of the budget.
    """

    def __init__(self, study: Any, target: str) -> None:
        self.study = study
        self.target = target
        self.hits = 0
        self.measured = 0

    def _key(self, prefix: str, digest: str) -> str:
        return f"{prefix}:{self.target}:{digest}"

    def get(self, digest: str) -> Latency | None:
        """The latency of the graph ``digest`` on the target, if it was measured."""
        found = self.study.user_attrs.get(self._key(LATENCY_KEY, digest))
        return Latency.from_dict(found) if found else None

    def put(self, digest: str, latency: Latency) -> None:
        """Keep a measurement."""
        self.study.set_user_attr(self._key(LATENCY_KEY, digest), latency.as_dict())

    def request(self, digest: str, params: dict[str, Any], trial: int) -> None:
        """Ask the designated latency worker to time the graph a trial's parameters build."""
        self.study.set_user_attr(self._key(REQUEST_KEY, digest), {"params": params, "trial": trial})

    def open_requests(self) -> dict[str, dict[str, Any]]:
        """Requests for this target without an answer yet: digest -> request."""
        attrs = self.study.user_attrs
        prefix = f"{REQUEST_KEY}:{self.target}:"
        return {
            key[len(prefix) :]: value
            for key, value in attrs.items()
            if key.startswith(prefix) and self._key(LATENCY_KEY, key[len(prefix) :]) not in attrs
        }


def floor_ms(threads: int, timing: Timing) -> float:
    """onnxruntime's per-call floor on this machine (an Identity model at batch 1), in ms."""
    from compressor.bench.limits import limit_cells
    from compressor.bench.timing import time_cells

    floor = limit_cells([threads])[0]
    (stats,) = time_cells(
        [floor], warmup=timing.warmup, repeat=timing.rounds, min_seconds=0.05, rounds=timing.rounds
    )
    return float(stats["p50"])
