"""The ``export`` stage: write each input model to a deployable file, checked for parity."""

from __future__ import annotations

import copy
from typing import Any

from compressor.artifacts import FileArtifact
from compressor.context import StageContext
from compressor.pruning import measure
from compressor_stages.model_output import count_parameters


class ExportStage:
    """Export every model in the ``models`` slot with the configured exporter."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Export, count parameters and MACs, and publish one file artifact per model."""
        record, exporter = ctx.exporter(self.options.exporter)
        models = ctx.input("models")
        names = ctx.output_name("files")
        example = ctx.data.example_inputs(self.options.parity_samples)
        exported = {}
        with ctx.progress(len(models), ctx.info.name) as bar:
            for artifact, file_name in zip(models, names, strict=True):
                model = copy.deepcopy(artifact.model).cpu().eval()
                path = ctx.run_dir / file_name
                facts = exporter.export(model, example, path)
                meta = {
                    "params": count_parameters(model),
                    "macs": measure(model, example)[0],
                    **facts,
                }
                ctx.publish(
                    FileArtifact(
                        name=file_name, path=path, format=record.name, source=artifact.name, meta=meta
                    )
                )
                exported[file_name] = meta
                bar.advance(1, model=artifact.name)
        ctx.log(files=exported)
