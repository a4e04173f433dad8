"""Runs a resolved recipe: stages in order over one run context, into one run folder.

The run folder is built under a hidden staging name (``.NAME.partial``) and renamed to its
final name only when every stage succeeded, so a folder under its final name is always a
complete run. A failed run is renamed to ``NAME.failed`` with ``error.txt`` beside what the
finished stages wrote; every file in it was itself written atomically.

Under torchrun (:mod:`compressor.training.distributed`) every rank runs the stages marked ``all_ranks``
(training) and rank 0 alone runs the others while the rest wait. Only rank 0 writes the run
folder; the other ranks' stages write into a temporary folder that is deleted at the end.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressor import __version__, interrupt
from compressor.training import distributed
from compressor.atomic import write_json, write_text
from compressor.context import CHECKPOINT_DIR, RunContext, StageContext
from compressor.errors import CompressorError, PluginError, UsageError, WriteFailure
from compressor.run.progress import Progress
from compressor.recipe import Plan
from compressor.plugin.registry import Registry
from compressor.run.cache import StageCache, cache_key
from compressor.run.ranks import check_plan
from compressor.run.results import COMPLETED_FILE


@dataclass
class RunResult:
    """A finished run: its folder and its metrics (as written to ``metrics.json``)."""

    run_dir: Path
    metrics: dict[str, Any]


def resolve_device(device: str) -> str:
    """Turn the recipe's ``device`` into a torch device; ``auto`` picks CUDA when present.

    Raises:
        UsageError: CUDA (or MPS) was asked for and is not available.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"device: {device!r} but CUDA is not available here; valid choices: auto, cpu"
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"device: {device!r} but only {torch.cuda.device_count()} CUDA device(s)"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device: 'mps' but MPS is not available here; valid choices: auto, cpu")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so runs repeat."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_run_dir(recipe_name: str, root: Path = Path("runs")) -> Path:
    """``runs/<recipe>-<YYYYmmdd-HHMMSS>``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{recipe_name}-{stamp}"


def _prepare(out_dir: Path) -> Path:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"--out {out_dir}: already exists and is not empty; choose another folder")
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise UsageError(
            f"--out {out_dir}: cannot create the run folder ({exc.strerror})"
        ) from None
    return staging


def _prepare_rank(out_dir: Path, dist: distributed.DistributedInfo) -> Path:
    """Rank 0 prepares the run folder; the other ranks a temporary folder, for stage code to
    write into as usual (nothing of theirs is kept).

    Raises:
        UsageError: Rank 0 cannot use ``out_dir`` (on every rank: the others stop too).
    """
    if not dist.enabled:
        return _prepare(out_dir)
    error: UsageError | None = None
    staging = out_dir
    if dist.is_main:
        try:
            staging = _prepare(out_dir)
        except UsageError as exc:
            error = exc
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"compressor-rank{dist.rank}-"))
    # Agree before any training: otherwise the other ranks would wait for rank 0 in their first
    # collective until torchrun kills them, leaving their temporary folders behind.
    if distributed.reduce_totals(0.0 if error is None else 1.0)[0]:
        if error is not None:
            raise error
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError("rank 0 cannot create the run folder")  # rank 0 says why
    return staging


def _artifact_summary(context: RunContext) -> dict[str, Any]:
    summary = {}
    for name, artifact in context.artifacts.items():
        path = getattr(artifact, "path", None)
        summary[name] = {
            "kind": type(artifact).__name__,
            "producer": artifact.producer,
            "file": path.name if path else None,
            **{k: v for k, v in artifact.meta.items() if isinstance(v, int | float | str | bool)},
        }
    return summary


def _metrics(plan: Plan, context: RunContext, started: float, status: str) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import torch

    data = context._data.describe() if context._data is not None else {}
    return {
        "recipe": plan.recipe.name,
        "status": status,
        "seconds": round(time.perf_counter() - started, 3),
        "seed": plan.recipe.seed,
        "device": context.device,
        # How many processes trained (the global batch is the same; the schedule may differ).
        "world_size": distributed.current().world_size,
        "versions": {
            "compressor": __version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "data": data,
        "stages": {
            s.name: {"type": s.type, **context.metrics.get(s.name, {})} for s in plan.stages
        },
        "artifacts": _artifact_summary(context),
    }


def _plugin_that_raised(registry: Registry, hook_name: str, error: BaseException) -> str | None:
    """The plugin whose implementation of ``hook_name`` is in ``error``'s traceback, if any."""
    impls = getattr(registry.pm.hook, hook_name).get_hookimpls()
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in impls}
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return codes[tb.tb_frame.f_code]
        tb = tb.tb_next
    return None


