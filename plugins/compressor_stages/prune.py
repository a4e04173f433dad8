"""The ``prune`` stage: structural pruning, then fine-tuning by distillation from a teacher.

After pruning (each step of iterative pruning), BatchNorm running statistics are recalibrated
on training batches before fine-tuning (``recalibrate_bn``, on by default).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from compressor.context import StageContext
from compressor.data import iterate_batches
from compressor.errors import UsageError
from compressor.model.pruning import PruneReport, PruneSettings, measure, prune_model
from compressor.training import FitResult, WeightedLoss
from compressor.training.features import find_module
from compressor.training.terms import bind_losses
from compressor_stages.model_output import build_losses, publish_model, train_in_stage
from compressor_stages.model_training import recalibrate_in_stage


def resolve_modules(model: nn.Module, paths: list[str], field: str) -> list[nn.Module]:
    """Look up module paths; an unknown path is an error listing the closest names."""
    return [find_module(model, path, f"{field}[{i}]") for i, path in enumerate(paths)]


def gradient_probe(
    ctx: StageContext, built: list[WeightedLoss], teacher: nn.Module, batches: int
) -> Callable[[nn.Module], None]:
    """Accumulate the stage loss's gradients on ``batches`` training batches (for Taylor)."""

    def accumulate(model: nn.Module) -> None:
        bind_losses(built, model)
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


def layers_left_whole(ctx: StageContext, model: nn.Module, paths: list[str]) -> list[nn.Module]:
    """The layers pruning must not touch: those ``ignored`` names, and the task's output
    layers (the classifier; a detector's class and box layers)."""
    field = f"stages.{ctx.info.name}.ignored"
    ignored = resolve_modules(model, paths, field)
    return ignored + ctx.task.kept_whole(model, ctx.data.num_classes)


def _checked_pruner(ctx: StageContext, opts: Any, model: nn.Module, field: str) -> Any:
    """The recipe's pruning criterion, built, once it has said it can prune ``model``.

    Raises:
        UsageError: The criterion's ``check_model`` found a problem with ``model``.
    """
    criterion = ctx.build_pruner(opts.pruner)
    problem = criterion.check_model(model) if hasattr(criterion, "check_model") else None
    if problem:
        raise UsageError(f"{field}.pruner.name: {problem}")
    return criterion


def _prune_settings(opts: Any, per_module: list[nn.Module]) -> PruneSettings:
    """The stage's options as :class:`PruneSettings`; ``per_module`` are the ``ratios`` layers."""
    return PruneSettings(
        ratio=opts.ratio,
        target_macs=opts.target_macs,
        target_params=opts.target_params,
        global_pruning=opts.global_pruning,
        ratio_dict=dict(zip(per_module, opts.ratios.values(), strict=True)),
        round_to=opts.round_to,
        iterative_steps=opts.iterative_steps,
        max_ratio=opts.max_ratio,
    )


def _fine_tune(
    ctx: StageContext, opts: Any, model: nn.Module, teacher: nn.Module, epochs: int, label: str
) -> FitResult:
    """Heal ``model`` for ``epochs`` with the ``finetune`` losses, distilling from ``teacher``."""
    return train_in_stage(
        ctx,
        model,
        losses=opts.finetune.losses,
        epochs=epochs,
        optimizer=opts.finetune.optimizer,
        teachers=[teacher],
        teacher_backend=opts.finetune.teacher_backend,
        label=label,
    )


def _fine_tune_between_steps(
    ctx: StageContext, opts: Any, model: nn.Module, teacher: nn.Module
) -> Callable[[int], None]:
    """What iterative pruning runs after each step: ``epochs_between_steps`` of fine-tuning."""

    def fine_tune_between(step: int) -> None:
        if opts.recalibrate_bn is not None:
            recalibrate_in_stage(ctx, model, opts.recalibrate_bn.batches)
        epochs = opts.finetune.epochs_between_steps
        if epochs:
            label = f"{ctx.info.name} (step {step}/{opts.iterative_steps})"
            _fine_tune(ctx, opts, model, teacher, epochs, label)

    return fine_tune_between


def _pruning_figures(
    opts: Any,
    report: PruneReport,
    *,
    val: str,
    before: float,
    pruned: float,
    macs: int,
    params: int,
) -> dict[str, Any]:
    """What the stage logs about pruning, ``fine_tuned_from`` aside.

    The goal; sizes and the validation metric (named ``val``: ``val_accuracy``) before pruning
    (``before``) and after it (``macs`` and ``params`` of the pruned model, ``pruned`` before
    fine-tuning); the ratios and fractions reached; the steps taken.
    """
    return {
        "pruner": opts.pruner.name,
        "goal": {
            k: getattr(opts, k)
            for k in ("ratio", "target_macs", "target_params")
            if getattr(opts, k) is not None
        },
        "before": {
            "params": report.params_before,
            "macs": report.macs_before,
            val: before,
        },
        "pruned": {"params": params, "macs": macs, val: pruned},
        "params_ratio": report.params_before / max(params, 1),
        "macs_ratio": report.macs_before / max(macs, 1),
        "reached": {
            "params_fraction": report.params_fraction,
            "macs_fraction": report.macs_fraction,
        },
        "pruning_steps": report.steps,
    }


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

        ignored = layers_left_whole(ctx, model, opts.ignored)
        per_module = resolve_modules(model, list(opts.ratios), f"{field}.ratios")
        criterion = _checked_pruner(ctx, opts, model, field)
        example = data.example_inputs(2).to(ctx.device)
        before_metric = ctx.evaluate(model, "val")

        importance = criterion.importance()
        settings = _prune_settings(opts, per_module)
        gradient_fn = (
            gradient_probe(
                ctx, build_losses(ctx, opts.finetune.losses), teacher, opts.calibration_batches
            )
            if criterion.needs_gradients
            else None
        )
        report = prune_model(
            model,
            importance=importance,
            example_inputs=example,
            ignored_layers=ignored,
            settings=settings,
            gradient_fn=gradient_fn,
            between_steps=_fine_tune_between_steps(ctx, opts, model, teacher),
        )
        pruned_metric = ctx.evaluate(model, "val")
        if opts.recalibrate_bn is not None:
            # The layers' inputs changed with the channels removed before them.
            recalibrated = recalibrate_in_stage(ctx, model, opts.recalibrate_bn.batches)
            if recalibrated:
                ctx.log(bn_recalibration=recalibrated)

        fit_result = None
        if opts.finetune.epochs > 0:
            label = f"{ctx.info.name} (fine-tune)"
            fit_result = _fine_tune(ctx, opts, model, teacher, opts.finetune.epochs, label)
        macs, params = measure(model, example)
        ctx.log(
            **_pruning_figures(
                opts,
                report,
                val=ctx.figure("val"),
                before=before_metric,
                pruned=pruned_metric,
                macs=macs,
                params=params,
            ),
            fine_tuned_from=teacher_artifact.name if teacher_artifact is not None else source.name,
        )
        publish_model(ctx, model, source.spec, fit_result)
