"""The task contract check: :func:`check_task`.

A task plugin's factory is called as a recipe calls it, ``factory(options)``, and must return a
:class:`compressor.task.Task`. :func:`check_task` runs the real task on a real model and data
and checks what every stage, exporter and ``compressor predict`` relies on:

- its class attributes (a name, output names, a metric) and that its default loss applies;
- :meth:`~compressor.task.Task.collate` gives one row per sample, and the data's targets suit it;
- the deployed form returns one tensor per output name, batch first, and the scorer computes
  the headline metric from those outputs as numpy arrays;
- scoring in two halves and merging the states (what torchrun's ranks do) gives what scoring
  at once gives;
- the exported file (TorchScript ONNX export, run in onnxruntime) scores as PyTorch does;
- the metadata is JSON, and :meth:`~compressor.task.Task.predictions` and
  :meth:`~compressor.task.Task.table` read the file's outputs into one JSON-ready answer per
  input, with rows as wide as the table's columns.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from compressor.data import DataBundle, batches
from compressor.records import TaskPlugin
from compressor.task import Task
from compressor.testing.building import find_record, parse_options

#: Samples scored by the check (fewer when the split is smaller).
CHECK_SAMPLES = 24


def _built(task: Any, options: Mapping[str, Any] | BaseModel | None) -> tuple[Task, Any]:
    """The task instance and its record (``None`` for a factory or an instance)."""
    record = find_record("task", task, TaskPlugin)
    if isinstance(task, Task):
        return task, None
    parsed = parse_options(record, options)
    built = record.build(parsed) if record is not None else task(parsed)
    assert isinstance(built, Task), (
        f"task factory returned {type(built).__name__}; it must return a compressor.task.Task"
    )
    if record is not None:
        assert built.name == record.name, (
            f"the task instance is named {built.name!r} but registered as {record.name!r}"
        )
    return built, record


def _check_attributes(task: Task) -> None:
    assert task.name, "a task needs a name"
    assert task.outputs and all(isinstance(o, str) and o for o in task.outputs), (
        f"task {task.name!r}: outputs must name the deployed form's outputs, got {task.outputs!r}"
    )
    metric = task.metric
    assert metric.key and metric.label, f"task {task.name!r}: the metric needs a key and a label"
    assert task.table_columns, f"task {task.name!r}: predict's table needs columns"
    from compressor.plugin.registry import Registry

    registry = Registry.load()
    if registry.has("loss", task.default_loss):
        problem = task.loss_problem(registry.get("loss", task.default_loss))
        assert problem is None, (
            f"task {task.name!r}: its own default loss does not apply: {problem}"
        )


def _scores(task: Task, model: nn.Module, data: DataBundle, rows: torch.Tensor) -> Any:
    """A scorer fed with the deployed form's outputs on ``rows`` of the test split."""
    scorer = task.scorer(data)
    deployed = task.deployable(model).eval()
    with torch.no_grad():
        for _, x, y in batches(data.test, 8, order=rows):
            out = deployed(x)
            parts = out if isinstance(out, (tuple, list)) else (out,)
            assert len(parts) == len(task.outputs), (
                f"task {task.name!r}: the deployed form returned {len(parts)} outputs, its "
                f"outputs name {len(task.outputs)} ({', '.join(task.outputs)})"
            )
            for part in parts:
                assert isinstance(part, torch.Tensor) and len(part) == len(x), (
                    f"task {task.name!r}: every output must be a tensor with the batch first"
                )
            scorer.update([p.detach().cpu().numpy() for p in parts], y.numpy())
    return scorer


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-6)
    return bool(a == b)


