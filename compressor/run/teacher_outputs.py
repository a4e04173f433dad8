"""The key of teacher outputs kept on disk: what a teacher's outputs over the run's data depend on.

Like a stage's key (:mod:`compressor.run.cache`), so teacher outputs computed by one run
(:mod:`compressor.training.teacher_store`) are reused by a later run only when they are equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor import __version__

if TYPE_CHECKING:
    from compressor.context import RunContext

#: Where teacher outputs kept on disk go, inside the stage cache's folder.
TEACHER_OUTPUTS_DIR = "teacher_outputs"
#: ``data`` fields that do not change a teacher's outputs (how the data is held and served).
_SERVING_FIELDS = ("augment", "in_memory", "memory_budget", "num_workers")


def teacher_outputs_material(
    context: RunContext, teachers: list[Any], **stage: Any
) -> dict[str, Any] | None:
    """What teacher outputs computed over the run's data depend on, or ``None`` when a
    teacher's content is unknown (then they are kept for this training alone).

    Like a stage's key: the teachers' content (:func:`compressor.run.results.artifact_digest`),
    the data (the recipe's ``data`` section but for how it is held and served, and the
    preprocessing the run resolved, ``mean``/``std: auto`` included), the device, the
    precision and the versions of compressor and torch; ``stage`` adds the stage's own
    settings that change the outputs (its teacher backend).

    Args:
        context: The run.
        teachers: The stage's teacher artifacts.
        **stage: JSON-ready settings of the stage.
    """
    import torch

    from compressor.run.results import artifact_digest

    digests = [artifact_digest(artifact) for artifact in teachers]
    if any(d is None for d in digests):
        return None
    data = context.recipe.data.model_dump(mode="json")
    preprocessing = context.data.preprocessing
    return {
        "teachers": digests,
        "data": {k: v for k, v in data.items() if k not in _SERVING_FIELDS},
        "preprocessing": preprocessing.describe() if preprocessing is not None else None,
        "device": context.device,
        "precision": context.recipe.precision,
        "versions": {"compressor": __version__, "torch": torch.__version__},
        "stage": stage,
    }
