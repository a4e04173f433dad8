"""The INT8 copy of one ONNX file: :func:`quantize_file` and the steps it takes.

In order: check that the model has an op the mode quantizes; ``quant_pre_process`` (shape
inference and graph optimization, which quantization needs for good results); the graph
rewrites (an integer-input first layer, ``Gemm`` as ``MatMul`` for dynamic mode) and the choice
of nodes left FP32; onnxruntime's quantizer; the check that the result holds an INT8 op. All in a
scratch folder, with the INT8 file written through :func:`compressor.atomic.atomic_path`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from compressor import logs
from compressor.atomic import atomic_path
from compressor.errors import StageFailure
from compressor_stages.quantize_calibration import SplitReader
from compressor_stages.quantize_nodes import (
    NodeChoice,
    choose_nodes,
    gemm_to_matmul,
    quantized_op_counts,
    require_quantizable,
)

_log = logs.get_logger(__name__)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # onnxruntime.quantization logs routine advice at WARNING through the root logger
    # (logging.warning, which also calls basicConfig() on a root logger without a handler):
    # held back to this module's logger at DEBUG, the root logger's level and handlers untouched.
    with logs.holding_back_root_records("onnxruntime.quantization", into=_log):
        yield


def _one_line(error: Exception) -> str:
    """``error`` as ``Type: message`` on one line, the message cut at 200 characters."""
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def _preprocessed(source: Path, scratch: Path) -> Path:
    """``source`` after ``quant_pre_process``, written into ``scratch``.

    Raises:
        StageFailure: ``quant_pre_process`` failed; the message says how to skip it.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_in = scratch / "pre.onnx"
    try:
        quant_pre_process(str(source), str(model_in), skip_symbolic_shape=False)
    except Exception as error:
        raise StageFailure(
            f"quant_pre_process failed on {source.name}: {_one_line(error)}; "
            "set preprocess: false to skip it"
        ) from error
    return model_in


def recorded_float_scopes(proto: Any) -> tuple[str, ...]:
    """The node-name scopes the exported file says must stay float (``keep_float``: an audio
    front-end's ``/frontend/``); none for a file that records none."""
    import json

    for prop in proto.metadata_props:
        if prop.key == "keep_float":
            try:
                return tuple(str(scope) for scope in json.loads(prop.value))
            except (ValueError, TypeError):
                return ()
    return ()


def _rewritten(
    model_in: Path,
    model_out: Path,
    *,
    mode: str,
    integer_input: bool,
    keep_fp32_below: int,
    keep_float: tuple[str, ...] = (),
) -> tuple[bool, NodeChoice]:
    """Rewrite ``model_in`` for quantization into ``model_out`` and choose the FP32 nodes.

    Returns:
        Whether the first layer now takes the raw integers, and the :class:`NodeChoice`.
    """
    import onnx

    from compressor.onnx.rewrite import integer_input_first_layer

    proto = onnx.load(str(model_in))
    integer = integer_input and integer_input_first_layer(proto)
    if mode == "dynamic":
        gemm_to_matmul(proto)
    # Before saving: choosing names the unnamed small nodes the quantizer excludes by name.
    choice = choose_nodes(
        proto,
        mode,
        keep_fp32_below,
        integer_first_layer=bool(integer),
        keep_float=keep_float,
    )
    onnx.save_model(proto, str(model_out))
    return bool(integer), choice


def _write_int8(
    model_in: Path,
    tmp: Path,
    choice: NodeChoice,
    *,
    mode: str,
    per_channel: bool,
    calibration: list[np.ndarray] | None,
    activations: str,
) -> None:
    """Run onnxruntime's quantizer on ``model_in`` into ``tmp`` (or copy it: see below).

    With no node left to quantize, the integer-input first layer is the only INT8 layer and
    ``model_in`` is written as it is.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    from compressor.onnx.inspection import input_spec, load_onnx

    if not choice.int8:
        tmp.write_bytes(model_in.read_bytes())
    elif mode == "dynamic":
        quantize_dynamic(
            model_in,
            tmp,
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=choice.excluded,
        )
    else:
        name = input_spec(load_onnx(model_in)).name
        quantize_static(
            model_in,
            tmp,
            SplitReader(name, calibration or []),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=choice.excluded,
        )


def _write_checked(
    rewritten: Path, target: Path, choice: NodeChoice, name: str, *, mode: str, **options: Any
) -> tuple[dict[str, int], int]:
    """Quantize ``rewritten`` into ``target`` atomically; it must hold at least one INT8 op.

    Returns:
        The INT8 op counts and the file's size in bytes.

    Raises:
        StageFailure: Quantization failed, or left no INT8 op (``name`` is the source file's).
    """
    # onnx is imported here, not at the top: `compressor validate` imports this module.
    import onnx

    with atomic_path(target) as tmp:
        try:
            _write_int8(rewritten, tmp, choice, mode=mode, **options)
        except Exception as error:
            raise StageFailure(
                f"{mode} quantization of {name} failed: {_one_line(error)}"
            ) from error
        ops = quantized_op_counts(onnx.load(str(tmp)))
        if not ops:
            raise StageFailure(
                f"{mode} quantization left {name} without any INT8 op; nothing to ship"
            )
        return ops, tmp.stat().st_size


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
    activations: str = "int8",
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
        keep_fp32_below: Weighted nodes with fewer weights than this stay FP32 (convolutions
            by block: :func:`~compressor_stages.quantize_nodes.choose_nodes`).
        activations: With ``static``: ``int8`` or ``uint8`` activations (weights are INT8
            either way). onnxruntime's x86 kernels fuse QDQ convolutions into integer ones
            with ``uint8`` activations; with ``int8`` a ResNet-18 ran barely faster than FP32.

    Returns:
        ``mode``, ``per_channel``, ``activations`` (static only), ``quantized_ops`` (op type ->
        count in the INT8 graph), ``integer_input`` (whether the first layer takes the raw
        integers), ``kept_fp32`` (node names left FP32 for their size), ``float_tail`` (the
        nodes after the last weighted layers, left float), ``calibrated`` (whether
        activation ranges were calibrated), ``file_bytes``.

    Raises:
        StageFailure: The model has no op the mode can quantize, or quantization failed.
    """
    from compressor.onnx.inspection import load_onnx

    original = load_onnx(source)
    require_quantizable(original, mode, source.name)
    # Read before quant_pre_process, whose file keeps no metadata.
    keep_float = recorded_float_scopes(original)
    del original
    with tempfile.TemporaryDirectory(prefix="compressor-quant-") as scratch, _quiet():
        model_in = _preprocessed(source, Path(scratch)) if preprocess else source
        rewritten = Path(scratch) / "rewritten.onnx"
        integer, choice = _rewritten(
            model_in,
            rewritten,
            mode=mode,
            integer_input=integer_input,
            keep_fp32_below=keep_fp32_below,
            keep_float=keep_float,
        )
        ops, file_bytes = _write_checked(
            rewritten,
            target,
            choice,
            source.name,
            mode=mode,
            per_channel=per_channel,
            calibration=calibration,
            activations=activations,
        )
    return {
        "mode": mode,
        "per_channel": per_channel,
        **({"activations": activations} if mode == "static" else {}),
        "quantized_ops": ops,
        "integer_input": integer,
        "kept_fp32": choice.kept_fp32,
        "float_tail": choice.float_tail,
        "calibrated": mode == "static" and bool(choice.int8),
        "file_bytes": file_bytes,
    }
