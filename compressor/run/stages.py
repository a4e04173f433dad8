"""A plan's stages in order: each one restored (``--resume``), taken from the cache, or run.

Before each stage the recipe's seed plus the stage's index seeds Python, NumPy and torch, so a
stage computes the same whether the stages before it ran, were restored or came from the cache.
The lifecycle hooks (:meth:`compressor.plugin.manager.CompressorPluginManager.before_stage`
and the others) surround every stage that runs or comes from the cache; a restored stage ran
before, hooks included.

After each stage its spent epoch checkpoints are deleted and, when every artifact it published
can be restored from disk, it is added to ``completed_stages.json`` (see
:mod:`compressor.run.results`), which is what ``--resume`` reads.

Under torchrun, stages that do not run on every rank run on rank 0 alone while the other ranks
skip them and wait at a barrier before the next stage that runs everywhere.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compressor import interrupt
from compressor.context import CHECKPOINT_DIR, RunContext, StageContext, StageInfo
from compressor.errors import one_line
from compressor.run.cache import CachedStage, StageCache, cache_key, cache_material
from compressor.run.device import seed_everything
from compressor.run.results import (
    describe_artifact,
    json_safe,
    restore_artifact,
    snapshot,
    write_completed,
    written_since,
)
from compressor.training import distributed

if TYPE_CHECKING:
    from compressor.artifacts import Artifact
    from compressor.plugin.registry import Registry
    from compressor.recipe import Plan
    from compressor.run.progress import Progress


def restore_stage(
    stage_ctx: StageContext, artifacts: list[dict[str, Any]], metrics: dict[str, Any]
) -> None:
    """Publish a stage's artifacts from their descriptions and put back its metrics."""
    run = stage_ctx.run
    for description in artifacts:
        artifact = restore_artifact(description, run.run_dir, run.registry, run.device)
        stage_ctx.publish(artifact)
    stage_ctx.log(**metrics)


def published_by(context: RunContext, stage: str) -> list[Artifact]:
    """The artifacts that ``stage`` published."""
    return [a for a in context.artifacts.values() if a.producer == stage]


