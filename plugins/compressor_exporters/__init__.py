"""Built-in exporters: ``onnx`` (torch.onnx, checked against PyTorch in onnxruntime) and
``torch_export`` (a ``torch.export`` program in a ``.pt2`` file, checked against the model).

Only pydantic at import time: torch, onnx and onnxruntime load when an export stage first
builds the exporter (see :mod:`compressor_exporters.onnx_exporter`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from compressor import hookimpl
from compressor.records import ExporterPlugin
from compressor.schemas import StrictModel

#: Lowest opset accepted; older opsets lack ops (e.g. axes-as-input ReduceSum) modern models need.
MIN_OPSET = 13
#: Highest opset torch.onnx can emit (``torch.onnx._constants.ONNX_MAX_OPSET`` in torch 2.14;
#: onnxruntime 1.32 runs it). Hard-coded because this module must not import torch.
MAX_OPSET = 23
#: The torch.export-based exporter only has implementations from this opset; below it, it
#: exports at 18 and tries a version conversion that often fails.
DYNAMO_MIN_OPSET = 18
#: The TorchScript exporter stops at this opset.
TORCHSCRIPT_MAX_OPSET = 20


class OnnxOptions(StrictModel):
    """Options of the ``onnx`` exporter."""

    opset: int = Field(
        default=18,
        ge=MIN_OPSET,
        le=MAX_OPSET,
        description=(
            f"ONNX opset ({MIN_OPSET}..{MAX_OPSET}); the dynamo exporter needs >= "
            f"{DYNAMO_MIN_OPSET}, the TorchScript one <= {TORCHSCRIPT_MAX_OPSET}."
        ),
    )
    dynamo: Literal["auto", "on", "off"] = Field(
        default="auto",
        description=(
            "on: torch.export-based exporter; off: TorchScript exporter; auto: dynamo, falling "
            "back to TorchScript when it fails."
        ),
    )
    atol: float = Field(
        default=1e-4, gt=0.0, description="Largest absolute logit difference vs PyTorch allowed."
    )
    min_top1_agreement: float = Field(
        default=0.99,
        gt=0.0,
        le=1.0,
        description="Smallest fraction of parity samples whose top-1 class must match PyTorch.",
    )
    check: bool = Field(
        default=True, description="Run onnx.checker and strict shape inference on the file."
    )
    embed_preprocessing: bool = Field(
        default=False,
        description=(
            "Normalize inside the graph with the dataset's mean/std: the model takes raw pixels "
            "(see raw_input)."
        ),
    )
    raw_input: Literal["uint8", "float"] = Field(
        default="float",
        description=(
            "With embed_preprocessing: uint8 pixels 0..255, or float pixels 0..1 (the dataset's "
            "0..1 scale)."
        ),
    )
    fold_preprocessing: bool = Field(
        default=True,
        description=(
            "With embed_preprocessing: fold the normalization into the first layer when that is "
            "a Linear on the flattened input (exact up to float rounding; two fewer nodes per call)."
        ),
    )
    slim: bool = Field(
        default=False,
        description="Simplify the graph with onnxslim (constant folding, fusions), then re-check parity.",
    )

    @model_validator(mode="after")
    def _raw_input_needs_embedding(self) -> OnnxOptions:
        # uint8 alone would silently do nothing: the model would still take normalized floats.
        # (float is the default, and the resolved recipe.yaml spells it out: accepted.)
        if self.raw_input == "uint8" and not self.embed_preprocessing:
            raise ValueError("raw_input: uint8 only applies with embed_preprocessing: true")
        return self

    @model_validator(mode="after")
    def _opset_fits_exporter(self) -> OnnxOptions:
        # Reject impossible pairs when the recipe is validated, not minutes into a run.
        if self.dynamo == "on" and self.opset < DYNAMO_MIN_OPSET:
            raise ValueError(
                f"dynamo: on needs opset >= {DYNAMO_MIN_OPSET} (got {self.opset}); "
                "use dynamo: off or auto for older opsets"
            )
        if self.dynamo == "off" and self.opset > TORCHSCRIPT_MAX_OPSET:
            raise ValueError(
                f"dynamo: off (TorchScript exporter) supports opset <= {TORCHSCRIPT_MAX_OPSET} "
                f"(got {self.opset}); use dynamo: on or auto for newer opsets"
            )
        return self


class TorchExportOptions(StrictModel):
    """Options of the ``torch_export`` exporter."""

    atol: float = Field(
        default=1e-5, gt=0.0, description="Largest absolute logit difference vs the model allowed."
    )
    min_top1_agreement: float = Field(
        default=0.99,
        gt=0.0,
        le=1.0,
        description="Smallest fraction of parity samples whose top-1 class must match.",
    )


@hookimpl
def compressor_register_exporters() -> list[ExporterPlugin]:
    """Register the built-in exporters."""
    return [
        ExporterPlugin(
            name="onnx",
            factory="compressor_exporters.onnx_exporter:OnnxExporter",
            options=OnnxOptions,
            suffix=".onnx",
            description=(
                "torch.onnx (dynamo, TorchScript fallback), dynamic batch, checked in "
                "onnxruntime against PyTorch."
            ),
        ),
        ExporterPlugin(
            name="torch_export",
            factory="compressor_exporters.torch_export_exporter:TorchExportExporter",
            options=TorchExportOptions,
            suffix=".pt2",
            description=(
                "torch.export program (.pt2, dynamic batch) for PyTorch runtimes, checked "
                "against the model."
            ),
        ),
    ]
