"""The ``quantize`` stage: INT8 copies of ONNX files with onnxruntime's quantization tools.

``mode: dynamic`` stores weights as INT8 and quantizes activations on the fly, per batch
(``quantize_dynamic``: no calibration). ``mode: static`` inserts QuantizeLinear/DequantizeLinear
pairs (QDQ) with activation ranges calibrated on batches of the recipe's *training* split, never
the test split the report's accuracy comes from. Both run ``quant_pre_process`` first (shape
inference and graph optimization, which quantization needs for good results).

Two choices serve batch-1 latency, where a small model's time goes to per-node overhead rather
than arithmetic: a model taking raw ``uint8`` pixels whose first layer is a Linear feeds the
integers straight into that layer (``integer_input``, see :mod:`compressor.onnx.rewrite`), and
layers with fewer weights than ``keep_fp32_below`` stay FP32 (a 10-class head saves a few KiB as
INT8 but pays a Quantize/Dequantize pair on every call).

The INT8 file is written through :func:`compressor.atomic.atomic_path`; its accuracy is measured
in onnxruntime next to the FP32 file's before the stage publishes it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from compressor.artifacts import FileArtifact
from compressor.atomic import atomic_path
from compressor.context import StageContext
from compressor.errors import StageFailure, UsageError
from compressor.onnx.inspection import input_spec, load_onnx, to_model_inputs
from compressor.onnx.rewrite import integer_input_first_layer

#: Op types each mode can quantize (onnxruntime's registries, as of 1.18..1.32). Checked
#: before anything is written, so a model without one fails with a clear message.
_DYNAMIC_OPS = {
    "Attention",
    "Conv",
    "EmbedLayerNormalization",
    "Gather",
    "LSTM",
    "MatMul",
    "Transpose",
}
#: Ops that carry the arithmetic; a static quantization touching only Relu or Reshape is no
#: INT8 model in any useful sense.
_STATIC_COMPUTE_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Attention", "LSTM", "Gather"}
#: What each mode can turn into INT8; Gemm for dynamic through :func:`gemm_to_matmul`.
_QUANTIZABLE = {"dynamic": _DYNAMIC_OPS | {"Gemm"}, "static": _STATIC_COMPUTE_OPS}
#: Op types that mark a quantized graph, for the check after quantizing.
_QUANTIZED_OPS = {
    "QuantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QLinearMatMul",
    "QLinearConv",
    "DynamicQuantizeMatMul",
    "QAttention",
    "DynamicQuantizeLSTM",
    "MatMulIntegerToFloat",
}
#: Ops whose second input is the weight :func:`small_weight_nodes` measures.
_WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def quantized_name(name: str) -> str:
    """Default output name: ``student.onnx`` -> ``student.int8.onnx``."""
    return f"{name.removesuffix('.onnx')}.int8.onnx"


def quantizable_ops(proto: onnx.ModelProto, mode: str) -> list[str]:
    """The op types in ``proto`` that ``mode`` quantizes, sorted.

    Gemm counts for dynamic mode too: :func:`gemm_to_matmul` rewrites it first.
    """
    return sorted({node.op_type for node in proto.graph.node if node.op_type in _QUANTIZABLE[mode]})


def gemm_to_matmul(proto: onnx.ModelProto) -> int:
    """Rewrite ``Gemm`` nodes with a constant weight as ``MatMul`` (+ ``Add`` for the bias).

    torch exports ``nn.Linear`` as Gemm, which onnxruntime's dynamic quantization skips (its
    registry has MatMul but not Gemm): without this, a whole MLP would stay FP32. Only plain
    Gemms are rewritten (alpha = beta = 1, no transposed input); ``transB`` is folded into a
    transposed copy of the weight.

    Returns:
        How many nodes were rewritten (``proto`` is changed in place).
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    weights = {t.name: t for t in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            node.op_type == "Gemm"
            and node.input[1] in weights
            and attrs.get("alpha", 1.0) == 1.0
            and attrs.get("beta", 1.0) == 1.0
            and not attrs.get("transA", 0)
        )
        if not plain:
            nodes.append(node)
            continue
        weight_name = node.input[1]
        if attrs.get("transB", 0):
            array = numpy_helper.to_array(weights[weight_name]).T.copy()
            weight_name = f"{weight_name}_matmul"
            graph.initializer.append(numpy_helper.from_array(array, weight_name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(
            helper.make_node(
                "MatMul", [node.input[0], weight_name], [product], name=f"{node.name}_matmul"
            )
        )
        if has_bias:
            nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"
                )
            )
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:  # the original transB weights, now copied
        graph.initializer.remove(tensor)
    return rewritten


