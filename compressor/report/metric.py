"""Which metric a run's figures are in: the task's headline, as ``metrics.json`` records it.

A run records its task (``task``: name, metric key and label) and a benchmark stage the key and
label it measured (``metric``, ``metric_label``). Documents written before tasks existed record
neither: their figures are top-1 accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Headline:
    """The headline metric of a run's figures.

    Attributes:
        key: How ``metrics.json`` names it (``accuracy``: ``test_accuracy``,
            ``accuracy_delta_points``; ``map``: ``test_map``, ``map_delta_points``).
        label: How the report names it (``accuracy``, ``mAP@[.5:.95]``).
    """

    key: str = "accuracy"
    label: str = "accuracy"


def run_headline(metrics: dict[str, Any]) -> Headline:
    """The headline metric of a whole run's ``metrics.json``."""
    metric = (metrics.get("task") or {}).get("metric") or {}
    return Headline(metric.get("key", "accuracy"), metric.get("label", "accuracy"))


def stage_headline(stage: dict[str, Any], default: Headline | None = None) -> Headline:
    """The headline metric a stage's figures are in (a benchmark stage records it)."""
    default = default or Headline()
    if "metric" not in stage:
        return default
    return Headline(stage["metric"], stage.get("metric_label", stage["metric"]))
