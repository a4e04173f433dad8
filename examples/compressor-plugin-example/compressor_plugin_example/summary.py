"""The ``summary`` stage: write ``<model>.summary.txt``, a per-module table of a model."""

from __future__ import annotations

from typing import Any

from compressor.artifacts import FileArtifact
from compressor.atomic import write_text
from compressor.context import StageContext
from compressor_plugin_example.describe import describe_modules, parameter_count


def render(name: str, rows: list[dict[str, Any]], total: int, input_shape: list[int]) -> str:
    """The summary as a fixed-width text table."""
    header = ("module", "type", "params", "output shape")
    lines = [
        (
            row["module"],
            row["type"],
            f"{row['params']:,}",
            "x".join(map(str, row["output_shape"] or [])) or "-",
        )
        for row in rows
    ]
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=False)
    ]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    body = [fmt(header), fmt(tuple("-" * w for w in widths)), *(fmt(line) for line in lines)]
    shape = "x".join(map(str, input_shape))
    return f"{name}: {total:,} parameters, input {shape}\n\n" + "\n".join(body) + "\n"


class SummaryStage:
    """Describe the model in the ``model`` slot.

    Args:
        options: The validated ``SummaryOptions``.
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Write the summary file, log the parameter count per module, publish the file."""
        artifact = ctx.input("model")
        example = ctx.data.example_inputs(1).to(ctx.device)
        # describe_modules runs the model in eval mode and restores its mode: the input artifact
        # is shared with later stages and must come out as it went in.
        rows = describe_modules(artifact.model, example, self.options.max_depth)
        total = parameter_count(artifact.model)
        file_name = ctx.output_name("summary")
        path = write_text(
            ctx.run_dir / file_name, render(artifact.name, rows, total, list(ctx.data.input_shape))
        )
        ctx.log(
            model=artifact.name,
            params=total,
            params_by_module={row["module"]: row["params"] for row in rows},
        )
        ctx.publish(FileArtifact(name=file_name, path=path, format="summary", source=artifact.name))
