"""Trials: each candidate climbs the rungs, cheapest first, as far as it deserves.

1. **Analytic**: the starting model's parameters and MACs, and its deployed file (exported,
   quantized) and that file's size, with no training and no timing. A candidate over one of
   these stops here, untimed: the study records the slowest latency measured so far as its
   value, and its constraint values rank it.
2. **Graph**: its latency on the target, measured once per graph
   (:mod:`compressor_search.latency`). A candidate over a latency constraint stops here: the
   sampler learns from its constraint values, and no training is spent on it.
3. **Zero-shot** (the pruned teacher): the score before training, BatchNorm recalibrated; it
   goes on only if few earlier candidates beat it (:func:`~compressor_search.screening.promoted`).
4. **Short distillation**: the score the study ranks it by.

The study gets ``(latency p50, score)``, the score of the last rung reached (a candidate that
never got one gets the metric's worst value), and the cost constraints' values. Full
distillation, INT8 and onnxruntime's verdict are for the finalists only
(:mod:`compressor_search.finals`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from compressor import interrupt
from compressor.errors import StageFailure, one_line
from compressor_search.answering import answer_requests
from compressor_search.budget import Figures, meets, standing, violations
from compressor_search.build import build_candidate
from compressor_search.graph import deploy, graph_hash
from compressor_search.screening import promoted, short_distillation, zero_shot
from compressor_search.session import SearchSession
from compressor_search.space import suggest
from compressor_search.study import CONSTRAINTS, INTERRUPTED, PHASE, WORKER, counts

#: Trial attributes: the candidate, what was measured, the last rung reached and its score.
CANDIDATE, FIGURES, RUNG, SCORE, ZERO_SHOT = "candidate", "figures", "rung", "score", "zero_shot"
#: The rungs, in order.
RUNGS = ("analytic", "graph", "zero_shot", "short")
#: Trials failing one after another before the search gives up.
MAX_FAILURES_IN_A_ROW = 5


def _record(trial: optuna.Trial, figures: Figures, rows: dict[str, Any]) -> None:
    """Keep what was measured and the cost constraints' values (the sampler reads them)."""
    latency = figures.latency.as_dict() if figures.latency is not None else None
    trial.set_user_attr(
        FIGURES,
        {
            "params": figures.params,
            "macs": figures.macs,
            "size_bytes": figures.size_bytes,
            "latency": latency,
            "standing": rows,
        },
    )
    trial.set_user_attr(CONSTRAINTS, violations(rows))
    for name, value in zip(rows, violations(rows), strict=True):
        trial.set_constraint(name, value)  # NSGA-II and TPE rank infeasible trials last


def _slowest_so_far(session: SearchSession) -> float:
    """The study's value for a candidate never timed: the slowest p50 measured so far (its
    constraint values, not this, rank it among the infeasible)."""
    found = [
        t.values[0]
        for t in session.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and (t.user_attrs.get(FIGURES) or {}).get("latency")
    ]
    return max(found, default=1.0)


def _costs(
    session: SearchSession, trial: optuna.Trial, model: Any, figures: Figures, seed: int
) -> dict[str, dict[str, Any]]:
    """The analytic and graph rungs: deploy the model to a scratch folder, its file size; then,
    unless an analytic constraint (size, MACs, parameters) already fails, its latency.

    Returns:
        The cost constraints' standing (latency unmeasured, ``None``, when not timed).
    """
    opts, metric = session.opts, session.metric
    candidate = trial.user_attrs[CANDIDATE]
    with tempfile.TemporaryDirectory(prefix="compressor-search-") as scratch:
        path = deploy(
            session.ctx,
            session.exporter,
            model,
            Path(scratch),
            name=f"trial-{trial.number}",
            quantization=candidate["quantization"],
            calibration_batches=opts.screening.calibration_batches,
            seed=seed,
        )
        figures.size_bytes = path.stat().st_size
        interrupt.check(f"trial {trial.number}, after its deployment")
        rows = standing(opts.budget, figures, metric, None, upper=False, costs_only=True)
        if any(row["met"] is False for row in rows.values()):
            trial.set_user_attr(RUNG, "analytic")
            return rows
        digest = graph_hash(path)
        figures.latency, source = session.latency_of(digest, path, trial)
    trial.set_user_attr("graph", {"hash": digest, "latency_source": source})
    rows = standing(opts.budget, figures, metric, None, upper=False, costs_only=True)
    if not meets(rows):
        trial.set_user_attr(RUNG, "graph")
    return rows


def _earlier_zero_shots(session: SearchSession, number: int) -> list[tuple[float, float]]:
    """``(latency, zero-shot score)`` of the other trials that reached the zero-shot rung."""
    points = []
    for other in session.study.get_trials(deepcopy=False):
        attrs = other.user_attrs
        latency = (attrs.get(FIGURES) or {}).get("latency")
        if other.number != number and ZERO_SHOT in attrs and latency:
            points.append((latency["p50_ms"], attrs[ZERO_SHOT]))
    return points


