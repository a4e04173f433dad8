"""How a candidate stands against the budget: per constraint, how close it came; the verdict.

A candidate's figures (:class:`Figures`) are compared with each constraint the budget sets.
``ratio`` is the figure over its limit for the costs (at most 1 meets it) and the limit over
the figure for ``min_metric``; ``violation`` is ``ratio - 1`` (at most 0 meets it), what
optuna's constraint-aware samplers read. Latency is judged on the p50 while screening (the
sampler's guide) and on the slowest round for the final decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compressor_search.latency import Latency
from compressor_search.metric import MetricInfo
from compressor_search.options import COST_CONSTRAINTS, Budget


@dataclass
class Figures:
    """What was measured of one candidate (``None``: not measured)."""

    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    latency: Latency | None = None
    metric: float | None = None


def _value(name: str, figures: Figures, upper: bool) -> float | None:
    """The candidate's figure a constraint reads."""
    latency = figures.latency
    if name == "latency_ms":
        return None if latency is None else (latency.high_ms if upper else latency.p50_ms)
    if name == "latency_vs_floor":
        return None if latency is None else (latency.high_vs_floor if upper else latency.vs_floor)
    if name in ("min_metric", "max_metric_drop"):
        return figures.metric
    value = getattr(figures, name)
    return None if value is None else float(value)


def standing(
    budget: Budget,
    figures: Figures,
    metric: MetricInfo,
    teacher_metric: float | None,
    *,
    upper: bool,
    costs_only: bool = False,
) -> dict[str, dict[str, Any]]:
    """Per constraint: the candidate's value, the limit, the ratio, the violation and whether
    it is met (``None`` when the value was not measured).

    Args:
        budget: The budget.
        figures: The candidate's figures.
        metric: The run's metric (its direction).
        teacher_metric: The teacher's metric on the validation split, for ``max_metric_drop``.
        upper: Judge latency on the slowest round (the final decision) rather than the p50.
        costs_only: Leave the metric constraints out (a screening score is no final figure).
    """
    rows: dict[str, dict[str, Any]] = {}
    for name, limit in budget.given().items():
        if costs_only and name not in COST_CONSTRAINTS:
            continue
        value = _value(name, figures, upper)
        if value is None:
            rows[name] = {
                "value": None,
                "limit": limit,
                "ratio": None,
                "violation": None,
                "met": None,
            }
            continue
        if name == "min_metric":
            ratio = _metric_ratio(limit, value, metric)
        elif name == "max_metric_drop":
            drop = metric.drop(teacher_metric, value) if teacher_metric is not None else 0.0
            value, ratio = drop, (drop / limit if limit > 0 else (1.0 if drop <= 0 else 2.0))
        else:
            ratio = value / limit
        rows[name] = {
            "value": value,
            "limit": limit,
            "ratio": ratio,
            "violation": ratio - 1.0,
            "met": ratio <= 1.0,
        }
    return rows


def _metric_ratio(limit: float, value: float, metric: MetricInfo) -> float:
    """How far a metric is from its ``min_metric`` as a cost ratio (at most 1: met)."""
    if metric.higher_is_better:
        return limit / value if value > 0 else float("inf") if limit > 0 else 0.0
    return value / limit if limit > 0 else float("inf")


def violations(rows: dict[str, dict[str, Any]]) -> list[float]:
    """The constraint values optuna reads (at most 0: met); an unmeasured one counts as met."""
    return [row["violation"] if row["violation"] is not None else 0.0 for row in rows.values()]


def meets(rows: dict[str, dict[str, Any]]) -> bool:
    """Whether every constraint of ``rows`` is met (an unmeasured one is not)."""
    return all(row["met"] is True for row in rows.values())


def shortfall(rows: dict[str, dict[str, Any]]) -> float:
    """How far from meeting the budget: the sum of the positive violations (0: met)."""
    return sum(max(row["violation"] or 0.0, 0.0) for row in rows.values())


_UNITS = {
    "latency_ms": "fastest",
    "latency_vs_floor": "fastest",
    "size_bytes": "smallest",
    "macs": "cheapest",
    "params": "smallest",
}


def show(name: str, value: float | None, metric: MetricInfo) -> str:
    """A constraint's value in its unit: ``2.40 ms``, ``1.52x the floor``, ``41.2 KiB``."""
    if value is None:
        return "—"
    if name == "latency_ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    if name == "latency_vs_floor":
        return f"{value:.2f}x the floor"
    if name == "size_bytes":
        return f"{value / 1024:.1f} KiB" if value >= 1024 else f"{value:.0f} B"
    if name in ("macs", "params"):
        return f"{value:,.0f}"
    if name == "max_metric_drop":
        return f"{100 * value:.2f} points" if metric.fraction else f"{value:.4g}"
    return metric.show(value)


def verdict(budget: Budget, candidates: list[dict[str, Any]], metric: MetricInfo) -> str:
    """One sentence for a budget no candidate met, from the candidates' final standings.

    The first constraint that no candidate meets is named with the best value reached:
    "the fastest candidate measured 2.40 ms (budget 2.00 ms) at 97.10% accuracy". When each
    constraint was met by some candidate but never all at once, the closest candidate is named
    with what it missed.

    Args:
        budget: The budget.
        candidates: Each with ``standing`` (see :func:`standing`) and ``metric``.
        metric: The run's metric.
    """
    for name in budget.given():
        rows = [c for c in candidates if c["standing"].get(name, {}).get("ratio") is not None]
        if not rows or any(c["standing"][name]["met"] for c in rows):
            continue
        best = min(rows, key=lambda c: c["standing"][name]["ratio"])
        row = best["standing"][name]
        at = f" at {metric.show(best.get('metric'))} {metric.label}"
        if name in _UNITS:
            return (
                f"no candidate meets {name}: the {_UNITS[name]} candidate measured "
                f"{show(name, row['value'], metric)} (budget {show(name, row['limit'], metric)})"
                + at
            )
        how = "lost" if name == "max_metric_drop" else "scored"
        return (
            f"no candidate meets {name}: the most accurate candidate {how} "
            f"{show(name, row['value'], metric)} (budget {show(name, row['limit'], metric)})"
        )
    if not candidates:
        return "no candidate could be measured"
    closest = min(candidates, key=lambda c: shortfall(c["standing"]))
    missed = [
        f"{n} {show(n, r['value'], metric)} (budget {show(n, r['limit'], metric)})"
        for n, r in closest["standing"].items()
        if r["met"] is False
    ]
    return (
        "no candidate meets every constraint at once: the closest missed "
        + ", ".join(missed)
        + f" at {metric.show(closest.get('metric'))} {metric.label}"
    )
