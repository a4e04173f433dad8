"""What the stage logs about the study: every trial in a row, the front, the importances.

Plain JSON values only: ``metrics.json`` keeps them, and the report is drawn from them alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from compressor_search.pareto import pareto_front
from compressor_search.study import constraints_of, counts

if TYPE_CHECKING:
    from compressor_search.finals import Final
    from compressor_search.metric import MetricInfo


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as ``metrics.json`` keeps it."""
    attrs = trial.user_attrs
    figures = attrs.get("figures") or {}
    latency = figures.get("latency") or {}
    row: dict[str, Any] = {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "candidate": attrs.get("candidate"),
        "params": figures.get("params"),
        "macs": figures.get("macs"),
        "size_bytes": figures.get("size_bytes"),
        "latency_ms": latency.get("p50_ms"),
        "latency_high_ms": latency.get("high_ms"),
        "latency_vs_floor": latency.get("vs_floor"),
        "latency_source": (attrs.get("graph") or {}).get("latency_source"),
        "rung": attrs.get("rung"),
        "zero_shot": attrs.get("zero_shot"),
        "score": attrs.get("score"),
        "within_costs": bool(figures) and max(constraints_of(trial)) <= 0.0,
        # Per cost constraint: the value, the limit, value / limit, met (screening: p50).
        "standing": figures.get("standing"),
        "worker": attrs.get("worker"),
    }
    if "error" in attrs:
        row["error"] = attrs["error"]
    if "retry_of" in trial.user_attrs:
        row["retry_of"] = trial.user_attrs["retry_of"]
    return row


def front_of(rows: list[dict[str, Any]], metric: MetricInfo) -> list[int]:
    """The trial numbers on the screening Pareto front: screened, within the costs, and
    beaten by no other such trial in latency and score."""
    screened = [
        r for r in rows if r["rung"] == "short" and r["within_costs"] and r["score"] is not None
    ]
    points = [(r["latency_ms"], r["score"]) for r in screened]
    return sorted(screened[i]["trial"] for i in pareto_front(points, metric))


def rung_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Complete trials by the last rung they reached."""
    found = {"analytic": 0, "graph": 0, "zero_shot": 0, "short": 0}
    for row in rows:
        if row["state"] == "complete" and row["rung"] in found:
            found[row["rung"]] += 1
    return found


def importances(
    study: optuna.Study, minimum: int, metric: MetricInfo
) -> dict[str, dict[str, float]] | None:
    """optuna's parameter importances (PED-ANOVA) for the score and the latency, once
    ``minimum`` trials were screened in full; ``None`` before, or when optuna cannot say."""
    screened = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("rung") == "short"
    ]
    if len(screened) < minimum:
        return None
    import warnings

    from optuna.importance import get_param_importances

    found: dict[str, dict[str, float]] = {}
    # PED-ANOVA ranks what it takes to make the target low: a metric to raise is negated (and
    # its warning saying so, every call, is held back).
    sign = -1.0 if metric.higher_is_better else 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            # Only screened trials: the others' scores are placeholders, not measurements.
            view = optuna.create_study(directions=study.directions)
            view.add_trials(screened)
            found[metric.key] = dict(
                get_param_importances(view, target=lambda t: sign * t.values[1])
            )
            found["latency"] = dict(get_param_importances(view, target=lambda t: t.values[0]))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return None
    return {k: {p: float(v) for p, v in values.items()} for k, values in found.items()}


def final_row(
    final: Final, metric: MetricInfo, run_dir: Path, met: bool | None = None
) -> dict[str, Any]:
    """One finalist as ``metrics.json`` keeps it (its file relative to ``run_dir``, so the
    figures stay true of a run folder moved or restored from the stage cache)."""
    record = final.record
    deployed = Path(record["deployed"])
    return {
        "trial": final.number,
        "candidate": record["candidate"],
        "params": record["params"],
        "macs": record["macs"],
        "size_bytes": record["size_bytes"],
        "latency": final.latency.as_dict() if final.latency else None,
        f"val_{metric.key}": record["val_metric"],
        f"val_{metric.key}_torch": record["val_metric_torch"],
        "deployed": str(deployed.relative_to(run_dir))
        if deployed.is_relative_to(run_dir)
        else str(deployed),
        "standing": final.standing,
        "met": met,
    }


def study_counts(
    study: optuna.Study, ran: int, stopped_by: str, retried: list[int]
) -> dict[str, Any]:
    """How many trials in each state, how many this process ran, and why it stopped."""
    return {**counts(study), "this_run": ran, "stopped_by": stopped_by, "retried": retried}