def _call_lifecycle(registry: Registry, hook_name: str, **kwargs: Any) -> None:
    """Call a lifecycle hook; a plugin that crashes in it is named, with its distribution.

    Raises:
        PluginError: A plugin's implementation raised (a CompressorError it raised on purpose
            passes through unchanged).
    """
    try:
        getattr(registry.pm.hook, hook_name)(**kwargs)
    except CompressorError:
        raise
    except Exception as error:
        plugin = _plugin_that_raised(registry, hook_name, error)
        if plugin is None:
            raise
        label = registry.pm.info_for(plugin).label
        raise PluginError(
            f"plugin {label} failed in {hook_name} for stage {kwargs['stage'].name!r}: "
            f"{type(error).__name__}: {error}; fix or uninstall it, or block it with "
            f"--disable-plugin {plugin}"
        ) from error


def _cache_material(
    resolved: dict[str, Any], registry: Registry, info: Any, context: RunContext
) -> dict[str, Any] | None:
    """What a stage's result depends on, or ``None`` when an input's content is unknown.

    ``resolved`` is :meth:`Plan.resolved` of the run's recipe.
    """
    import torch

    from compressor.run.results import artifact_digest

    inputs: dict[str, Any] = {}
    for slot, names in info.inputs.items():
        digests = [
            artifact_digest(context.artifacts[n])
            for n in (names if isinstance(names, list) else [names])
        ]
        if any(d is None for d in digests):
            return None
        inputs[slot] = digests if isinstance(names, list) else digests[0]
    stage = {k: v for k, v in resolved["stages"][info.index].items() if k != "name"}
    return {
        "stage": stage,
        "index": info.index,  # stage seeds derive from it
        "inputs": inputs,
        "recipe": {k: v for k, v in resolved.items() if k not in ("name", "description", "stages")},
        "device": context.device,
        "versions": {"compressor": __version__, "torch": torch.__version__},
        "plugins": sorted(info_.label for info_ in registry.pm.infos.values() if not info_.blocked),
    }


def _restore_stage(
    stage_ctx: StageContext, artifacts: list[dict[str, Any]], metrics: dict[str, Any]
) -> None:
    """Publish a stage's artifacts from their descriptions and put back its metrics."""
    from compressor.run.results import restore_artifact

    run = stage_ctx.run
    for description in artifacts:
        artifact = restore_artifact(description, run.run_dir, run.registry, run.device)
        stage_ctx.publish(artifact)
    stage_ctx.log(**metrics)


