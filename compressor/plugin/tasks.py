"""The task scored when a caller names none: the registered ``classification`` task.

Functions that score models (:func:`compressor.training.evaluation.evaluate`,
:func:`compressor.bench.session.onnx_score`) take the run's task; called without one, as code
written before tasks existed calls them, they score classification, built once per process from
the installed plugins.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compressor.task import Task


@functools.cache
def classification() -> Task:
    """The registered ``classification`` task, built with its default options."""
    from compressor.plugin.registry import Registry

    task: Task = Registry.load().get("task", "classification").build(None)
    return task