def _check_scoring(task: Task, model: nn.Module, data: DataBundle) -> dict[str, Any]:
    """Score at once, and in two merged halves; both must agree. Returns the figures."""
    rows = torch.arange(min(CHECK_SAMPLES, len(data.test)))
    whole = _scores(task, model, data, rows).compute()
    key = task.metric.key
    assert key in whole, f"task {task.name!r}: the scorer's figures lack the headline {key!r}"
    value = float(whole[key])  # a number, or NaN when nothing could be scored
    first = _scores(task, model, data, rows[: len(rows) // 2])
    second = _scores(task, model, data, rows[len(rows) // 2 :])
    first.merge([second.state()])
    merged = first.compute()
    assert _same(float(merged[key]), value), (
        f"task {task.name!r}: two halves merged score {key} = {merged[key]}, the whole "
        f"{value}; state() and merge() must carry everything compute() reads"
    )
    return whole


def _check_export(task: Task, model: nn.Module, data: DataBundle, expected: float) -> Any:
    """Export the deployed form (TorchScript exporter), run it in onnxruntime, score it."""
    import onnxruntime as ort

    rows = torch.arange(min(CHECK_SAMPLES, len(data.test)))
    deployed = task.deployable(model).eval()
    x = data.test.take(rows)
    with (
        tempfile.TemporaryDirectory(prefix="compressor-check-task-") as scratch,
        warnings.catch_warnings(),
    ):
        # The TorchScript exporter warns that it is the legacy one: it is the one that names
        # every output and keeps the batch axis dynamic for any model.
        warnings.simplefilter("ignore", DeprecationWarning)
        path = Path(scratch) / "task.onnx"
        torch.onnx.export(
            deployed,
            (x[:2],),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=list(task.outputs),
            dynamic_axes={n: {0: "batch"} for n in ("input", *task.outputs)},
        )
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs = session.run(None, {"input": x.numpy()})
    scorer = task.scorer(data)
    scorer.update(outputs, data.test.labels[rows].numpy())
    got = float(scorer.compute()[task.metric.key])
    assert _same(got, expected) or abs(got - expected) <= 1e-3, (
        f"task {task.name!r}: the exported file scores {got}, PyTorch {expected}"
    )
    return outputs


def _check_deployment(task: Task, data: DataBundle, outputs: list[np.ndarray]) -> None:
    """Metadata, predictions and table, read from the file's outputs with numpy alone."""
    recorded = dict(task.metadata(data))
    json.dumps(recorded)
    recorded["class_names"] = list(data.class_names)
    recorded["model_input"] = list(data.input_shape[-2:])
    recorded["input_size"] = [list(data.input_shape[-2:])] * len(outputs[0])
    answers = task.predictions(outputs, recorded, top=3)
    assert len(answers) == len(outputs[0]), (
        f"task {task.name!r}: predictions gave {len(answers)} answers for {len(outputs[0])} inputs"
    )
    json.dumps(answers)
    for answer in answers:
        for row in task.table(answer):
            assert len(row) == len(task.table_columns), (
                f"task {task.name!r}: a table row has {len(row)} cells, the table "
                f"{len(task.table_columns)} columns ({', '.join(task.table_columns)})"
            )


def check_task(
    task: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    model: nn.Module,
    data: DataBundle,
    export: bool = True,
) -> dict[str, Any]:
    """Run a task on ``model`` and ``data`` as the stages, exporters and ``predict`` do.

    Args:
        task: A registered name, a :class:`~compressor.records.TaskPlugin`, a factory called
            as ``factory(options)``, or a :class:`~compressor.task.Task` instance.
        options: The task's options (validated by the record's schema).
        model: A model of the task (its raw outputs are what the task's deployed form reads);
            trained or not.
        data: Data of the task: its test split is scored (the first
            :data:`CHECK_SAMPLES` samples).
        export: Also export the deployed form to ONNX and score the file in onnxruntime.

    Returns:
        The scorer's figures on those samples, for further assertions.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    built, _ = _built(task, options)
    _check_attributes(built)
    problem = built.check_data(data)
    assert problem is None, f"task {built.name!r} refuses the data: {problem}"
    targets = [data.test.labels[i] for i in range(min(3, len(data.test)))]
    collated = built.collate(targets)
    assert isinstance(collated, torch.Tensor) and len(collated) == len(targets), (
        f"task {built.name!r}: collate must give one row per sample"
    )
    model = model.cpu().eval()
    figures = _check_scoring(built, model, data)
    if export:
        outputs = _check_export(built, model, data, float(figures[built.metric.key]))
        _check_deployment(built, data, outputs)
    return figures
