"""What the model stages share: training inside a stage, and publishing the trained model."""

from __future__ import annotations

from typing import Any

from torch import nn

from compressor.artifacts import ModelArtifact
from compressor.context import StageContext
from compressor.errors import UsageError, format_choices
from compressor.model.checkpoint import save_model
from compressor.training import FitResult, WeightedLoss, fit
from compressor.training.passes import has_batchnorm, steps_per_pass


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def split_figures(ctx: StageContext, model: nn.Module, split: str) -> dict[str, Any]:
    """The task's figures for ``model`` on ``split``, named by the split: ``test_accuracy``;
    ``test_map``, ``test_map50``, ``test_per_class`` for detection."""
    return {f"{split}_{key}": value for key, value in ctx.score(model, split).items()}


def publish_model(
    ctx: StageContext, model: nn.Module, spec: dict[str, Any], fit: FitResult | None = None
) -> ModelArtifact:
    """Save ``model`` as ``<output>.pt``, log its figures, and publish it in the ``model`` slot."""
    name = ctx.output_name("model")
    data = ctx.data
    model.eval()
    figures = split_figures(ctx, model, "test")
    params = count_parameters(model)
    path = save_model(
        model,
        spec,
        ctx.run_dir / f"{name}.pt",
        input_shape=list(data.input_shape),
        num_classes=data.num_classes,
    )
    ctx.log(artifact=name, **figures, params=params)
    if fit is not None:
        val = ctx.figure("val")
        ctx.log(
            history=fit.history,
            samples_per_second=fit.samples_per_second,
            teacher_cached=fit.teacher_cached,
            teacher_backends=fit.teacher_backends,
            teacher_outputs=fit.teacher_outputs,
            **{val: fit.history[-1][val] if fit.history else None},
        )
    headline = ctx.figure("test")
    artifact = ModelArtifact(
        name=name,
        model=model,
        spec=spec,
        path=path,
        meta={"params": params, headline: figures[headline]},
    )
    ctx.publish(artifact)
    return artifact


def train_in_stage(
    ctx: StageContext,
    model: nn.Module,
    *,
    losses: list[Any],
    epochs: int,
    optimizer: Any,
    teachers: list[nn.Module] | None = None,
    teacher_names: list[str] | None = None,
    cache_teacher: bool = True,
    teacher_backend: str = "auto",
    label: str | None = None,
    augment: Any = None,
    transfer: Any = None,
    transfer_mode: str = "add",
    teacher_store: Any = None,
) -> FitResult:
    """Train ``model`` with the recipe's data, batch sizes and augmentation, under a progress bar.

    ``augment`` (the stage's own ``augment`` option) replaces ``data.augment`` when given;
    ``transfer``, ``transfer_mode`` and ``teacher_store`` are :func:`compressor.training.fit`'s.
    """
    drop = has_batchnorm(model)
    splits = [ctx.data.train] if transfer is None or transfer_mode != "replace" else []
    splits += [transfer] if transfer is not None else []
    steps = epochs * sum(
        steps_per_pass(len(split), ctx.batch_size, drop_lone_row=drop) for split in splits
    )
    with ctx.progress(steps, label) as bar:
        return fit(
            model,
            data=ctx.data,
            losses=build_losses(ctx, losses, teacher_names),
            epochs=epochs,
            optimizer=optimizer,
            batch_size=ctx.batch_size,
            eval_batch_size=ctx.eval_batch_size,
            device=ctx.device,
            seed=ctx.seed(),
            bar=bar,
            teachers=teachers or [],
            cache_teacher=cache_teacher,
            augment=augment if augment is not None else ctx.run.recipe.data.augment,
            teacher_cache=ctx.run.teacher_cache,
            teacher_backend=teacher_backend,
            checkpoint=ctx.checkpoint(),
            precision=ctx.run.recipe.precision,
            transfer=transfer,
            transfer_mode=transfer_mode,
            teacher_store=teacher_store,
            task=ctx.task,
            warn=lambda line: _stalled(ctx, line),
        )


def _stalled(ctx: StageContext, line: str) -> None:
    """Say that the stage's training looks stalled, and keep it in its metrics."""
    ctx.log(stalled=line)
    ctx.run.progress.warn(f"stages.{ctx.info.name}: {line}")


def build_losses(
    ctx: StageContext, terms: list[Any], teacher_names: list[str] | None = None
) -> list[WeightedLoss]:
    """Build the weighted loss terms of a stage.

    Args:
        ctx: The stage.
        terms: The recipe's loss terms.
        teacher_names: Artifact names of the stage's teachers, in order, to resolve each term's
            ``teacher_artifact``.
    """
    names = teacher_names or []
    built = []
    for i, term in enumerate(terms):
        index = None
        if term.teacher_artifact is not None:
            if term.teacher_artifact not in names:
                raise UsageError(
                    f"stages.{ctx.info.name}.losses[{i}].teacher_artifact: {term.teacher_artifact!r} "
                    f"is not a teacher of this stage; {format_choices(term.teacher_artifact, names)}"
                )
            index = names.index(term.teacher_artifact)
        built.append(
            WeightedLoss(
                name=term.name,
                weight=term.weight,
                module=ctx.build_loss(term),
                needs_teacher=ctx.loss_needs_teacher(term),
                student_at=term.student,
                teacher_at=term.teacher,
                adapter=term.adapter,
                teacher_index=index,
            )
        )
    return built


def spec_of(ref: Any) -> dict[str, Any]:
    """The plain-dict form of a model reference, stored in checkpoints."""
    return {"name": ref.name, "options": dict(ref.options)}