class StageLoop:
    """This rank's stages of one run, in order, over one run context.

    Args:
        plan: The run's plan.
        context: The run; its ``run_dir`` is the staging folder.
        resolved: :meth:`compressor.recipe.Plan.resolved` of the plan (the cache keys read it).
        cache: Where cacheable stages look up and store their results.
        completed: The stages that completed before the interruption being resumed (empty for
            a new run), as read from ``completed_stages.json``.
        dist: This process's place among the ranks.

    Attributes:
        current: The stage running, or the last one that started (an interruption names it).
        done: The stages that completed, as written to ``completed_stages.json``.
    """

    def __init__(
        self,
        plan: Plan,
        context: RunContext,
        *,
        resolved: dict[str, Any],
        cache: StageCache,
        completed: list[dict[str, Any]],
        dist: distributed.DistributedInfo,
    ) -> None:
        self.plan = plan
        self.context = context
        self.resolved = resolved
        self.cache = cache
        self.completed = completed
        self.dist = dist
        self.current = ""
        self.done: list[dict[str, Any]] = []

    @property
    def registry(self) -> Registry:
        """The run's registry."""
        return self.context.registry

    @property
    def progress(self) -> Progress:
        """Where the run's progress goes."""
        return self.context.progress

    def run(self) -> None:
        """Run every stage of the plan that this rank takes part in.

        Raises:
            compressor.interrupt.Interrupted: Ctrl-C was pressed (checked before every stage).
            BaseException: Whatever a stage or a lifecycle hook raised.
        """
        behind = False
        for info in self.plan.stages:
            solo = self.dist.enabled and not self.registry.get("stage", info.type).all_ranks
            if behind and not solo:
                distributed.barrier()  # the other ranks waited here while rank 0 ran alone
            behind = solo
            if solo and not self.dist.is_main:
                continue
            self.current = info.name
            interrupt.check(f"the start of stage {info.name!r}")
            seed_everything(self.plan.recipe.seed + info.index)
            stage_ctx = StageContext(self.context, info)
            record = self._completed_before(info)
            if record is not None:
                self._restore_completed(stage_ctx, record)
            else:
                self.run_stage(stage_ctx)

    def _completed_before(self, info: StageInfo) -> dict[str, Any] | None:
        """The record of ``info`` if it completed before the interruption being resumed."""
        position = len(self.done)
        if position < len(self.completed) and self.completed[position]["name"] == info.name:
            return self.completed[position]
        return None

    def _restore_completed(self, stage_ctx: StageContext, record: dict[str, Any]) -> None:
        info = stage_ctx.info
        restore_stage(stage_ctx, record["artifacts"], {**record["metrics"], "resumed": True})
        self.done.append(record)
        self.progress.print(
            f"[green]✓[/] {info.name} ({info.type}) completed before the interruption"
        )

    def run_stage(self, stage_ctx: StageContext) -> None:
        """Run one stage, or take its results from the cache; then keep what it published.

        Raises:
            BaseException: Whatever the stage or a lifecycle hook raised (the stage's own error
                is logged in its metrics first).
        """
        info = stage_ctx.info
        record_type = self.registry.get("stage", info.type)
        material = (
            cache_material(self.resolved, self.registry, info, self.context)
            if self.cache.enabled and record_type.cacheable
            else None
        )
        key = cache_key(material) if material is not None else None
        hit = self.cache.load(key) if key is not None else None
        self.registry.pm.before_stage(info, self.context)
        started = time.perf_counter()
        files = self._take_from_cache(stage_ctx, hit) if hit is not None else None
        if files is None:
            hit = None  # a miss after all: the entry could not be used
            files = self._execute(stage_ctx, record_type, started)
        seconds = time.perf_counter() - started
        stage_ctx.log(seconds=round(seconds, 3))
        # A hit is in the cache already; only a result computed now is stored.
        to_store = (key, material or {}) if key is not None and hit is None else None
        self._keep_results(stage_ctx, files, to_store)
        self.registry.pm.after_stage(info, self.context, seconds)
        how = "from cache" if hit is not None else f"in {seconds:.1f}s"
        self.progress.print(f"[green]✓[/] {info.name} ({info.type}) {how}")

    def _take_from_cache(self, stage_ctx: StageContext, hit: CachedStage) -> list[str] | None:
        """Copy a cached stage's files into the run and restore its results; returns the files.

        Returns ``None``, having published nothing, when the entry cannot be used: another
        process removed it after it was found, or a file in it is damaged. That is a miss.
        """
        run = self.context
        try:
            hit.copy_files(run.run_dir)
        except OSError as error:
            self._unusable(stage_ctx, hit, error)
            return None
        try:
            artifacts = [
                restore_artifact(d, run.run_dir, run.registry, run.device) for d in hit.artifacts
            ]
        except Exception as error:  # noqa: BLE001 - a damaged entry is a miss, never an error
            for rel in hit.files:
                (run.run_dir / rel).unlink(missing_ok=True)
            self.cache.discard(hit.key)  # damaged: make room for the result computed now
            self._unusable(stage_ctx, hit, error)
            return None
        for artifact in artifacts:
            stage_ctx.publish(artifact)
        stage_ctx.log(**hit.metrics)
        stage_ctx.log(
            cached=True, cache_key=hit.key[:16], original_seconds=hit.metrics.get("seconds")
        )
        return hit.files

    def _unusable(self, stage_ctx: StageContext, hit: CachedStage, error: BaseException) -> None:
        """Say that a cache entry was found but could not be used, so the stage runs."""
        self.progress.warn(
            f"stage cache entry {hit.key[:16]} could not be used ({one_line(error)}); "
            f"running stage {stage_ctx.info.name!r}"
        )

    def _execute(self, stage_ctx: StageContext, record_type: Any, started: float) -> list[str]:
        """Build and run the stage; returns the files it wrote (relative to the run folder).

        Raises:
            BaseException: What the stage raised, after ``compressor_on_stage_error``.
        """
        staging = self.context.run_dir
        before = snapshot(staging, skip=(CHECKPOINT_DIR,))
        try:
            stage = record_type.build(stage_ctx.info.options)
            stage.run(stage_ctx)
        except BaseException as error:
            stage_ctx.log(seconds=round(time.perf_counter() - started, 3), error=str(error))
            try:
                self.registry.pm.on_stage_error(stage_ctx.info, self.context, error)
            except Exception as hook_error:  # noqa: BLE001 - must not hide the stage's own error
                self.progress.warn(str(hook_error))
            raise
        return written_since(staging, before, skip=(CHECKPOINT_DIR,))

    def _keep_results(
        self,
        stage_ctx: StageContext,
        files: list[str],
        to_store: tuple[str, dict[str, Any]] | None,
    ) -> None:
        """Store a finished stage in the cache and in ``completed_stages.json`` where it can be.

        Args:
            stage_ctx: The finished stage.
            files: The files it wrote, relative to the run folder.
            to_store: Its cache key and key material, when its result goes into the cache.
        """
        info = stage_ctx.info
        staging = self.context.run_dir
        descriptions = [
            describe_artifact(a, staging) for a in published_by(self.context, info.name)
        ]
        metrics = json_safe(stage_ctx.metrics)
        restorable = [d for d in descriptions if d is not None]
        # Only a stage whose every artifact can be restored from disk can be skipped later.
        if to_store is not None and len(restorable) == len(descriptions):
            key, material = to_store
            stored = self.cache.store(
                key,
                run_dir=staging,
                files=files,
                artifacts=restorable,
                metrics=metrics,
                material=material,
            )
            if not stored:
                self.progress.warn(f"could not write the stage cache in {self.cache.root}")
        # The stage's own epoch checkpoints are spent: its results are saved.
        for spent in (staging / CHECKPOINT_DIR).glob(f"{info.name}-*.pt"):
            spent.unlink()
        if len(restorable) == len(descriptions):
            self.done.append(
                {"name": info.name, "type": info.type, "metrics": metrics, "artifacts": restorable}
            )
            write_completed(staging, self.done)
