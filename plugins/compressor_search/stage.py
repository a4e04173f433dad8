"""The ``search`` stage: the student that best meets a budget, found with optuna.

In order: the study is opened (a resume continues it; see :mod:`compressor_search.study`),
trials run up their rungs under a live table (:mod:`compressor_search.trials`), the finalists
are trained in full, deployed and judged on the target (:mod:`compressor_search.finals`), and
the winner is published in the ``model`` slot, with ``winner.yaml``, its deployed files, the
plot and the report section in the stage's folder. A budget no candidate meets is no error:
the closest finalist is published, the verdict and the closest candidates logged.
"""

from __future__ import annotations

import platform
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from torch import nn

from compressor.artifacts import ModelArtifact
from compressor.context import StageContext
from compressor.errors import RecipeError, UsageError
from compressor_search.answering import answer_requests
from compressor_search.finals import Final, closest, judge, select_finalists, train_finalist
from compressor_search.latency import LatencyBook, floor_ms, target_label
from compressor_search.live import LiveTable
from compressor_search.metric import MetricInfo, metric_info, score_model
from compressor_search.options import SearchOptions
from compressor_search.screening import screening_data
from compressor_search.session import SearchSession
from compressor_search.space import resolve_families, seed_points
from compressor_search.study import (
    PHASE,
    SPEC,
    counts,
    enqueue_seeds,
    open_study,
    retry_interrupted,
    storage_for,
)
from compressor_search.trials import run_trials
from compressor_search.winner import resolved_recipe


def check_metric_budget(opts: SearchOptions, metric: MetricInfo, field: str) -> None:
    """A metric constraint a fraction metric can never reach is a recipe error.

    Raises:
        RecipeError: ``min_metric`` outside 0..1 or ``max_metric_drop`` above 1 for a
            fraction such as accuracy.
    """
    budget = opts.budget
    if not metric.fraction:
        return
    if budget.min_metric is not None and not 0.0 <= budget.min_metric <= 1.0:
        raise RecipeError(
            f"{field}.budget.min_metric",
            f"{budget.min_metric:g} cannot be reached: {metric.label} is a fraction in 0..1 "
            "(0.95 is 95%)",
            value=budget.min_metric,
        )
    if budget.max_metric_drop is not None and budget.max_metric_drop > 1.0:
        raise RecipeError(
            f"{field}.budget.max_metric_drop",
            f"{budget.max_metric_drop:g} is more than all of {metric.label}, a fraction in 0..1 "
            "(0.01 is one point)",
            value=budget.max_metric_drop,
        )


def check_latency_budget(opts: SearchOptions, field: str) -> float | None:
    """A latency budget below onnxruntime's per-call floor here is a recipe error.

    Returns:
        The floor measured, in ms (``None`` without a latency budget).

    Raises:
        RecipeError: ``latency_ms`` is below the floor: no model answers faster.
    """
    budget = opts.budget
    if budget.latency_ms is None:
        return None
    floor = floor_ms(budget.threads, opts.timing)
    if budget.latency_ms < floor:
        raise RecipeError(
            f"{field}.budget.latency_ms",
            f"{budget.latency_ms:g} ms is below onnxruntime's per-call floor on this machine "
            f"({floor:.4f} ms with {budget.threads} thread(s)): no model answers faster; raise "
            "it, or give latency_vs_floor",
            value=budget.latency_ms,
        )
    return floor


def start_session(
    ctx: StageContext,
    opts: SearchOptions,
    teacher: ModelArtifact,
    *,
    worker: str,
    role: str,
    storage: Any = None,
    study_name: str | None = None,
) -> SearchSession:
    """Everything this process's trials share: families, teacher, study, screening data.

    ``storage`` and ``study_name`` are the study's when the caller opened it (a worker
    joining); by default the stage's ``storage:`` (or its journal file) and ``study:``.

    Raises:
        RecipeError: A family the space names cannot be built, or a metric budget that can
            never be met.
        UsageError: The teacher is not a PyTorch model while the space prunes it.
    """
    field = f"stages.{ctx.info.name}"
    families = resolve_families(opts, field)
    model = teacher.model
    has_weights = isinstance(model, nn.Module) and any(True for _ in model.parameters())
    if not has_weights and any(f.pruned for f in families):
        raise UsageError(
            f"{field}.space.families: the teacher {teacher.name!r} is not a PyTorch model "
            "with weights, so it cannot be pruned; leave 'teacher' out of the families"
        )
    metric = metric_info(ctx)
    check_metric_budget(opts, metric, field)
    folder = ctx.run_dir / ctx.info.name
    name = study_name or opts.study or f"{getattr(ctx.run.recipe, 'name', 'run')}-{ctx.info.name}"
    # Each worker draws its own points: the same seed would propose the same candidates.
    seed = ctx.seed() + (zlib.crc32(worker.encode()) % 100_000 if worker != "lead" else 0)
    storage = storage if storage is not None else storage_for(opts, folder, f"{field}.storage")
    study = open_study(opts, storage, name, metric, seed)
    teacher_metric = study.user_attrs.get("teacher_metric")
    if teacher_metric is None:
        teacher_metric = score_model(ctx, model, ctx.data.val)
        study.set_user_attr("teacher_metric", teacher_metric)
    host = opts.timing.host or platform.node()
    target = target_label(opts.budget, host)
    return SearchSession(
        ctx=ctx,
        opts=opts,
        families=families,
        teacher=model,
        teacher_spec=dict(teacher.spec),
        teacher_metric=float(teacher_metric),
        metric=metric,
        study=study,
        book=LatencyBook(study, target),
        exporter=ctx.exporter(opts.exporter)[1],
        screen=screening_data(ctx, opts),
        folder=folder,
        worker=worker,
        role=role,
        host=host,
    )


