"""The run's ``metrics.json`` document: status, timing, versions, data, stages and artifacts.

The report (:mod:`compressor.report`) is drawn from this document alone, so its keys are the
contract between a run and ``compressor report``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compressor import __version__

if TYPE_CHECKING:
    from compressor.context import RunContext
    from compressor.recipe import Plan


def artifact_summary(context: RunContext) -> dict[str, Any]:
    """name -> kind, producer, file and plain (number, string, bool) metadata, per artifact."""
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


def run_metrics(plan: Plan, context: RunContext, started: float, status: str) -> dict[str, Any]:
    """The ``metrics.json`` document of a run as it stands now.

    Args:
        plan: The run's plan.
        context: The run.
        started: :func:`time.perf_counter` when the run started.
        status: ``completed``, ``failed`` or ``interrupted``.
    """
    import onnx
    import onnxruntime
    import torch

    from compressor.training import distributed

    data = context._data.describe() if context._data is not None else {}
    try:
        task = context.task
    except Exception:  # noqa: BLE001 - a run that failed before its task was known
        task = None
    described = (
        {
            "name": task.name,
            "metric": {
                "key": task.metric.key,
                "label": task.metric.label,
                "higher_is_better": task.metric.higher_is_better,
            },
        }
        if task is not None
        else {}
    )
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
        "task": described,
        "data": data,
        "stages": {
            s.name: {"type": s.type, **context.metrics.get(s.name, {})} for s in plan.stages
        },
        "artifacts": artifact_summary(context),
    }