def small_weight_nodes(proto: onnx.ModelProto, below: int) -> list[str]:
    """Names of weighted nodes whose constant weight has fewer than ``below`` elements.

    Unnamed nodes are named first (onnxruntime's quantizer excludes nodes by name).
    """
    sizes = {t.name: int(np.prod(t.dims)) for t in proto.graph.initializer}
    small = []
    for index, node in enumerate(proto.graph.node):
        if node.op_type not in _WEIGHTED_OPS or len(node.input) < 2:
            continue
        if node.input[1] in sizes and sizes[node.input[1]] < below:
            if not node.name:
                node.name = f"{node.op_type}_{index}"
            small.append(node.name)
    return small


class SplitReader:
    """A ``CalibrationDataReader`` over fixed batches (onnxruntime calls ``get_next`` until None)."""

    def __init__(self, input_name: str, batches: list[np.ndarray]) -> None:
        self.input_name = input_name
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self.input_name: batch}


def calibration_batches(
    x: np.ndarray, batches: int, batch_size: int, seed: int
) -> list[np.ndarray]:
    """``batches`` batches of ``batch_size`` rows drawn without replacement (as far as they go)."""
    order = np.random.default_rng(seed).permutation(len(x))
    take = order[: batches * batch_size]
    return [
        np.ascontiguousarray(x[take[i : i + batch_size]]) for i in range(0, len(take), batch_size)
    ]


