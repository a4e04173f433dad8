"""The ``prune`` stage: structural pruning, then fine-tuning by distillation from a teacher."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from compressor.context import StageContext
from compressor.data import iterate_batches
from compressor.errors import UsageError
from compressor.training.features import find_module
from compressor.model.pruning import PruneSettings, measure, prune_model
from compressor.training import WeightedLoss, evaluate
from compressor_stages.model_output import build_losses, publish_model, train_in_stage


def find_classifier(model: nn.Module, num_classes: int) -> nn.Module | None:
    """The last Linear (or conv) layer producing ``num_classes`` outputs: never pruned."""
    found: nn.Module | None = None
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.out_features == num_classes:
            found = module
        elif isinstance(module, nn.Conv2d) and module.out_channels == num_classes:
            found = module
    return found


def resolve_modules(model: nn.Module, paths: list[str], field: str) -> list[nn.Module]:
    """Look up module paths; an unknown path is an error listing the closest names."""
    return [find_module(model, path, f"{field}[{i}]") for i, path in enumerate(paths)]


def gradient_probe(
    ctx: StageContext, built: list[WeightedLoss], teacher: nn.Module, batches: int
) -> Callable[[nn.Module], None]:
    """Accumulate the stage loss's gradients on ``batches`` training batches (for Taylor)."""

    def accumulate(model: nn.Module) -> None:
        model.train()
        generator = torch.Generator().manual_seed(ctx.seed(1))
        for i, (_, x, y) in enumerate(
            iterate_batches(ctx.data.train, ctx.batch_size, shuffle=True, generator=generator)
        ):
            if i == batches:
                break
            x, y = x.to(ctx.device), y.to(ctx.device)
            with torch.no_grad():
                teacher_out = teacher(x)
            out = model(x)
            # Gradients of the logit terms rank channels; feature terms would need hooks here.
            loss = sum(
                t.weight * t.module(out, teacher_out if t.needs_teacher else None, y)
                for t in built
                if t.student_at == "logits" and t.teacher_at == "logits"
            )
            loss.backward()
        model.eval()

    return accumulate


class PruneStage:
    """Prune a copy of the input model toward a ratio or target, then fine-tune it."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Prune, measure before/after, fine-tune (between and after steps), save, publish."""
        opts = self.options
        field = f"stages.{ctx.info.name}"
        source = ctx.input("model")
        teacher_artifact = ctx.input("teacher")
        data = ctx.data
        original: nn.Module = source.model
        teacher = teacher_artifact.model if teacher_artifact is not None else original
        model = copy.deepcopy(original).to(ctx.device).eval()

        ignored = resolve_modules(model, opts.ignored, f"{field}.ignored")
        classifier = find_classifier(model, data.num_classes)
        if classifier is not None:
            ignored.append(classifier)
        per_module = resolve_modules(model, list(opts.ratios), f"{field}.ratios")

        criterion = ctx.build_pruner(opts.pruner)
        problem = criterion.check_model(model) if hasattr(criterion, "check_model") else None
        if problem:
            raise UsageError(f"{field}.pruner.name: {problem}")

        example = data.example_inputs(2).to(ctx.device)
        before_acc = evaluate(model, data.val, ctx.eval_batch_size, ctx.device)

        def fine_tune_between(step: int) -> None:
            epochs = opts.finetune.epochs_between_steps
            if epochs:
                train_in_stage(
                    ctx,
                    model,
                    losses=opts.finetune.losses,
                    epochs=epochs,
                    optimizer=opts.finetune.optimizer,
                    teachers=[teacher],
                    teacher_backend=opts.finetune.teacher_backend,
                    label=f"{ctx.info.name} (step {step}/{opts.iterative_steps})",
                )

        report = prune_model(
            model,
            importance=criterion.importance(),
            example_inputs=example,
            ignored_layers=ignored,
            settings=PruneSettings(
                ratio=opts.ratio,
                target_macs=opts.target_macs,
                target_params=opts.target_params,
                global_pruning=opts.global_pruning,
                ratio_dict=dict(zip(per_module, opts.ratios.values(), strict=True)),
                round_to=opts.round_to,
                iterative_steps=opts.iterative_steps,
                max_ratio=opts.max_ratio,
            ),
            gradient_fn=gradient_probe(
                ctx, build_losses(ctx, opts.finetune.losses), teacher, opts.calibration_batches
            )
            if criterion.needs_gradients
            else None,
            between_steps=fine_tune_between,
        )
        pruned_acc = evaluate(model, data.val, ctx.eval_batch_size, ctx.device)

        fit_result = None
        if opts.finetune.epochs > 0:
            fit_result = train_in_stage(
                ctx,
                model,
                losses=opts.finetune.losses,
                epochs=opts.finetune.epochs,
                optimizer=opts.finetune.optimizer,
                teachers=[teacher],
                teacher_backend=opts.finetune.teacher_backend,
                label=f"{ctx.info.name} (fine-tune)",
            )
        macs, params = measure(model, example)
        ctx.log(
            pruner=opts.pruner.name,
            goal={
                k: getattr(opts, k)
                for k in ("ratio", "target_macs", "target_params")
                if getattr(opts, k) is not None
            },
            before={
                "params": report.params_before,
                "macs": report.macs_before,
                "val_accuracy": before_acc,
            },
            pruned={"params": params, "macs": macs, "val_accuracy": pruned_acc},
            params_ratio=report.params_before / max(params, 1),
            macs_ratio=report.macs_before / max(macs, 1),
            reached={
                "params_fraction": report.params_fraction,
                "macs_fraction": report.macs_fraction,
            },
            pruning_steps=report.steps,
            fine_tuned_from=teacher_artifact.name if teacher_artifact is not None else source.name,
        )
        publish_model(ctx, model, source.spec, fit_result)
