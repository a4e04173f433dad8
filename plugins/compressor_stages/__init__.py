"""Built-in stages: ``train``, ``distill``, ``prune``, ``export``, ``quantize``, ``benchmark``.

Each stage declares its input and output slots, so a recipe's artifact flow is checked before
anything runs. Only pydantic is imported here; stage code (and torch) loads when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor import hookimpl
from compressor.records import Role, StagePlugin
from compressor_stages.model_options import LoadOptions
from compressor_stages.options import (
    BenchmarkOptions,
    DistillOptions,
    ExportOptions,
    PruneOptions,
    QuantizeOptions,
    SensitivityOptions,
    TrainOptions,
)

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry


def _export_outputs(inputs: dict[str, Any], options: Any, registry: Registry) -> dict[str, Any]:
    suffix = registry.get("exporter", options.exporter.name).suffix
    return {"files": [f"{name}{suffix}" for name in inputs.get("models", [])]}


def _quantize_outputs(inputs: dict[str, Any], options: Any, registry: Registry) -> dict[str, Any]:
    # Same rule as compressor_stages.quantize.quantized_name, which imports onnx and numpy.
    return {
        "files": [f"{name.removesuffix('.onnx')}.int8.onnx" for name in inputs.get("models", [])]
    }


def _losses_without_teacher(options: Any, registry: Registry) -> list[tuple[str, str]]:
    # A train stage has no teacher slot, so a term like kd could never be computed.
    return [
        (
            f"losses[{i}].name",
            (
                f"{term.name!r} needs a teacher, and a train stage has none; "
                "use a distill stage, or a loss such as 'ce'"
            ),
        )
        for i, term in enumerate(options.losses)
        if registry.get("loss", term.name).needs_teacher
    ]


@hookimpl
def compressor_register_stages() -> list[StagePlugin]:
    """Register the built-in stage types.

    This is one piece because it is a flat table: one :class:`StagePlugin` record per stage,
    only fields and values, in the order a recipe usually runs the stages. Split up, it would
    only be harder to read whole.
    """
    # A model stage saves NAME.pt (model_output.publish_model); export and quantize write NAME.
    model_out = {"model": Role("the trained model", file="{name}.pt")}
    return [
        StagePlugin(
            name="train",
            cacheable=True,
            factory="compressor_stages.train:TrainStage",
            options=TrainOptions,
            outputs=model_out,
            check=_losses_without_teacher,
            preflight="compressor_stages.wiring:train_preflight",
            description="Train a model on the labels (e.g. the teacher).",
            all_ranks=True,
        ),
        StagePlugin(
            name="load",
            factory="compressor_stages.load:LoadStage",
            options=LoadOptions,
            # The checkpoint stays where it is: nothing is written into the run folder.
            outputs={"model": Role("the loaded model", file=None)},
            preflight="compressor_stages.load:load_preflight",
            description="Use a model as it is: a checkpoint of an earlier run, an ONNX file, or "
            "a model with its weights (e.g. a pretrained teacher).",
            all_ranks=True,
        ),
        StagePlugin(
            name="distill",
            cacheable=True,
            factory="compressor_stages.distill:DistillStage",
            options=DistillOptions,
            inputs={
                "teacher": Role("the teacher model(s); several teachers are averaged", many=True)
            },
            outputs={"model": Role("the distilled student", file="{name}.pt")},
            preflight="compressor_stages.wiring:distill_preflight",
            description="Train a student on a teacher's soft targets and the labels.",
            all_ranks=True,
        ),
        StagePlugin(
            name="prune",
            cacheable=True,
            factory="compressor_stages.prune:PruneStage",
            options=PruneOptions,
            inputs={
                "model": Role("the model to prune"),
                "teacher": Role(
                    "teacher for fine-tuning (default: the unpruned model itself)", required=False
                ),
            },
            outputs={"model": Role("the pruned, fine-tuned model", file="{name}.pt")},
            preflight="compressor_stages.wiring:prune_preflight",
            description="Remove channels/units structurally, then heal by distillation.",
            all_ranks=True,
        ),
        StagePlugin(
            name="sensitivity",
            cacheable=True,
            factory="compressor_stages.sensitivity:SensitivityStage",
            options=SensitivityOptions,
            inputs={"model": Role("the trained model to probe")},
            description="Accuracy vs pruning ratio without fine-tuning (table and plot), to pick a ratio.",
        ),
        StagePlugin(
            name="export",
            cacheable=True,
            factory="compressor_stages.export:ExportStage",
            options=ExportOptions,
            inputs={"models": Role("models to export", many=True)},
            outputs={
                "files": Role(
                    "one exported file per model (default: NAME.onnx)", many=True, file="{name}"
                )
            },
            default_outputs=_export_outputs,
            description="Export models (ONNX by default) with a parity check against PyTorch.",
        ),
        StagePlugin(
            name="quantize",
            cacheable=True,
            factory="compressor_stages.quantize:QuantizeStage",
            options=QuantizeOptions,
            inputs={"models": Role("ONNX files to quantize", many=True)},
            outputs={
                "files": Role(
                    "one INT8 file per model (default: NAME.int8.onnx; the FP32 graph when auto "
                    "keeps FP32)",
                    many=True,
                    file="{name}",
                )
            },
            default_outputs=_quantize_outputs,
            description="INT8 ONNX with onnxruntime: auto keeps the fastest of static QDQ, dynamic "
            "and FP32, timed in the run (or mode: dynamic / static).",
        ),
        StagePlugin(
            name="benchmark",
            factory="compressor_stages.benchmark:BenchmarkStage",
            options=BenchmarkOptions,
            inputs={"models": Role("exported ONNX files to compare", many=True)},
            description="Accuracy, latency, throughput and size in onnxruntime, with ratios.",
        ),
    ]
