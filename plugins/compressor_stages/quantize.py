"""The ``quantize`` stage: INT8 copies of ONNX files with onnxruntime's quantization tools.

``mode: auto`` (the default) builds a static and a dynamic INT8 candidate, times them next to
the FP32 file in this run and keeps the fastest one that is accurate enough, or the FP32 graph
when no INT8 candidate is faster (:mod:`compressor_stages.quantize_auto`); the published file
has the name the recipe gave it either way, so a later benchmark stage finds it.
``mode: dynamic`` stores weights as INT8 and quantizes activations on the fly, per batch
(``quantize_dynamic``: no calibration). ``mode: static`` inserts QuantizeLinear/DequantizeLinear
pairs (QDQ) with activation ranges calibrated on batches of the recipe's *training* split, never
the test split the report's accuracy comes from. Both run ``quant_pre_process`` first (shape
inference and graph optimization, which quantization needs for good results). Every choice
(auto's candidate, the ``max_accuracy_drop`` guard) is made on the validation split (``split``,
through :func:`compressor.data.decision_split`); the test split then scores only the file
chosen and its FP32 source. ``split: test`` chooses on test, and the figures say so
(``chosen_on``).

Two choices serve batch-1 latency, where a small model's time goes to per-node overhead rather
than arithmetic: a model taking raw ``uint8`` pixels whose first layer is a Linear feeds the
integers straight into that layer (``integer_input``, see :mod:`compressor.onnx.rewrite`), and
layers with fewer weights than ``keep_fp32_below`` stay FP32 (a 10-class head saves a few KiB as
INT8 but pays a Quantize/Dequantize pair on every call).

The INT8 file is written through :func:`compressor.atomic.atomic_path`; its accuracy is measured
in onnxruntime next to the FP32 file's before the stage publishes it.

This module owns the stage: its inputs, the calibration batches it draws, the accuracy guard,
what it publishes and logs. The rest lives next to it and is re-exported here:
:mod:`compressor_stages.quantize_auto` (the candidates of ``mode: auto`` and the rule that keeps
one), :mod:`compressor_stages.quantize_nodes` (which nodes become INT8),
:mod:`compressor_stages.quantize_calibration` (the calibration reader and rows) and
:mod:`compressor_stages.quantize_onnx` (:func:`quantize_file`, one file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from compressor.artifacts import FileArtifact
from compressor.context import StageContext
from compressor.data import DataBundle, DataSplit, NumpyRows, decision_split
from compressor.errors import RecipeError, StageFailure
from compressor_stages.onnx_inputs import require_onnx_files
from compressor_stages.quantize_auto import FP32, quantize_auto
from compressor_stages.quantize_calibration import SplitReader, calibration_batches
from compressor_stages.quantize_nodes import gemm_to_matmul, quantizable_ops, small_weight_nodes
from compressor_stages.quantize_onnx import quantize_file

__all__ = [
    "QuantizeStage",
    "SplitReader",
    "calibration_batches",
    "gemm_to_matmul",
    "quantizable_ops",
    "quantize_auto",
    "quantize_file",
    "quantized_name",
    "small_weight_nodes",
]

#: Turns a batch of the dataset's rows into what one ONNX file takes (normalized floats, or
#: raw pixels for a model that embeds its normalization).
_Converter = Callable[[np.ndarray], np.ndarray]


def quantized_name(name: str) -> str:
    """Default output name: ``student.onnx`` -> ``student.int8.onnx``."""
    return f"{name.removesuffix('.onnx')}.int8.onnx"


def _static_calibration(
    ctx: StageContext, opts: Any, data: DataBundle, convert: _Converter
) -> list[np.ndarray]:
    """The calibration batches of the training split, drawn with the stage's seed, converted."""
    train_x = NumpyRows(data.train)  # only the drawn rows are decoded, on either path
    batch = opts.calibration_batch_size or ctx.batch_size
    drawn = calibration_batches(train_x, opts.calibration_batches, batch, ctx.seed())
    return [convert(b) for b in drawn]


def _settings(opts: Any, mode: str) -> dict[str, Any]:
    """``per_channel`` and ``activations`` for building ``mode``'s file.

    Unset, they keep what ``mode: static`` and ``mode: dynamic`` always did (per tensor, int8
    activations); ``auto``'s static candidate is per channel with uint8 activations, which
    onnxruntime's x86 kernels run as integer convolutions (see ``activations`` in
    :func:`quantize_file`).
    """
    auto_static = opts.mode == "auto" and mode == "static"
    per_channel = opts.per_channel if opts.per_channel is not None else auto_static
    activations = opts.activations or ("uint8" if auto_static else "int8")
    return {"per_channel": per_channel, "activations": activations}