def _record_run(session: SearchSession, teacher: ModelArtifact) -> None:
    """What a worker needs to join: the recipe, the stage, the teacher's file, the target."""
    from compressor.model.checkpoint import save_model

    ctx = session.ctx
    path = teacher.path
    if path is None or not path.is_file():
        data = ctx.data
        path = save_model(
            teacher.model,
            dict(teacher.spec),
            session.folder / "teacher.pt",
            input_shape=list(data.input_shape),
            num_classes=data.num_classes,
        )
    session.study.set_user_attr(
        SPEC,
        {
            "recipe": resolved_recipe(ctx),
            "stage": ctx.info.name,
            "teacher": str(path.resolve()),
            "host": session.host,
            "target": session.book.target,
        },
    )


def _wait_for_workers(session: SearchSession) -> None:
    """Let other workers finish the trials they started before the finalists are chosen,
    timing what they ask for meanwhile when this process times for the target."""
    deadline = time.monotonic() + session.opts.timing.wait_seconds
    told = False
    with tempfile.TemporaryDirectory(prefix="compressor-requests-") as scratch:
        while counts(session.study)["running"] and time.monotonic() < deadline:
            if not told:
                session.ctx.run.progress.print(
                    f"{session.ctx.info.name}: waiting for other workers' running trials"
                )
                told = True
            if session.may_time():
                answer_requests(session, Path(scratch))
            time.sleep(0.5)


def _train_finalists(session: SearchSession, trials: list[Any]) -> list[Final]:
    """Full training of each finalist, under a progress bar each."""
    ctx = session.ctx
    steps = -(-len(ctx.data.train) // ctx.batch_size)
    finals = []
    for trial in trials:
        epochs = int(trial.user_attrs["candidate"]["epochs"])
        label = f"{ctx.info.name} #{trial.number}"
        with ctx.progress(max(epochs * steps, 1), label) as bar:
            finals.append(train_finalist(session, trial, bar))
    return finals


class SearchStage:
    """Search for the student that best meets the budget (see the module docstring)."""

    def __init__(self, options: SearchOptions) -> None:
        self.options = options

    @staticmethod
    def join(
        url: str, *, study: str | None = None, role: str = "any", progress: Any = None
    ) -> dict[str, Any]:
        """Join a running search as a worker (``compressor search --worker``): see
        :func:`compressor_search.worker.join`."""
        from compressor_search.worker import join

        return join(url, study=study, role=role, progress=progress)

    def run(self, ctx: StageContext) -> None:
        """Open the study, run the trials, judge the finalists, publish the winner."""
        from compressor_search.outcome import publish_outcome

        opts = self.options
        teacher = ctx.input("teacher")
        session = start_session(ctx, opts, teacher, worker="lead", role="any")
        study = session.study
        check_latency_budget(opts, f"stages.{ctx.info.name}")
        _record_run(session, teacher)
        retried = retry_interrupted(study, session.worker)
        if opts.seed_points:
            enqueue_seeds(study, seed_points(opts, session.families))
        study.set_user_attr(PHASE, "trials")
        with LiveTable(ctx, session.metric, opts.trials) as live:
            ran, stopped_by = run_trials(session, live.add)
        study.set_user_attr(PHASE, "final")
        _wait_for_workers(session)
        chosen, within = select_finalists(study, session.metric, opts.screening.finalists)
        if not chosen:
            raise UsageError(
                f"stages.{ctx.info.name}: no trial of the search completed; see the failed "
                "trials' errors above"
            )
        finals = _train_finalists(session, chosen)
        winner = judge(session, finals)
        kept = winner if winner is not None else closest(finals)[0]
        publish_outcome(
            session,
            finals,
            kept,
            met=winner is not None,
            within_costs=within,
            trials={"ran": ran, "stopped_by": stopped_by, "retried": retried},
        )
