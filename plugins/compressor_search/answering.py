"""Answering latency requests: the designated latency worker's loop, and the lead's share.

A process that may not time (a pure trainer, or one off the target's host, or one on it while
another process is the designated latency worker) posts a request in the study: the graph's
fingerprint and the trial parameters that build it. The process that times for the target
rebuilds the graph from them (random weights time like trained ones), times it and keeps the
answer in the study (:class:`compressor_search.latency.LatencyBook`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from compressor import interrupt
from compressor_search.build import build_candidate
from compressor_search.graph import deploy, graph_hash
from compressor_search.latency import TIMER_KEY
from compressor_search.session import POLL_SECONDS, SearchSession
from compressor_search.space import candidate_of
from compressor_search.study import PHASE, counts


def answer_requests(session: SearchSession, folder: Path) -> int:
    """Time every open request for the target once; returns how many were answered."""
    book = session.book
    answered = 0
    for digest, request in book.open_requests().items():
        path = _rebuilt(session, request, folder)
        book.put(digest, session.measure(path))
        answered += 1
        if graph_hash(path) != digest:
            session.ctx.run.progress.warn(
                f"trial {request['trial']}: the graph rebuilt here differs from the one that "
                "asked for its latency (another exporter version?); timed it anyway"
            )
    return answered


def serve_latency(session: SearchSession, idle_seconds: float | None = None) -> int:
    """Be the target's designated latency worker: answer requests until the search ends.

    Each request names a graph by its fingerprint and the trial parameters that build it;
    the graph is rebuilt (random weights time like trained ones), timed here, and kept.

    Args:
        session: This worker's search.
        idle_seconds: Stop after this long without a request (``None``: when the search has
            moved on to its finalists and no trial runs).

    Returns:
        The graphs timed.
    """
    study, book = session.study, session.book
    timed, last = 0, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compressor-latency-") as scratch:
        while True:
            interrupt.check("the latency worker's loop")
            study.set_user_attr(
                f"{TIMER_KEY}:{book.target}", {"worker": session.worker, "beat": time.time()}
            )
            answered = answer_requests(session, Path(scratch))
            if answered:
                timed, last = timed + answered, time.monotonic()
            elif _search_over(session, last, idle_seconds):
                return timed
            time.sleep(POLL_SECONDS)


def _rebuilt(session: SearchSession, request: dict[str, Any], folder: Path) -> Path:
    """The deployed file of a requested trial, rebuilt from its parameters."""
    candidate = candidate_of(request["params"])
    number = int(request["trial"])
    seed = session.trial_seed(number)
    built = build_candidate(
        session.ctx,
        session.family(candidate.family),
        candidate,
        session.teacher,
        session.teacher_spec,
        seed=seed,
    )
    return deploy(
        session.ctx,
        session.exporter,
        built.model,
        folder,
        name=f"request-{number}",
        quantization=candidate.quantization,
        calibration_batches=session.opts.screening.calibration_batches,
        seed=seed,
    )


def _search_over(session: SearchSession, last: float, idle_seconds: float | None) -> bool:
    if idle_seconds is not None:
        return time.monotonic() - last >= idle_seconds
    return session.study.user_attrs.get(PHASE) == "final" and not counts(session.study)["running"]