def _int8_copy(
    ctx: StageContext,
    opts: Any,
    data: DataBundle,
    source: Path,
    target: Path,
    convert: _Converter,
    mode: str,
) -> dict[str, Any]:
    """Quantize ``source`` into ``target`` as ``mode`` says.

    Returns:
        :func:`quantize_file`'s facts less ``calibrated``, with ``calibration_samples``: how
        many calibration samples were used.
    """
    calibration = None
    if mode == "static":
        calibration = _static_calibration(ctx, opts, data, convert)
    facts = quantize_file(
        source,
        target,
        mode=mode,
        preprocess=opts.preprocess,
        calibration=calibration,
        integer_input=opts.integer_input,
        keep_fp32_below=opts.keep_fp32_below,
        **_settings(opts, mode),
    )
    # Calibration only runs when a layer besides an integer-input one is left.
    calibrated = sum(len(b) for b in calibration or []) if facts.pop("calibrated") else 0
    return {**facts, "calibration_samples": calibrated}


def _auto_copy(
    ctx: StageContext,
    opts: Any,
    data: DataBundle,
    artifact: FileArtifact,
    target: Path,
    convert: _Converter,
    accuracy: Callable[[Path], float],
    split: DataSplit,
) -> tuple[dict[str, Any], float, float]:
    """``mode: auto``: build and time the candidates, write the kept one into ``target``.

    ``accuracy`` measures a file on ``split``, the split the stage chooses on; the candidates
    are timed on its first rows.

    Returns:
        The kept file's facts (as :func:`_int8_copy` gives them; none of the INT8 ones when
        FP32 is kept) with ``kept``, ``reason`` and every candidate's figures; the FP32 file's
        accuracy; the kept file's accuracy.
    """
    from compressor.bench.session import batch_of

    choice, candidates, facts = quantize_auto(
        artifact.path,
        target,
        build=lambda mode, path: _int8_copy(ctx, opts, data, artifact.path, path, convert, mode),
        accuracy=accuracy,
        inputs={b: convert(batch_of(split, b)) for b in opts.auto_batches},
        opts=opts,
        metric=(ctx.task.metric.key, ctx.task.metric.label),
    )
    if choice.kept == FP32:
        facts = {"quantized_ops": {}, "integer_input": False, "kept_fp32": [], "float_tail": []}
    facts = {
        "calibration_samples": 0,
        **facts,
        "mode": "auto",
        "file_bytes": target.stat().st_size,
        "kept": choice.kept,
        "reason": choice.reason,
        "candidates": candidates,
    }
    key = f"{opts.split}_{ctx.task.metric.key}"
    return facts, candidates[FP32][key], candidates[choice.kept][key]


def _choice_split(ctx: StageContext, opts: Any, data: DataBundle) -> DataSplit:
    """The split the stage chooses on (``opts.split``), through the decision API.

    Raises:
        RecipeError: That split is empty: nothing to choose on.
    """
    field = f"stages.{ctx.info.name}.split"
    split = decision_split(
        data,
        opts.split,
        decides=f"{ctx.info.name}: the INT8 file and max_accuracy_drop",
        override=f"{field}: test" if opts.split == "test" else None,
    )
    if len(split) == 0:
        raise RecipeError(
            field,
            f"the {opts.split} split the stage chooses on is empty; give the data a validation "
            "split (e.g. the dataset's val_fraction)",
            value=opts.split,
        )
    return split


def _quantize_and_measure(
    ctx: StageContext, opts: Any, data: DataBundle, artifact: FileArtifact, target: Path
) -> dict[str, Any]:
    """Quantize ``artifact``'s file into ``target``: choose on ``opts.split``, then score what
    was chosen (and its FP32 source) on the test split.

    Returns:
        The file's figures for ``metrics.json``, each named by the split it was measured on:
        ``test_fp32_accuracy``, ``test_int8_accuracy`` and ``test_accuracy_delta_points``
        (also as ``fp32_accuracy``, ``int8_accuracy``, ``accuracy_delta_points`` with
        ``split: test``), the same three prefixed ``val_`` when the choice was made on
        validation, and ``chosen_on``; with ``mode: auto`` also ``kept``, ``reason`` and
        ``candidates`` (see :func:`_auto_copy`).
    """
    # Imported here: the session module imports onnxruntime and inspection imports onnx,
    # needed only to quantize and measure a file (`compressor validate` imports this module).
    from compressor.bench.session import make_session, onnx_accuracy
    from compressor.onnx.inspection import input_spec, load_onnx, to_model_inputs

    spec = input_spec(load_onnx(artifact.path))
    chosen_on = _choice_split(ctx, opts, data)

    def convert(x: np.ndarray) -> np.ndarray:
        return to_model_inputs(x, spec, data.mean, data.std)

    def accuracy(path: Path, split: DataSplit = chosen_on) -> float:
        session = make_session(path)
        return onnx_accuracy(session, split, ctx.eval_batch_size, convert, task=ctx.task, data=data)

    if opts.mode == "auto":
        facts, fp32, int8 = _auto_copy(
            ctx, opts, data, artifact, target, convert, accuracy, chosen_on
        )
    else:
        facts = _int8_copy(ctx, opts, data, artifact.path, target, convert, opts.mode)
        fp32, int8 = accuracy(artifact.path), accuracy(target)
    key = ctx.task.metric.key
    figures = {
        "chosen_on": opts.split,
        f"{opts.split}_fp32_{key}": fp32,
        f"{opts.split}_int8_{key}": int8,
        f"{opts.split}_{key}_delta_points": 100.0 * (int8 - fp32),
    }
    _guard_accuracy(opts, target.name, target, figures, (key, ctx.task.metric.label))
    if opts.split != "test":  # the test split scores only what was chosen, and its source
        fp32, int8 = accuracy(artifact.path, data.test), accuracy(target, data.test)
    figures |= {
        f"test_fp32_{key}": fp32,
        f"test_int8_{key}": int8,
        f"test_{key}_delta_points": 100.0 * (int8 - fp32),
    }
    fp32_bytes = artifact.path.stat().st_size
    return {
        "source": artifact.name,
        **facts,
        "split": "test",
        f"fp32_{key}": fp32,
        f"int8_{key}": int8,
        f"{key}_delta_points": figures[f"test_{key}_delta_points"],
        **figures,
        "fp32_bytes": fp32_bytes,
        "size_ratio": fp32_bytes / facts["file_bytes"],
    }


