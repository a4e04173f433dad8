"""Runs a resolved recipe: stages in order over one run context, into one run folder.

This module ties the pieces together: the run folder's life (:mod:`compressor.run.folder`:
staged as ``.NAME.partial``, published as ``NAME`` or kept as ``NAME.failed``), the stage loop
(:mod:`compressor.run.stages`), ``metrics.json`` (:mod:`compressor.run.metrics`), resuming
(:mod:`compressor.run.resume`) and the stage cache (:mod:`compressor.run.cache`).

Under torchrun (:mod:`compressor.training.distributed`) every rank runs the stages marked
``all_ranks`` (training) and rank 0 alone runs the others while the rest wait. Only rank 0
writes the run folder; the other ranks' stages write into a temporary folder that is deleted at
the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor import interrupt
from compressor.atomic import write_text
from compressor.context import RunContext
from compressor.errors import UsageError
from compressor.records import StagePlugin
from compressor.run import folder
from compressor.run.cache import StageCache
from compressor.run.device import resolve_device, seed_everything
from compressor.run.folder import default_run_dir
from compressor.run.metrics import run_metrics
from compressor.run.progress import Progress
from compressor.run.ranks import check_plan
from compressor.run.stages import StageLoop
from compressor.training import distributed

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry
    from compressor.recipe import Plan

# resolve_device, seed_everything and default_run_dir were defined here; code written against
# them still finds them.
__all__ = ["RunResult", "default_run_dir", "resolve_device", "run", "seed_everything"]


@dataclass
class RunResult:
    """A finished run: its folder and its metrics (as written to ``metrics.json``)."""

    run_dir: Path
    metrics: dict[str, Any]


def run(
    plan: Plan,
    registry: Registry,
    out_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    resume: Path | None = None,
    cache: StageCache | None = None,
) -> RunResult:
    """Run every stage of ``plan`` in order and write the run folder.

    Under torchrun, joins the process group first and leaves it at the end (see
    :mod:`compressor.training.distributed`); ranks other than 0 return an empty ``metrics``.

    Args:
        plan: A recipe resolved by :func:`compressor.recipe.load`.
        registry: The registry the plan was resolved against.
        out_dir: The run folder (default ``runs/<recipe>-<timestamp>``); must not hold files.
        progress: Where progress bars go (default: standard error).
        resume: An interrupted run folder to continue (``out_dir`` must then be ``None``).
        cache: Where cacheable stages look up and store their results (default: no cache).

    Returns:
        The run folder and its metrics.

    Raises:
        CompressorError: A stage failed; the partial run is kept as ``<out_dir>.failed`` (the
            error's ``kept_run_dir`` attribute says where), ready for ``--resume``.
        KeyboardInterrupt: A second Ctrl-C; the partial run is kept the same way.
    """
    dist = distributed.init_from_env(resolve_device(plan.recipe.device))
    try:
        if dist.enabled:
            stage_types = [r for r in registry.records("stage") if isinstance(r, StagePlugin)]
            check_plan(plan.stages, {r.name: r.all_ranks for r in stage_types})
            if resume is not None:
                # Every rank would need rank 0's folder, checkpoints and generator states.
                raise UsageError(
                    "--resume: not supported with several processes yet; resume in one process, "
                    "or start the run again"
                )
            # Results depend on the number of processes; the cache is for single-process runs.
            cache = None
        return _run(
            plan, registry, out_dir, progress=progress, dist=dist, resume=resume, cache=cache
        )
    finally:
        distributed.shutdown()


def _open_run_folder(
    plan: Plan,
    out_dir: Path | None,
    resume: Path | None,
    resolved: dict[str, Any],
    dist: distributed.DistributedInfo,
) -> tuple[Path, Path, list[dict[str, Any]]]:
    """The run's final name, its staging folder, and the stages that completed before.

    A new run gets an empty staging folder; ``--resume`` moves the interrupted run back to its
    staging folder (:func:`compressor.run.resume.reopen_run`).

    Raises:
        UsageError: The folder cannot be used, or ``--out`` was given with ``--resume``.
    """
    from compressor.run.resume import reopen_run

    if resume is not None:
        if out_dir is not None:
            raise UsageError(
                "--resume continues a run in its own folder; do not give --out with it"
            )
        reopened = reopen_run(Path(resume), resolved)
        return reopened.out_dir, reopened.staging, reopened.completed
    out_dir = Path(out_dir) if out_dir is not None else default_run_dir(plan.recipe.name)
    return out_dir, folder.prepare_rank_staging(out_dir, dist), []


def _run(
    plan: Plan,
    registry: Registry,
    out_dir: Path | None,
    *,
    progress: Progress | None,
    dist: distributed.DistributedInfo,
    resume: Path | None,
    cache: StageCache | None,
) -> RunResult:
    """This rank's part of :func:`run` (same arguments)."""
    import yaml

    from compressor.preflight import load_data, run_preflight

    progress = progress or Progress()
    if not dist.is_main:
        progress = Progress(enabled=False)  # one set of bars: rank 0's
    data = load_data(plan, registry, progress=progress)
    run_preflight(plan, registry, data)
    resolved = plan.resolved()
    out_dir, staging, completed = _open_run_folder(plan, out_dir, resume, resolved, dist)
    started = time.perf_counter()
    context = RunContext(
        recipe=plan.recipe,
        registry=registry,
        run_dir=staging,
        device=dist.device,
        seed=plan.recipe.seed,
        progress=progress,
        cache_dir=cache.root if cache is not None and cache.enabled else None,
        _data=data,
    )
    loop = StageLoop(
        plan,
        context,
        resolved=resolved,
        cache=cache or StageCache(None),
        completed=completed,
        dist=dist,
    )
    try:
        # Inside the try: when even this first write fails, the folder is still marked failed.
        write_text(staging / "recipe.yaml", yaml.safe_dump(resolved, sort_keys=False))
        with interrupt.graceful_interrupts():
            loop.run()
    except BaseException as error:
        if not dist.is_main:
            folder.discard(staging)
            raise
        stopped = isinstance(error, KeyboardInterrupt | interrupt.Interrupted)
        if isinstance(error, interrupt.Interrupted) and loop.current:
            error.args = (f"{error} of stage {loop.current!r}",)
        metrics = run_metrics(plan, context, started, "interrupted" if stopped else "failed")
        folder.keep_failed(staging, out_dir, error, metrics)
        raise

    if not dist.is_main:
        folder.discard(staging)
        return RunResult(run_dir=out_dir, metrics={})
    metrics = run_metrics(plan, context, started, "completed")
    folder.publish(staging, out_dir, metrics)
    return RunResult(run_dir=out_dir, metrics=metrics)