def _published_by(context: RunContext, stage: str) -> list[Any]:
    return [a for a in context.artifacts.values() if a.producer == stage]


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
            check_plan(
                plan.stages, {r.name: r.all_ranks for r in registry.records("stage")}
            )
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
    from compressor.report import write_report
    from compressor.run.resume import reopen_run
    from compressor.run.results import (
        describe_artifact,
        json_safe,
        snapshot,
        write_completed,
        written_since,
    )

    progress = progress or Progress()
    if not dist.is_main:
        progress = Progress(enabled=False)  # one set of bars: rank 0's
    cache = cache or StageCache(None)
    device = dist.device
    data = load_data(plan, registry)
    run_preflight(plan, registry, data)
    resolved = plan.resolved()
    completed: list[dict[str, Any]] = []
    if resume is not None:
        if out_dir is not None:
            raise UsageError(
                "--resume continues a run in its own folder; do not give --out with it"
            )
        reopened = reopen_run(Path(resume), resolved)
        out_dir, staging, completed = reopened.out_dir, reopened.staging, reopened.completed
    else:
        out_dir = Path(out_dir) if out_dir is not None else default_run_dir(plan.recipe.name)
        staging = _prepare_rank(out_dir, dist)
    started = time.perf_counter()
    context = RunContext(
        recipe=plan.recipe,
        registry=registry,
        run_dir=staging,
        device=device,
        seed=plan.recipe.seed,
        progress=progress,
        _data=data,
    )
    done: list[dict[str, Any]] = []
    current = ""
    try:
        # Inside the try: when even this first write fails, the folder is still marked failed.
        write_text(staging / "recipe.yaml", yaml.safe_dump(resolved, sort_keys=False))
        with interrupt.graceful_interrupts():
            behind = False
            for info in plan.stages:
                solo = dist.enabled and not registry.get("stage", info.type).all_ranks
                if behind and not solo:
                    distributed.barrier()  # the other ranks waited here while rank 0 ran alone
                behind = solo
                if solo and not dist.is_main:
                    continue
                current = info.name
                interrupt.check(f"the start of stage {info.name!r}")
                seed_everything(plan.recipe.seed + info.index)
                stage_ctx = StageContext(context, info)
                if len(done) < len(completed) and completed[len(done)]["name"] == info.name:
                    record = completed[len(done)]
                    _restore_stage(
                        stage_ctx, record["artifacts"], {**record["metrics"], "resumed": True}
                    )
                    done.append(record)
                    progress.print(
                        f"[green]✓[/] {info.name} ({info.type}) completed before the interruption"
                    )
                    continue
                record_type = registry.get("stage", info.type)
                material = (
                    _cache_material(resolved, registry, info, context)
                    if cache.enabled and record_type.cacheable
                    else None
                )
                key = cache_key(material) if material is not None else None
                hit = cache.load(key) if key is not None else None
                _call_lifecycle(registry, "compressor_before_stage", stage=info, context=context)
                stage_started = time.perf_counter()
                if hit is not None:
                    hit.copy_files(staging)
                    _restore_stage(stage_ctx, hit.artifacts, hit.metrics)
                    stage_ctx.log(
                        cached=True,
                        cache_key=hit.key[:16],
                        original_seconds=hit.metrics.get("seconds"),
                    )
                    files = hit.files
                else:
                    before = snapshot(staging, skip=(CHECKPOINT_DIR,))
                    try:
                        stage = record_type.build(info.options)
                        stage.run(stage_ctx)
                    except BaseException as error:
                        stage_ctx.log(
                            seconds=round(time.perf_counter() - stage_started, 3), error=str(error)
                        )
                        try:
                            _call_lifecycle(
                                registry,
                                "compressor_on_stage_error",
                                stage=info,
                                context=context,
                                error=error,
                            )
                        except Exception as hook_error:  # must not hide the stage's own error
                            progress.warn(str(hook_error))
                        raise
                    files = written_since(staging, before, skip=(CHECKPOINT_DIR,))
                seconds = time.perf_counter() - stage_started
                stage_ctx.log(seconds=round(seconds, 3))
                descriptions = [
                    describe_artifact(a, staging) for a in _published_by(context, info.name)
                ]
                metrics = json_safe(stage_ctx.metrics)
                if key is not None and hit is None and all(d is not None for d in descriptions):
                    if not cache.store(
                        key,
                        run_dir=staging,
                        files=files,
                        artifacts=descriptions,
                        metrics=metrics,
                        material=material or {},
                    ):
                        progress.warn(f"could not write the stage cache in {cache.root}")
                # The stage's own epoch checkpoints are spent: its results are saved.
                for spent in (staging / CHECKPOINT_DIR).glob(f"{info.name}-*.pt"):
                    spent.unlink()
                if all(d is not None for d in descriptions):
                    done.append(
                        {
                            "name": info.name,
                            "type": info.type,
                            "metrics": metrics,
                            "artifacts": descriptions,
                        }
                    )
                    write_completed(staging, done)
                _call_lifecycle(
                    registry, "compressor_after_stage", stage=info, context=context, seconds=seconds
                )
                how = "from cache" if hit is not None else f"in {seconds:.1f}s"
                progress.print(f"[green]✓[/] {info.name} ({info.type}) {how}")
    except BaseException as error:
        if not dist.is_main:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        stopped = isinstance(error, KeyboardInterrupt | interrupt.Interrupted)
        if isinstance(error, interrupt.Interrupted) and current:
            error.args = (f"{error} of stage {current!r}",)
        metrics = _metrics(plan, context, started, "interrupted" if stopped else "failed")
        try:
            write_json(staging / "metrics.json", metrics)
            write_text(staging / "error.txt", "".join(traceback.format_exception(error)))
        except WriteFailure:
            pass  # the disk may be what failed; the stage's own error is the one to report
        failed = out_dir.with_name(f"{out_dir.name}.failed")
        if failed.exists():
            shutil.rmtree(failed)
        os.replace(staging, failed)
        try:
            error.kept_run_dir = failed  # type: ignore[attr-defined]  # the CLI names it
        except AttributeError:
            pass
        raise

    if not dist.is_main:
        shutil.rmtree(staging, ignore_errors=True)
        return RunResult(run_dir=out_dir, metrics={})
    metrics = _metrics(plan, context, started, "completed")
    write_json(staging / "metrics.json", metrics)
    write_report(staging, metrics)
    # A completed run needs neither: its models are saved, and it cannot be resumed.
    shutil.rmtree(staging / CHECKPOINT_DIR, ignore_errors=True)
    (staging / COMPLETED_FILE).unlink(missing_ok=True)
    if out_dir.exists():
        out_dir.rmdir()  # empty, checked in _prepare
    os.replace(staging, out_dir)
    return RunResult(run_dir=out_dir, metrics=metrics)
