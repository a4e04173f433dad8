"""The ``export`` stage: write each input model to a deployable file, checked for parity.

What is exported is the task's deployed form of each model (:meth:`compressor.task.Task.deployable`:
a classifier as it is, a detector with its decoding and NMS), with the task's output names and
metadata. For a task whose targets say where things are (detection), the parity batch also
holds an input with nothing in it: the data's mean image, all zeros once normalized.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch

from compressor.artifacts import FileArtifact
from compressor.context import StageContext
from compressor.export_context import ExportContext, call_export, float_scopes, run_recipe_hash
from compressor.model.pruning import measure
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
        data, task = ctx.data, ctx.task
        example = data.example_inputs(self.options.parity_samples)
        if task.spatial:
            example = torch.cat([example, torch.zeros_like(example[:1])])
        recipe = ctx.run.recipe
        base = ExportContext(
            input_shape=tuple(data.input_shape),
            mean=tuple(float(v) for v in data.mean),
            std=tuple(float(v) for v in data.std),
            class_names=tuple(str(c) for c in data.class_names),
            dataset=data.name,
            recipe_name=str(getattr(recipe, "name", "")),
            recipe_hash=run_recipe_hash(ctx.run_dir, recipe),
            preprocessing=data.preprocessing.describe() if data.preprocessing else None,
            task=task.name,
            outputs=tuple(task.outputs),
            task_metadata=task.metadata(data),
            modality=data.modality,
        )
        exported = {}
        with ctx.progress(len(models), ctx.info.name) as bar:
            for artifact, file_name in zip(models, names, strict=True):
                model = copy.deepcopy(artifact.model).cpu().eval()
                path = ctx.run_dir / file_name
                deployed = task.deployable(model).eval()
                context = dataclasses.replace(
                    base, artifact=artifact.name, keep_float=float_scopes(deployed)
                )
                # Exporters written before `context` existed are called without it.
                facts = call_export(exporter, deployed, example, path, context)
                meta = {
                    "params": count_parameters(model),
                    "macs": measure(model, example)[0],
                    **facts,
                }
                ctx.publish(
                    FileArtifact(
                        name=file_name,
                        path=path,
                        format=record.name,
                        source=artifact.name,
                        meta=meta,
                    )
                )
                exported[file_name] = meta
                bar.advance(1, model=artifact.name)
        ctx.log(files=exported, recipe_hash=base.recipe_hash)