def _guard_accuracy(
    opts: Any, name: str, target: Path, figures: dict[str, Any], metric: tuple[str, str]
) -> None:
    """Remove ``target`` and fail when INT8 lost more than ``max_accuracy_drop`` points of the
    task's metric (``metric``: its key and label) on the split the stage chooses on
    (``figures["chosen_on"]``), before the test split is read.

    ``mode: auto`` never fails here: it kept no candidate that lost more.

    Raises:
        StageFailure: The drop is over the limit; the message says what to try.
    """
    if opts.mode == "auto":
        return
    key, label = metric
    split = figures["chosen_on"]  # the guard is a choice: made on that split's figures
    drop = -figures[f"{split}_{key}_delta_points"]
    if opts.max_accuracy_drop is not None and not drop <= opts.max_accuracy_drop:
        target.unlink()
        fp32, int8 = figures[f"{split}_fp32_{key}"], figures[f"{split}_int8_{key}"]
        raise StageFailure(
            f"{name} lost {drop:.2f} {split} {label} points ({100 * fp32:.2f}% -> "
            f"{100 * int8:.2f}%), more than max_accuracy_drop {opts.max_accuracy_drop:g}; "
            "try mode: static, per_channel: true, or more calibration_batches"
        )


def _int8_artifact(
    artifact: FileArtifact, name: str, target: Path, figures: dict[str, Any], key: str
) -> FileArtifact:
    """The published file, carrying its FP32 file's counts.

    When ``mode: auto`` kept FP32, the file is the FP32 graph under the recipe's INT8 name:
    ``precision`` says ``fp32`` and ``quantization`` says ``fp32``, so a benchmark stage times it
    next to its source and the report says "kept FP32".
    """
    kept = figures.get("kept", figures["mode"])
    return FileArtifact(
        name=name,
        path=target,
        format="onnx",
        # The FP32 file, not the PyTorch model: its eager latency is no INT8 figure.
        source=artifact.name,
        meta={
            "params": artifact.meta.get("params"),
            "macs": artifact.meta.get("macs"),
            "quantized_from": artifact.name,
            "precision": "fp32" if kept == FP32 else "int8",
            "quantization": kept,
            f"test_{key}": figures[f"int8_{key}"],
        },
    )


class QuantizeStage:
    """Quantize every ONNX file in the ``models`` slot to INT8 and measure what it costs.

    Args:
        options: The validated :class:`~compressor_stages.options.QuantizeOptions`.
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Quantize, measure FP32 and INT8 accuracy in onnxruntime, publish the INT8 files.

        With ``mode: auto`` each file's choice and its reason go to the console, one line each.

        Raises:
            UsageError: An input is not an ONNX file.
            StageFailure: A model cannot be quantized, or loses more accuracy than
                ``max_accuracy_drop`` allows.
        """
        opts = self.options
        models = ctx.input("models") or []
        names = ctx.output_name("files") or []
        require_onnx_files(models, "quantize takes")
        data = ctx.data
        results: dict[str, Any] = {}
        with ctx.progress(len(models), ctx.info.name) as bar:
            for artifact, name in zip(models, names, strict=True):
                target = ctx.run_dir / name
                figures = _quantize_and_measure(ctx, opts, data, artifact, target)
                metric = (ctx.task.metric.key, ctx.task.metric.label)
                results[name] = figures
                ctx.publish(_int8_artifact(artifact, name, target, figures, metric[0]))
                if "reason" in figures:
                    line = f"{ctx.info.name}: {name} {figures['reason']}"
                    ctx.run.progress.print(line, markup=False, highlight=False, soft_wrap=True)
                bar.advance(1, model=name, **{f"int8_{metric[0]}": figures[f"int8_{metric[0]}"]})
        ctx.log(files=results, mode=opts.mode)