@contextlib.contextmanager
def _quiet() -> Any:
    # onnxruntime.quantization logs routine advice at WARNING through the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_file(
    source: Path,
    target: Path,
    *,
    mode: str,
    per_channel: bool,
    preprocess: bool,
    calibration: list[np.ndarray] | None = None,
    integer_input: bool = False,
    keep_fp32_below: int = 0,
) -> dict[str, Any]:
    """Write an INT8 copy of ``source`` to ``target`` atomically.

    Args:
        source: The FP32 ``.onnx`` file.
        target: Where the INT8 file goes; nothing is left there on failure.
        mode: ``dynamic`` or ``static`` (QDQ).
        per_channel: One scale per output channel of each weight rather than per tensor.
        preprocess: Run ``quant_pre_process`` (shape inference, graph optimization) first.
        calibration: With ``static``: input batches, already as the model takes them.
        integer_input: Feed raw ``uint8`` input straight into an INT8 first Linear when the
            graph allows it (:func:`compressor.onnx.rewrite.integer_input_first_layer`).
        keep_fp32_below: Weighted nodes with fewer weights than this stay FP32.

    Returns:
        ``mode``, ``per_channel``, ``quantized_ops`` (op type -> count in the INT8 graph),
        ``integer_input`` (whether the first layer takes the raw integers), ``kept_fp32`` (node
        names left FP32 for their size), ``calibrated`` (whether activation ranges were
        calibrated), ``file_bytes``.

    Raises:
        StageFailure: The model has no op the mode can quantize, or quantization failed.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    proto = load_onnx(source)
    found = quantizable_ops(proto, mode)
    if not found:
        present = ", ".join(sorted({n.op_type for n in proto.graph.node}))
        wanted = ", ".join(sorted(_QUANTIZABLE[mode]))
        raise StageFailure(
            f"cannot quantize {source.name}: it has no op that {mode} quantization turns into "
            f"INT8 (it has {present}; quantizable: {wanted})"
        )
    del proto
    with tempfile.TemporaryDirectory(prefix="compressor-quant-") as scratch, _quiet():
        model_in = source
        if preprocess:
            model_in = Path(scratch) / "pre.onnx"
            try:
                quant_pre_process(str(source), str(model_in), skip_symbolic_shape=False)
            except Exception as error:
                raise StageFailure(
                    f"quant_pre_process failed on {source.name}: {type(error).__name__}: "
                    f"{' '.join(str(error).split())[:200]}; set preprocess: false to skip it"
                ) from error
        proto = onnx.load(str(model_in))
        integer = integer_input and integer_input_first_layer(proto)
        if mode == "dynamic":
            gemm_to_matmul(proto)
        kept = small_weight_nodes(proto, keep_fp32_below)
        rest = [
            n for n in proto.graph.node if n.op_type in _QUANTIZABLE[mode] and n.name not in kept
        ]
        if not rest and not integer:  # a model of small layers only: INT8 is what was asked for
            kept, rest = [], [n for n in proto.graph.node if n.op_type in _QUANTIZABLE[mode]]
        model_in = Path(scratch) / "rewritten.onnx"
        onnx.save_model(proto, str(model_in))
        del proto
        with atomic_path(target) as tmp:
            try:
                if not rest:  # the integer first layer is the only INT8 layer
                    tmp.write_bytes(model_in.read_bytes())
                elif mode == "dynamic":
                    quantize_dynamic(
                        model_in,
                        tmp,
                        per_channel=per_channel,
                        weight_type=QuantType.QInt8,
                        nodes_to_exclude=kept,
                    )
                else:
                    name = input_spec(load_onnx(model_in)).name
                    quantize_static(
                        model_in,
                        tmp,
                        SplitReader(name, calibration or []),
                        quant_format=QuantFormat.QDQ,
                        per_channel=per_channel,
                        activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8,
                        nodes_to_exclude=kept,
                    )
            except Exception as error:
                raise StageFailure(
                    f"{mode} quantization of {source.name} failed: {type(error).__name__}: "
                    f"{' '.join(str(error).split())[:200]}"
                ) from error
            result = onnx.load(str(tmp))
            ops: dict[str, int] = {}
            for node in result.graph.node:
                if node.op_type in _QUANTIZED_OPS:
                    ops[node.op_type] = ops.get(node.op_type, 0) + 1
            if not ops:
                raise StageFailure(
                    f"{mode} quantization left {source.name} without any INT8 op; nothing to ship"
                )
            file_bytes = tmp.stat().st_size
    return {
        "mode": mode,
        "per_channel": per_channel,
        "quantized_ops": ops,
        "integer_input": bool(integer),
        "kept_fp32": kept,
        "calibrated": mode == "static" and bool(rest),
        "file_bytes": file_bytes,
    }


class QuantizeStage:
    """Quantize every ONNX file in the ``models`` slot to INT8 and measure what it costs.

    Args:
        options: The validated :class:`~compressor_stages.options.QuantizeOptions`.
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Quantize, measure FP32 and INT8 accuracy in onnxruntime, publish the INT8 files.

        Raises:
            UsageError: An input is not an ONNX file.
            StageFailure: A model cannot be quantized, or loses more accuracy than
                ``max_accuracy_drop`` allows.
        """
        from compressor.bench.session import make_session, onnx_accuracy

        opts = self.options
        models = ctx.input("models") or []
        names = ctx.output_name("files") or []
        for artifact in models:
            if not isinstance(artifact, FileArtifact) or artifact.format != "onnx":
                kind = getattr(artifact, "format", "") or type(artifact).__name__
                raise UsageError(
                    f"quantize takes ONNX files, but {artifact.name!r} is {kind}; export it "
                    "first (an export stage with exporter onnx)"
                )
        data = ctx.data
        results: dict[str, Any] = {}
        with ctx.progress(len(models), ctx.info.name) as bar:
            for artifact, name in zip(models, names, strict=True):
                spec = input_spec(load_onnx(artifact.path))

                def convert(x: np.ndarray, spec: Any = spec) -> np.ndarray:
                    return to_model_inputs(x, spec, data.mean, data.std)

                calibration = None
                if opts.mode == "static":
                    train_x = data.train.x.detach().cpu().numpy().astype(np.float32)
                    batch = opts.calibration_batch_size or ctx.batch_size
                    drawn = calibration_batches(
                        train_x, opts.calibration_batches, batch, ctx.seed()
                    )
                    calibration = [convert(b) for b in drawn]
                target = ctx.run_dir / name
                facts = quantize_file(
                    artifact.path,
                    target,
                    mode=opts.mode,
                    per_channel=opts.per_channel,
                    preprocess=opts.preprocess,
                    calibration=calibration,
                    integer_input=opts.integer_input,
                    keep_fp32_below=opts.keep_fp32_below,
                )
                # Calibration only runs when a layer besides an integer-input one is left.
                calibrated = (
                    sum(len(b) for b in calibration or []) if facts.pop("calibrated") else 0
                )
                split = data.split(opts.split)
                fp32 = onnx_accuracy(
                    make_session(artifact.path), split, ctx.eval_batch_size, convert
                )
                int8 = onnx_accuracy(make_session(target), split, ctx.eval_batch_size, convert)
                fp32_bytes = artifact.path.stat().st_size
                figures = {
                    "source": artifact.name,
                    **facts,
                    "calibration_samples": calibrated,
                    "split": opts.split,
                    "fp32_accuracy": fp32,
                    "int8_accuracy": int8,
                    "accuracy_delta_points": 100.0 * (int8 - fp32),
                    "fp32_bytes": fp32_bytes,
                    "size_ratio": fp32_bytes / facts["file_bytes"],
                }
                drop = -figures["accuracy_delta_points"]
                if opts.max_accuracy_drop is not None and drop > opts.max_accuracy_drop:
                    target.unlink()
                    raise StageFailure(
                        f"{name} lost {drop:.2f} accuracy points ({100 * fp32:.2f}% -> "
                        f"{100 * int8:.2f}%), more than max_accuracy_drop {opts.max_accuracy_drop:g}; "
                        "try mode: static, per_channel: true, or more calibration_batches"
                    )
                results[name] = figures
                ctx.publish(
                    FileArtifact(
                        name=name,
                        path=target,
                        format="onnx",
                        # The FP32 file, not the PyTorch model: its eager latency is no INT8 figure.
                        source=artifact.name,
                        meta={
                            "params": artifact.meta.get("params"),
                            "macs": artifact.meta.get("macs"),
                            "quantized_from": artifact.name,
                            "precision": "int8",
                            "quantization": opts.mode,
                            "test_accuracy": int8,
                        },
                    )
                )
                bar.advance(1, model=name, int8_accuracy=int8)
        ctx.log(files=results, mode=opts.mode)
