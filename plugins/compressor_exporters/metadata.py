"""``metadata_props`` of an exported ONNX model: what a deployment engineer needs to run it.

Everything is a string (ONNX's rule); lists are JSON. onnxruntime exposes them as
``session.get_modelmeta().custom_metadata_map``; Netron shows them in the model properties.
The ``preprocessing`` entry (JSON) is the whole deployment preprocessing, what
``compressor predict`` repeats on an image file (docs/export.md lists its keys).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from compressor.export_context import ExportContext

#: Input layout by the rank of one sample.
LAYOUTS = {1: "NC", 2: "NCL", 3: "NCHW", 4: "NCDHW"}
#: The version of the ``preprocessing`` entry's format (``compressor predict`` reads it).
PREPROCESSING_FORMAT = 1
#: What the graph's input takes, by whether normalization is embedded and ``raw_input``.
GRAPH_INPUTS = {
    (False, "uint8"): "normalized",
    (False, "float"): "normalized",
    (True, "uint8"): "uint8 0..255",
    (True, "float"): "float 0..1",
}


def channel_order(channels: int) -> str:
    """``RGB``, ``grey`` or ``N channels``: how a deployment converts an image file first."""
    return {1: "grey", 3: "RGB"}.get(channels, f"{channels} channels")


def deployment_preprocessing(
    ctx: ExportContext, sample_shape: Sequence[int], *, embedded: bool, raw_input: str
) -> dict[str, Any]:
    """The ``preprocessing`` entry: every step from an image file to the graph's input.

    From the run's :meth:`compressor.data.Preprocessing.describe` (resize, interpolation,
    center crop, value range, mean, std) when the export stage passed it, plus what the graph
    itself says: the channel order and layout, the input size, and whether the graph
    normalizes (then a caller feeds pixels, ``graph_input``, and must not normalize again).
    """
    described = dict(ctx.preprocessing or {})
    if described.get("modality") == "audio":
        # A waveform: the clip's steps (rate, length, crop, pad) are all a caller repeats.
        return {
            "format": PREPROCESSING_FORMAT,
            **described,
            "layout": "NS",
            "input_size": [int(v) for v in sample_shape],
            "graph_input": "waveform float32 -1..1",
        }
    mean = described.get("mean") or list(ctx.mean) or [0.0]
    std = described.get("std") or list(ctx.std) or [1.0]
    return {
        "format": PREPROCESSING_FORMAT,
        "resize": described.get("resize"),
        "interpolation": described.get("interpolation", "bilinear"),
        "antialias": True,
        "center_crop": described.get("center_crop"),
        "channels": channel_order(int(sample_shape[0])) if len(sample_shape) == 3 else None,
        "layout": LAYOUTS.get(len(sample_shape), "N" + "?" * len(sample_shape)),
        "input_size": [int(v) for v in sample_shape[1:]],
        "value_range": described.get("value_range", [0.0, 1.0]),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "normalize_in_graph": embedded,
        "graph_input": GRAPH_INPUTS[(embedded, raw_input)],
    }


def input_range(embedded: bool, raw_input: str) -> str:
    """A sentence saying what values the input takes."""
    if not embedded:
        return "normalized: (pixel / full_scale - mean) / std, pixel scale 0..1"
    if raw_input == "uint8":
        return "raw pixels, uint8 0..255 (normalized inside the graph)"
    return "raw pixels, float 0..1 (normalized inside the graph)"


def build_metadata(
    *,
    sample_shape: Sequence[int],
    input_name: str,
    output_names: Sequence[str],
    input_dtype: str,
    embedded: bool,
    raw_input: str,
    context: ExportContext | None,
    exporter: str,
) -> dict[str, str]:
    """Every ``metadata_props`` entry, as strings.

    Args:
        sample_shape: The shape of one input sample, e.g. ``(1, 28, 28)``.
        input_name: The graph's input name.
        output_names: The graph's output names, in order (the task's).
        input_dtype: ``float32`` or ``uint8``.
        embedded: Whether normalization is inside the graph.
        raw_input: ``uint8`` or ``float`` (meaningful with ``embedded``).
        context: What the export stage knows about the data and the run (``None``: unknown,
            those entries are left out).
        exporter: How the graph was made, e.g. ``onnx (dynamo)``.
    """
    import onnx
    import torch

    from compressor import __version__

    ctx = context or ExportContext()
    entries: dict[str, Any] = {
        "input_name": input_name,
        "input_layout": LAYOUTS.get(len(sample_shape), "N" + "?" * len(sample_shape)),
        "input_shape": ["batch", *sample_shape],
        "input_dtype": input_dtype,
        "input_range": input_range(embedded, raw_input),
        "output_name": output_names[0],
        "outputs": list(output_names),
        "normalization": "embedded" if embedded else "external",
        "task": ctx.task,
        "modality": ctx.modality,
    }
    if ctx.task == "classification":
        entries["output"] = "logits (unnormalized class scores; softmax for probabilities)"
    if ctx.task_metadata:
        entries["task_metadata"] = dict(ctx.task_metadata)
    if ctx.keep_float:
        entries["keep_float"] = list(ctx.keep_float)
    if ctx.mean:
        entries["mean"] = [float(v) for v in ctx.mean]
        entries["std"] = [float(v) for v in ctx.std]
    if ctx.class_names:
        entries["class_names"] = list(ctx.class_names)
    entries["preprocessing"] = deployment_preprocessing(
        ctx, sample_shape, embedded=embedded, raw_input=raw_input
    )
    for key, value in (
        ("dataset", ctx.dataset),
        ("recipe", ctx.recipe_name),
        ("recipe_hash", ctx.recipe_hash),
        ("source_model", ctx.artifact),
    ):
        if value:
            entries[key] = value
    entries.update(
        exporter=exporter,
        compressor_version=__version__,
        torch_version=torch.__version__,
        onnx_version=onnx.__version__,
    )
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in entries.items()}


def set_metadata(proto: Any, entries: dict[str, str]) -> None:
    """Replace ``proto``'s ``metadata_props`` with ``entries``."""
    del proto.metadata_props[:]
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
