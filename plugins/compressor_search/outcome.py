"""What the search leaves: the published model, its files and recipe, the metrics, the verdict.

The kept finalist (the winner, or the closest one when no finalist meets the budget) is
published in the ``model`` slot as ``NAME.pt``, as ``distill`` and ``prune`` publish theirs,
so ``export`` and ``quantize`` stages take it as usual. The test split scores it, and only it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.artifacts import ModelArtifact
from compressor_search.budget import verdict
from compressor_search.finals import Final, closest
from compressor_search.metric import score_model
from compressor_search.report import section, write_plot
from compressor_search.session import SearchSession
from compressor_search.space import Candidate
from compressor_search.summary import (
    final_row,
    front_of,
    importances,
    rung_counts,
    study_counts,
    trial_row,
)
from compressor_search.winner import write_winner


def _publish_model(session: SearchSession, kept: Final) -> tuple[ModelArtifact, dict[str, Any]]:
    """Publish the kept finalist in the ``model`` slot; score it (and its file) on test."""
    from compressor.model.checkpoint import load_model, save_model

    ctx, metric = session.ctx, session.metric
    data = ctx.data
    model, _ = load_model(kept.record["checkpoint"], ctx.run.registry)
    name = ctx.output_name("model")
    spec = kept.record["spec"]
    path = save_model(
        model,
        spec,
        ctx.run_dir / f"{name}.pt",
        input_shape=list(data.input_shape),
        num_classes=data.num_classes,
    )
    test = score_model(ctx, model, data.test)
    test_deployed = score_model(ctx, kept.deployed, data.test)
    params = int(kept.record["params"])
    artifact = ModelArtifact(
        name=name,
        model=model.to(ctx.device).eval(),
        spec=spec,
        path=path,
        meta={"params": params, f"test_{metric.key}": test},
    )
    ctx.publish(artifact)
    return artifact, {
        f"test_{metric.key}": test,
        f"test_{metric.key}_deployed": test_deployed,
        "params": params,
    }


def _study_metrics(session: SearchSession, trials: dict[str, Any]) -> dict[str, Any]:
    """What the stage logs about its study: the metric, the budget and target, every trial,
    the rungs, the front, the latency measurements and the importances."""
    opts, metric, study = session.opts, session.metric, session.study
    rows = [trial_row(t) for t in study.get_trials(deepcopy=False)]
    return {
        "metric": {
            "key": metric.key,
            "label": metric.label,
            "higher_is_better": metric.higher_is_better,
            "fraction": metric.fraction,
        },
        "budget_given": opts.budget.given(),
        "target": session.book.target,
        "sampler": opts.sampler,
        "study": {"name": study.study_name, "storage": opts.storage or "journal file"},
        "teacher": {f"val_{metric.key}": session.teacher_metric},
        "trials": study_counts(study, trials["ran"], trials["stopped_by"], trials["retried"]),
        "rungs": rung_counts(rows),
        "latency_measurements": {
            "measured": session.book.measured,
            "cache_hits": session.book.hits,
        },
        "trial_table": rows,
        "pareto": front_of(rows, metric),
        "importances": importances(study, opts.importance_after, metric),
    }


def _say(session: SearchSession, kept: Final, metrics: dict[str, Any]) -> None:
    """One line on the console: the winner, or the verdict (a warning, shown even quiet)."""
    ctx, metric = session.ctx, session.metric
    if not metrics["met"]:
        ctx.run.progress.warn(
            f"stages.{ctx.info.name}: the budget cannot be met: {metrics['verdict']}; published "
            f"the closest candidate, trial {kept.number}"
        )
        return
    described = Candidate(**kept.record["candidate"]).describe()
    high = metrics["winner"]["latency"]["high_ms"]
    ctx.run.progress.print(
        f"{ctx.info.name}: winner trial {kept.number} ({described}): val {metric.label} "
        f"{metric.show(kept.metric)}, {high:.4f} ms at its slowest round",
        markup=False,
        highlight=False,
    )


def publish_outcome(
    session: SearchSession,
    finals: list[Final],
    kept: Final,
    *,
    met: bool,
    within_costs: bool,
    trials: dict[str, Any],
) -> None:
    """Publish the kept finalist and log everything the report and a rerun need.

    Args:
        session: This process's search.
        finals: Every finalist, judged.
        kept: The winner, or the closest finalist when ``met`` is false.
        met: Whether ``kept`` meets the budget.
        within_costs: Whether the finalists were screened candidates within the costs.
        trials: This run's ``ran`` trials, why it ``stopped_by``, the ``retried`` trials.
    """
    ctx, opts, metric = session.ctx, session.opts, session.metric
    artifact, tested = _publish_model(session, kept)
    candidate = Candidate(**kept.record["candidate"])
    files = write_winner(ctx, opts, session.family(candidate.family), candidate, kept.deployed)
    standings = [{"standing": f.standing, "metric": f.metric} for f in finals]
    metrics: dict[str, Any] = {
        "artifact": artifact.name,
        **tested,
        f"val_{metric.key}": kept.metric,
        **_study_metrics(session, trials),
        "finalists": [final_row(f, metric, ctx.run_dir, f is kept and met) for f in finals],
        "finalists_within_costs": within_costs,
        "winner": {
            **final_row(kept, metric, ctx.run_dir, met),
            **{k: v for k, v in tested.items() if k.startswith("test_")},
            "recipe": files[0],
            "files": files[1:],
        },
        "met": met,
        "verdict": None if met else verdict(opts.budget, standings, metric),
        "closest": [] if met else [f.number for f in closest(finals)],
    }
    plot = write_plot(session.folder / "trials.png", metrics)
    relative = str(Path(plot).relative_to(ctx.run_dir)) if plot is not None else None
    metrics["plots"] = [relative] if relative else []
    metrics["report_markdown"] = section(ctx.info.name, metrics, relative)
    ctx.log(**metrics)
    _say(session, kept, metrics)