def evaluate(session: SearchSession, trial: optuna.Trial) -> tuple[float, float]:
    """Take one candidate up the rungs as far as it goes; returns the study's two values.

    It is one piece because the rungs are one sequence, each deciding whether the next runs;
    the work of each is in :mod:`~compressor_search.build`, :mod:`~compressor_search.graph`
    and :mod:`~compressor_search.screening`.
    """
    ctx, opts, metric = session.ctx, session.opts, session.metric
    candidate = suggest(trial, opts.space, session.families)
    trial.set_user_attr(CANDIDATE, candidate.as_dict())
    family = session.family(candidate.family)
    seed = session.trial_seed(trial.number)
    built = build_candidate(
        ctx, family, candidate, session.teacher, session.teacher_spec, seed=seed
    )
    figures = Figures(params=built.params, macs=built.macs)
    rows = _costs(session, trial, built.model, figures, seed)
    _record(trial, figures, rows)
    if figures.latency is None:
        return _slowest_so_far(session), metric.worst
    latency = figures.latency.p50_ms
    if not meets(rows):
        return latency, metric.worst
    if family.pruned:
        interrupt.check(f"trial {trial.number}, before its zero-shot score")
        score = zero_shot(ctx, built.model, session.screen, opts.screening.bn_batches)
        trial.set_user_attr(ZERO_SHOT, score)
        earlier = _earlier_zero_shots(session, trial.number)
        if not promoted((latency, score), earlier, opts.screening.promote_top, metric):
            trial.set_user_attr(RUNG, "zero_shot")
            return latency, score
    interrupt.check(f"trial {trial.number}, before its short distillation")
    serve_others(session)  # a worker waiting for a latency should not wait for this training
    score = short_distillation(ctx, opts, built.model, session.teacher, session.screen, seed)
    trial.set_user_attr(RUNG, "short")
    trial.set_user_attr(SCORE, score)
    return latency, score


def serve_others(session: SearchSession) -> int:
    """Time what other workers asked for, when this process times for the target and no
    designated latency worker does (between its own trials, and before it trains one)."""
    if session.role != "any" or not session.book.open_requests() or not session.may_time():
        return 0
    with tempfile.TemporaryDirectory(prefix="compressor-requests-") as scratch:
        return answer_requests(session, Path(scratch))


def should_stop(session: SearchSession) -> str | None:
    """Why no further trial starts (``None``: go on): enough trials, time, or the finals."""
    opts = session.opts
    if session.study.user_attrs.get(PHASE) == "final" and session.worker != "lead":
        return "the search moved on to its finalists"
    found = counts(session.study)
    if opts.trials is not None and found["complete"] + found["running"] >= opts.trials:
        return f"{opts.trials} trials"
    # At least one complete trial, so that there is a finalist however short the time.
    elapsed = time.monotonic() - session.started
    if opts.time_budget is not None and elapsed >= opts.time_budget and found["complete"]:
        return f"time_budget {opts.time_budget:g} s"
    return None


def _failed(session: SearchSession, trial: optuna.Trial, error: BaseException) -> FrozenTrial:
    """Record why a trial failed and tell the study."""
    trial.set_user_attr("error", one_line(error))
    return session.study.tell(trial, state=TrialState.FAIL)


def run_trials(
    session: SearchSession, on_trial: Callable[[FrozenTrial], None] | None = None
) -> tuple[int, str]:
    """Ask, evaluate and tell trials until :func:`should_stop` says so.

    A candidate that cannot be built, exported or quantized fails its trial and the search
    goes on; :data:`MAX_FAILURES_IN_A_ROW` failures in a row stop it. Ctrl-C marks the trial
    being evaluated as interrupted (``--resume`` runs its point again) and stops.

    Args:
        session: This process's search.
        on_trial: Called with every finished trial (the live table).

    Returns:
        Trials this process finished, and why it stopped.

    Raises:
        StageFailure: Trials kept failing; the message gives the last error.
        compressor.interrupt.Interrupted: Ctrl-C.
    """
    finished, in_a_row = 0, 0
    while True:
        interrupt.check("between two trials of the search")
        reason = should_stop(session)
        if reason is not None:
            return finished, reason
        serve_others(session)
        trial = session.study.ask()
        trial.set_user_attr(WORKER, session.worker)
        try:
            values = evaluate(session, trial)
        except (KeyboardInterrupt, interrupt.Interrupted):
            trial.set_user_attr(INTERRUPTED, True)
            session.study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as error:  # one bad candidate must not end the search
            frozen = _failed(session, trial, error)
            in_a_row += 1
            if on_trial is not None:
                on_trial(frozen)
            if in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise StageFailure(
                    f"{in_a_row} trials of the search failed in a row; the last: {one_line(error)}"
                ) from error
            continue
        in_a_row = 0
        frozen = session.study.tell(trial, values)
        finished += 1
        if on_trial is not None:
            on_trial(frozen)
