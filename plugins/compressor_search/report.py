"""The search in the report: the verdict, the finalists against the budget, the Pareto front,
the importances, and a plot of every trial.

Drawn from the stage's metrics alone (:func:`section` and :func:`write_plot`), so it can be
drawn again from ``metrics.json``. The stage logs the section's lines as ``report_markdown``
and the plot as ``plots``; ``report.md`` shows them where the report builder includes a
stage's own section (see docs/search.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.report.format import format_count, markdown_table
from compressor_search.budget import show
from compressor_search.metric import MetricInfo
from compressor_search.space import Candidate


def _metric(metrics: dict[str, Any]) -> MetricInfo:
    info = metrics.get("metric") or {}
    return MetricInfo(
        info.get("key", "accuracy"),
        info.get("label", "accuracy"),
        info.get("higher_is_better", True),
        info.get("fraction", True),
    )


def _described(candidate: dict[str, Any] | None) -> str:
    return Candidate(**candidate).describe() if candidate else "—"


def _finalists_table(metrics: dict[str, Any], metric: MetricInfo) -> list[str]:
    """Each finalist against each constraint: its value and the limit, ✓ or ✗."""
    finalists = metrics.get("finalists") or []
    names = list((metrics.get("budget_given") or {}).keys())
    rows = []
    for final in finalists:
        cells = [f"{final['trial']}", _described(final["candidate"])]
        cells.append(metric.show(final.get(f"val_{metric.key}")))
        for name in names:
            row = (final.get("standing") or {}).get(name) or {}
            met = row.get("met")
            mark = "✓" if met is True else "✗" if met is False else ""
            cells.append(f"{show(name, row.get('value'), metric)} {mark}".strip())
        kept = (metrics.get("winner") or {}).get("trial") == final["trial"]
        cells.append(("**winner**" if metrics.get("met") else "published") if kept else "")
        rows.append(cells)
    header = ["trial", "candidate", f"val {metric.label}", *names, ""]
    limits = (
        ["", "budget", ""]
        + [show(n, (metrics.get("budget_given") or {}).get(n), metric) for n in names]
        + [""]
    )
    return markdown_table(header, [limits, *rows])


def _front_table(metrics: dict[str, Any], metric: MetricInfo) -> list[str]:
    """The screening Pareto front: candidates within the costs no other one beats."""
    front = set(metrics.get("pareto") or [])
    rows = [
        [
            str(r["trial"]),
            _described(r["candidate"]),
            show("latency_ms", r.get("latency_ms"), metric),
            f"{r['latency_vs_floor']:.2f}x" if r.get("latency_vs_floor") else "—",
            show("size_bytes", r.get("size_bytes"), metric),
            format_count(r.get("params")),
            metric.show(r.get("score")),
        ]
        for r in sorted(metrics.get("trial_table") or [], key=lambda r: r.get("latency_ms") or 0)
        if r["trial"] in front
    ]
    header = ["trial", "candidate", "p50", "x floor", "size", "params", f"screening {metric.label}"]
    return markdown_table(header, rows)


def _importances(metrics: dict[str, Any]) -> list[str]:
    found = metrics.get("importances")
    if not found:
        return []
    lines = ["Parameter importances (optuna, PED-ANOVA, screened trials):", ""]
    for target, values in found.items():
        ranked = ", ".join(f"{p} {v:.2f}" for p, v in values.items())
        lines.append(f"- {target}: {ranked}")
    return [*lines, ""]


def section(name: str, metrics: dict[str, Any], plot: str | None = None) -> list[str]:
    """The stage's section of ``report.md``.

    Args:
        name: The stage's name.
        metrics: Its metrics.
        plot: The plot's path relative to the run folder, when drawn.
    """
    metric = _metric(metrics)
    trials = metrics.get("trials") or {}
    winner = metrics.get("winner") or {}
    lines = [f"## Search `{name}`", ""]
    if metrics.get("verdict"):
        lines += [f"**Budget not met:** {metrics['verdict']}.", ""]
    if winner:
        files = ", ".join(f"`{f}`" for f in winner.get("files", []))
        val = metric.show(winner.get(f"val_{metric.key}"))
        test = metric.show(winner.get(f"test_{metric.key}"))
        which = f"trial {winner['trial']} ({_described(winner.get('candidate'))})"
        opening = (
            f"The winner, {which}, meets the budget"
            if winner.get("met")
            else f"No candidate meets the budget; published the closest, {which}"
        )
        lines += [
            (
                f"{opening}: val {metric.label} {val}, test {metric.label} {test}; recipe "
                f"`{winner.get('recipe')}`; files {files}."
            ),
            "",
        ]
    lines += [
        f"{trials.get('complete', 0)} trials complete ({trials.get('this_run', 0)} in this run, "
        f"{trials.get('failed', 0)} failed; stopped by {trials.get('stopped_by', '—')}), sampler "
        f"{metrics.get('sampler', '—')}, target `{metrics.get('target', '—')}`; rungs reached: "
        + ", ".join(f"{k} {v}" for k, v in (metrics.get("rungs") or {}).items())
        + ".",
        "",
        "### Finalists against the budget",
        "",
        *_finalists_table(metrics, metric),
        "",
        "### Pareto front of the screening",
        "",
        *_front_table(metrics, metric),
        "",
        *_importances(metrics),
    ]
    if plot:
        lines += [f"![search trials]({plot})", ""]
    return lines


def write_plot(path: Path, metrics: dict[str, Any]) -> Path | None:
    """Latency against score of every trial that was screened, the front joined, the
    finalists ringed, the latency budget drawn; ``None`` when no trial has both figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from compressor.atomic import atomic_path

    metric = _metric(metrics)
    rows = [
        r
        for r in metrics.get("trial_table") or []
        if r.get("latency_ms") and r.get("score") is not None
    ]
    if not rows:
        return None
    scale = 100.0 if metric.fraction else 1.0
    figure, axes = plt.subplots(figsize=(7, 4.5))
    inside = [r for r in rows if r["within_costs"]]
    outside = [r for r in rows if not r["within_costs"]]
    for group, colour, label in (
        (outside, "#bbbbbb", "over a cost"),
        (inside, "#1f77b4", "within costs"),
    ):
        axes.scatter(
            [r["latency_ms"] for r in group],
            [scale * r["score"] for r in group],
            s=18,
            c=colour,
            label=label,
        )
    front = sorted(
        (r for r in rows if r["trial"] in set(metrics.get("pareto") or [])),
        key=lambda r: r["latency_ms"],
    )
    if front:
        axes.plot(
            [r["latency_ms"] for r in front],
            [scale * r["score"] for r in front],
            "-",
            c="#d62728",
            label="front",
        )
    finalists = {f["trial"] for f in metrics.get("finalists") or []}
    ringed = [r for r in rows if r["trial"] in finalists]
    axes.scatter(
        [r["latency_ms"] for r in ringed],
        [scale * r["score"] for r in ringed],
        s=90,
        facecolors="none",
        edgecolors="#d62728",
        label="finalists",
    )
    limit = (metrics.get("budget_given") or {}).get("latency_ms")
    if limit:
        axes.axvline(limit, ls="--", c="#555555", label="latency budget")
    axes.set_xlabel("p50 latency of the deployed file (ms)")
    axes.set_ylabel(f"screening {metric.label}" + (" (%)" if metric.fraction else ""))
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return path
