"""Built-in tasks: ``classification`` (one class per sample, top-1 accuracy).

``detection`` registers from ``compressor_detection``, as a third party's task would. Only
pydantic is imported here; the task modules load when a recipe first uses them.
"""

from __future__ import annotations

from compressor import hookimpl
from compressor.records import TaskPlugin


@hookimpl
def compressor_register_tasks() -> list[TaskPlugin]:
    """Register the built-in tasks."""
    return [
        TaskPlugin(
            name="classification",
            factory="compressor_tasks.classification:Classification",
            description="One class per sample: class logits, top-1 accuracy.",
        ),
    ]
