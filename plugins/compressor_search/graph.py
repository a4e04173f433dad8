"""A candidate's deployed file: exported, quantized as its knob says, and fingerprinted.

The file is what a deployment runs, so its size is the budget's ``size_bytes`` and its graph
is what gets timed. The fingerprint (:func:`graph_hash`) covers the graph's structure (ops,
attributes, tensor shapes and types) and not the weights' values, so two candidates with the
same architecture, e.g. different criteria removing different channels of the same count, share
one latency measurement.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from compressor.export_context import ExportContext, call_export, run_recipe_hash

if TYPE_CHECKING:
    import onnx

    from compressor.context import StageContext

#: Real validation rows the exporter traces and checks parity on.
PARITY_ROWS = 16


def export_context(ctx: StageContext, artifact: str) -> ExportContext:
    """What the exported file carries, as the ``export`` stage gives it."""
    data = ctx.data
    return ExportContext(
        input_shape=tuple(data.input_shape),
        mean=tuple(float(v) for v in data.mean),
        std=tuple(float(v) for v in data.std),
        class_names=tuple(str(c) for c in data.class_names),
        dataset=data.name,
        recipe_name=str(getattr(ctx.run.recipe, "name", "")),
        recipe_hash=run_recipe_hash(ctx.run_dir, ctx.run.recipe),
        artifact=artifact,
        preprocessing=data.preprocessing.describe() if data.preprocessing else None,
    )


def _calibration(ctx: StageContext, fp32: Path, batches: int, seed: int) -> list[np.ndarray]:
    """Training batches for static INT8, as the file takes them (raw pixels when embedded)."""
    from compressor.data import NumpyRows
    from compressor.onnx.inspection import input_spec, load_onnx, to_model_inputs

    spec = input_spec(load_onnx(fp32))
    rows = NumpyRows(ctx.data.train)
    order = np.random.default_rng(seed).permutation(len(rows))[: batches * ctx.batch_size]
    chunks = [order[i : i + ctx.batch_size] for i in range(0, len(order), ctx.batch_size)]
    return [to_model_inputs(rows[c], spec, ctx.data.mean, ctx.data.std) for c in chunks]


def quantize(
    ctx: StageContext, fp32: Path, target: Path, mode: str, *, batches: int, seed: int
) -> dict[str, Any]:
    """Write ``fp32`` as INT8 to ``target`` the way the ``quantize`` stage's ``auto`` builds
    its candidates: static per channel with uint8 activations, or dynamic.

    Raises:
        StageFailure: The graph has nothing the mode quantizes.
    """
    # The quantize stage's own file writer, so the searched graph is what that stage deploys.
    from compressor_stages.quantize_onnx import quantize_file

    static = mode == "static"
    return quantize_file(
        fp32,
        target,
        mode=mode,
        per_channel=static,
        preprocess=True,
        calibration=_calibration(ctx, fp32, batches, seed) if static else None,
        integer_input=True,
        keep_fp32_below=4096,
        activations="uint8" if static else "int8",
    )


def deploy(
    ctx: StageContext,
    exporter: Any,
    model: nn.Module,
    folder: Path,
    *,
    name: str,
    quantization: str,
    calibration_batches: int,
    seed: int,
) -> Path:
    """Export ``model`` into ``folder`` and quantize it as ``quantization`` says.

    Args:
        ctx: The search stage.
        exporter: A built exporter (the stage's ``exporter:``).
        model: The model, on the CPU in eval mode.
        folder: Where ``NAME.onnx`` (and ``NAME.int8.onnx``) are written.
        name: The files' stem and the artifact name they record.
        quantization: ``fp32``, ``dynamic`` or ``static``.
        calibration_batches: Training batches static INT8 is calibrated on.
        seed: Draws the calibration rows.

    Returns:
        The deployed file: the FP32 one, or the INT8 copy.

    Raises:
        StageFailure: Export, its parity check, or quantization failed.
    """
    from compressor.data import head

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / f"{name}.onnx"
    example = head(ctx.data.val, PARITY_ROWS).cpu()
    call_export(exporter, model.cpu().eval(), example, fp32, export_context(ctx, name))
    if quantization == "fp32":
        return fp32
    int8 = folder / f"{name}.int8.onnx"
    quantize(ctx, fp32, int8, quantization, batches=calibration_batches, seed=seed)
    return int8


def _attribute_text(attribute: onnx.AttributeProto) -> str:
    """An attribute's value, a tensor by its type and shape only."""
    from onnx import helper

    if attribute.HasField("t"):
        return f"tensor{attribute.t.data_type}{list(attribute.t.dims)}"
    if attribute.HasField("g") or attribute.graphs:
        graphs = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
        return "graph[" + ",".join(_graph_text(g) for g in graphs) + "]"
    return repr(helper.get_attribute_value(attribute))


def _value_text(value: onnx.ValueInfoProto) -> str:
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
    return f"{tensor.elem_type}{dims}"


def _graph_text(graph: onnx.GraphProto) -> str:
    """The graph's structure as text: ops in order with their attributes and wiring, the
    initializers' types and shapes, the inputs' and outputs' types and shapes."""
    lines = [f"in {_value_text(v)}" for v in graph.input]
    lines += [f"out {_value_text(v)}" for v in graph.output]
    lines += [f"init {t.name} {t.data_type}{list(t.dims)}" for t in graph.initializer]
    for node in graph.node:
        attributes = ";".join(f"{a.name}={_attribute_text(a)}" for a in node.attribute)
        lines.append(
            f"{node.domain}:{node.op_type}({','.join(node.input)})->{','.join(node.output)}"
            f"[{attributes}]"
        )
    return "\n".join(lines)


def graph_hash(path: Path) -> str:
    """A fingerprint of the file's graph: equal for graphs that run the same ops on tensors of
    the same shapes, whatever the weights' values (16 hex digits of SHA-256)."""
    from compressor.onnx.inspection import load_onnx

    proto = load_onnx(path)
    opsets = ",".join(f"{o.domain}:{o.version}" for o in proto.opset_import)
    text = opsets + "\n" + _graph_text(proto.graph)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
