"""Runs a resolved recipe: stages in order over one run context, into one run folder.

The run folder is built under a hidden staging name (``.NAME.partial``) and renamed to its
final name only when every stage succeeded, so a folder under its final name is always a
complete run. A failed run is renamed to ``NAME.failed`` with ``error.txt`` beside what the
finished stages wrote; every file in it was itself written atomically.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressor import __version__
from compressor.atomic import write_json, write_text
from compressor.context import RunContext, StageContext
from compressor.errors import CompressorError, PluginError, UsageError, WriteFailure
from compressor.progress import Progress
from compressor.recipe import Plan
from compressor.registry import Registry


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
            raise UsageError(f"device: {device!r} but CUDA is not available here; valid choices: auto, cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UsageError(f"device: {device!r} but only {torch.cuda.device_count()} CUDA device(s)")
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
        raise UsageError(f"--out {out_dir}: cannot create the run folder ({exc.strerror})") from None
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
        "versions": {
            "compressor": __version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "data": data,
        "stages": {s.name: {"type": s.type, **context.metrics.get(s.name, {})} for s in plan.stages},
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


def run(
    plan: Plan,
    registry: Registry,
    out_dir: Path | None = None,
    *,
    progress: Progress | None = None,
) -> RunResult:
    """Run every stage of ``plan`` in order and write the run folder.

    Args:
        plan: A recipe resolved by :func:`compressor.recipe.load`.
        registry: The registry the plan was resolved against.
        out_dir: The run folder (default ``runs/<recipe>-<timestamp>``); must not hold files.
        progress: Where progress bars go (default: standard error).

    Returns:
        The run folder and its metrics.

    Raises:
        CompressorError: A stage failed; the partial run is kept as ``<out_dir>.failed``.
    """
    import yaml

    from compressor.report import write_report

    from compressor.preflight import load_data, run_preflight

    progress = progress or Progress()
    device = resolve_device(plan.recipe.device)
    data = load_data(plan, registry)
    run_preflight(plan, registry, data)
    out_dir = Path(out_dir) if out_dir is not None else default_run_dir(plan.recipe.name)
    staging = _prepare(out_dir)
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
    try:
        # Inside the try: when even this first write fails, the folder is still marked failed.
        write_text(staging / "recipe.yaml", yaml.safe_dump(plan.resolved(), sort_keys=False))
        for info in plan.stages:
            seed_everything(plan.recipe.seed + info.index)
            stage_ctx = StageContext(context, info)
            _call_lifecycle(registry, "compressor_before_stage", stage=info, context=context)
            stage_started = time.perf_counter()
            try:
                stage = registry.get("stage", info.type).build(info.options)
                stage.run(stage_ctx)
            except BaseException as error:
                stage_ctx.log(seconds=round(time.perf_counter() - stage_started, 3), error=str(error))
                try:
                    _call_lifecycle(
                        registry, "compressor_on_stage_error", stage=info, context=context, error=error
                    )
                except Exception as hook_error:  # must not hide the stage's own error
                    progress.print(f"[yellow]warning:[/] {hook_error}")
                raise
            seconds = time.perf_counter() - stage_started
            stage_ctx.log(seconds=round(seconds, 3))
            _call_lifecycle(
                registry, "compressor_after_stage", stage=info, context=context, seconds=seconds
            )
            progress.print(f"[green]✓[/] {info.name} ({info.type}) in {seconds:.1f}s")
    except BaseException as error:
        metrics = _metrics(plan, context, started, "failed")
        try:
            write_json(staging / "metrics.json", metrics)
            write_text(staging / "error.txt", "".join(traceback.format_exception(error)))
        except WriteFailure:
            pass  # the disk may be what failed; the stage's own error is the one to report
        failed = out_dir.with_name(f"{out_dir.name}.failed")
        if failed.exists():
            shutil.rmtree(failed)
        os.replace(staging, failed)
        raise

    metrics = _metrics(plan, context, started, "completed")
    write_json(staging / "metrics.json", metrics)
    write_report(staging, metrics)
    if out_dir.exists():
        out_dir.rmdir()  # empty, checked in _prepare
    os.replace(staging, out_dir)
    return RunResult(run_dir=out_dir, metrics=metrics)
