"""A recipe checked against its task: default losses become the task's, and every loss term and
augmentation key must suit it (:func:`check_task_fit`).

The task is known before the stages resolve (the recipe's ``task:``, else the dataset's), so a
detection recipe that lists no losses trains with the detector's own loss, and one that asks for
``kd`` or ``mixup`` is told in one line, before anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from compressor.errors import RecipeError
from compressor.recipe.augment import AugmentConfig
from compressor.recipe.messages import validate
from compressor.schemas import LossTerm

if TYPE_CHECKING:
    from compressor.plan import StageInfo
    from compressor.plugin.registry import Registry
    from compressor.recipe.models import Recipe
    from compressor.task import Task


def _loss_terms(value: Any, field: str) -> list[tuple[str, LossTerm]]:
    """Every loss term inside ``value`` (stage options), with its field."""
    found: list[tuple[str, LossTerm]] = []
    if isinstance(value, LossTerm):
        found.append((field, value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found += _loss_terms(getattr(value, name), f"{field}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _loss_terms(item, f"{field}[{i}]")
    return found


def check_task_fit(recipe: Recipe, stages: list[StageInfo], registry: Registry, task: Task) -> None:
    """Every loss term and the batch augmentation must suit the recipe's task.

    Raises:
        RecipeError: A loss that does not apply to the task (``stages.NAME.losses[i].name``),
            or batch augmentation for a task whose targets it would not move
            (``data.augment.KEY``).
    """
    for info in stages:
        for field, term in _loss_terms(info.options, f"stages.{info.name}"):
            problem = task.loss_problem(registry.get("loss", term.name))
            if problem:
                raise RecipeError(f"{field}.name", problem, value=term.name)
    augments = [("data.augment", recipe.data.augment)]
    for info in stages:
        augments.append((f"stages.{info.name}.augment", getattr(info.options, "augment", None)))
    for field, augment in augments:
        if augment is not None:
            _check_modality(augment, registry.get("dataset", recipe.data.dataset).modality, field)
            _check_augment(augment, task, field)


def _check_modality(augment: AugmentConfig, modality: str, field: str) -> None:
    """Image keys for images, waveform keys for audio clips (mixup serves both).

    Raises:
        RecipeError: A key of the other modality, naming it.
    """
    if modality == "audio":
        wrong = [k for k in augment.batch_keys() if k != "mixup"] + augment.per_sample_keys()
        kind, keys = "images", "time_shift, gain_db, noise_root, snr_db, noise_probability, mixup"
    else:
        wrong, kind, keys = augment.audio_keys(), "audio clips", "the image keys"
    if wrong:
        raise RecipeError(
            f"{field}.{wrong[0]}",
            f"augments {kind}, and the data is {modality}; for {modality} use {keys}",
        )


def _check_augment(augment: AugmentConfig, task: Task, field: str) -> None:
    """The augmentation keys must suit the task; the task's own keys are validated by its
    schema, in place.

    Raises:
        RecipeError: Batch or per-sample keys that move pixels but not a spatial task's
            targets, or a key neither this schema nor the task's knows.
    """
    if task.spatial:
        for key in augment.batch_keys() + augment.per_sample_keys():
            raise RecipeError(
                f"{field}.{key}",
                f"{key} moves pixels but not {task.name} targets; remove it (the task's "
                "own augmentation moves both: see its docs)",
            )
    extra = augment.task_keys
    if not extra:
        return
    schema = task.augment_options
    if schema is None:
        key = next(iter(extra))
        known = sorted(k for k in type(augment).model_fields)
        raise RecipeError(f"{field}.{key}", "unknown key", value=key, choices=known)
    augment._task_options = validate(schema, extra, field)


def task_losses(value: Any, task: Task, registry: Registry, field: str) -> None:
    """Loss lists a recipe left to their defaults become ``task``'s defaults, in place.

    A stage's ``losses`` (at any depth: a prune stage's ``finetune.losses``) that the recipe
    did not set gets :meth:`compressor.task.Task.default_losses`: with a teacher when the
    schema's own default reads one (distill, prune), without otherwise (train). For
    classification that is what the schemas say (``ce``; ``kd`` 0.9 and ``ce`` 0.1).
    """
    if not isinstance(value, BaseModel):
        return
    for name in type(value).model_fields:
        current = getattr(value, name)
        if (
            name == "losses"
            and name not in value.model_fields_set
            and isinstance(current, list)
            and all(isinstance(term, LossTerm) for term in current)
            # An unregistered default is reported, naming the field, where terms resolve.
            and all(registry.has("loss", term.name) for term in current)
        ):
            teacher = any(registry.get("loss", term.name).needs_teacher for term in current)
            try:
                defaults = task.default_losses(teacher)
            except RecipeError as error:
                raise RecipeError(f"{field}.losses", error.detail) from None
            setattr(value, name, [LossTerm(**term) for term in defaults])
            value.model_fields_set.discard(name)
        elif isinstance(current, BaseModel):
            task_losses(current, task, registry, f"{field}.{name}")
