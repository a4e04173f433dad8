"""compressor.bench.timing: percentiles, the repeat and time rules, interleaved rounds, and the
throughput and GFLOP/s formulas."""

from __future__ import annotations

import time

import numpy as np
import pytest

from compressor.bench.session import batch_of, make_session
from compressor.bench.timing import (
    Cell,
    gflops,
    measure_latency,
    round_spread,
    summarize,
    thread_label,
    throughput_per_s,
    time_cells,
)

# The legacy exporter is used to make fixtures quickly; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


class CountingSession:
    """Wraps a real session and counts ``run`` calls."""

    def __init__(self, session) -> None:
        self.session = session
        self.calls = 0

    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def run(self, output_names, feed):
        self.calls += 1
        return self.session.run(output_names, feed)


class FakeSession:
    """No model: counts ``run`` calls, each taking ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    def get_inputs(self):
        return [type("I", (), {"name": "input"})()]

    def get_outputs(self):
        return [type("O", (), {"name": "logits"})()]

    def run(self, outputs, feed):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)


def test_latency_percentiles_are_ordered_and_repeat_is_respected(model_and_file, split) -> None:
    _, path = model_and_file
    session = CountingSession(make_session(path, threads=1))
    stats = measure_latency(session, batch_of(split, 4), warmup=3, repeat=25, min_seconds=0.0)
    assert session.calls == 3 + 25 and stats["runs"] == 25
    assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"]
    assert stats["min"] <= stats["mean"]


def test_min_seconds_extends_the_measurement(model_and_file, split) -> None:
    _, path = model_and_file
    session = make_session(path)
    started = time.perf_counter()
    stats = measure_latency(session, batch_of(split, 1), warmup=0, repeat=1, min_seconds=0.05)
    assert time.perf_counter() - started >= 0.05
    # The calls fill most of that time; the rest is the loop's own clock reads, which for a
    # model of a few microseconds per call can be 10% or more (so no tighter bound here).
    assert stats["runs"] > 1 and stats["runs"] * stats["mean"] >= 0.05 * 1000 * 0.5


def test_summary_is_in_milliseconds() -> None:
    stats = summarize([0.001, 0.002, 0.003, 0.004, 0.010])
    assert stats["p50"] == pytest.approx(3.0) and stats["min"] == pytest.approx(1.0)
    assert stats["mean"] == pytest.approx(4.0) and stats["runs"] == 5
    assert stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"] <= 10.0


def test_interleaved_rounds_share_repeat_and_time() -> None:
    a, b = FakeSession(), FakeSession()
    order: list[int] = []
    stats = time_cells(
        [Cell(a, np.zeros(1)), Cell(b, np.zeros(1))],
        warmup=2,
        repeat=10,
        min_seconds=0.0,
        rounds=3,
        on_round=order.append,
    )
    # ceil(10 / 3) = 4 calls per round and cell: at least `repeat` in all.
    assert [s["runs"] for s in stats] == [12, 12] and a.calls == b.calls == 2 + 12
    assert order == [0, 1, 2]


def test_round_spread_tells_when_conditions_changed() -> None:
    # One session on a machine that gets slower each round, one on a steady machine.
    steady, slowing = FakeSession(0.002), FakeSession(0.002)

    def next_round(index: int) -> None:
        slowing.delay = 0.002 * (2 + index)  # rounds after the first take 2x, 3x ... as long

    stats = time_cells(
        [Cell(steady, np.zeros(1)), Cell(slowing, np.zeros(1))],
        warmup=1,
        repeat=30,  # ten calls a round: one preempted sleep on a busy machine moves no median
        min_seconds=0.0,
        rounds=3,
        on_round=next_round,
    )
    assert stats[0]["round_spread"] < 0.10 and stats[1]["round_spread"] > 1.5
    assert round_spread([1.0]) == 0.0 and round_spread([2.0, 1.0, 1.5]) == 1.0


def test_one_round_has_no_spread() -> None:
    (stats,) = time_cells([Cell(FakeSession(), np.zeros(1))], warmup=0, repeat=3, min_seconds=0)
    assert stats["round_spread"] == 0.0 and stats["runs"] == 3


def test_throughput_is_the_batch_over_the_median_call() -> None:
    assert throughput_per_s(64, 2.0) == pytest.approx(32_000.0)
    assert throughput_per_s(1, 0.0) == float("inf")  # faster than the clock can tell


def test_gflops_counts_two_operations_per_mac() -> None:
    assert gflops(1_000_000, 8, 2.0) == pytest.approx(2 * 1e6 * 8 / 0.002 / 1e9)
    assert gflops(None, 8, 2.0) is None and gflops(0, 8, 2.0) is None
    assert gflops(1_000_000, 8, 0.0) is None


def test_thread_label_is_the_count_or_default() -> None:
    assert thread_label(None) == "default" and thread_label(2) == "2"
