"""``classification``: one class per sample, class logits out, top-1 accuracy.

The deployed form is the model itself: its one output, ``logits`` ``(N, num_classes)``. A
sample's target is its class index; a batch's, an int64 ``(N,)`` tensor. Top-1 accuracy is
counted here once, for PyTorch models during training and for ONNX files alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from compressor.task import Metric, Task

if TYPE_CHECKING:
    import torch
    from torch import nn

    from compressor.data import DataBundle


class TopOneAccuracy:
    """Counts samples whose largest logit is their class (a :class:`compressor.task.Scorer`).

    Soft targets (``(N, num_classes)`` rows, as mixup makes) count their largest entry as the
    class.
    """

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, outputs: Sequence[np.ndarray], targets: np.ndarray) -> None:
        """Count one batch: ``outputs[0]`` are the logits, ``targets`` the classes."""
        logits = np.asarray(outputs[0])
        labels = np.asarray(targets)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        self.correct += int((logits.argmax(axis=-1) == labels).sum())
        self.total += len(labels)

    def state(self) -> tuple[int, int]:
        """``(correct, total)``."""
        return self.correct, self.total

    def merge(self, states: Sequence[Any]) -> None:
        """Add other counts."""
        for correct, total in states:
            self.correct += int(correct)
            self.total += int(total)

    def compute(self) -> dict[str, float]:
        """``{"accuracy": correct / total}`` (NaN with no samples)."""
        return {"accuracy": self.correct / self.total if self.total else float("nan")}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from rows of logits (numerically stable)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


class Classification(Task):
    """One class per sample (see the module docstring)."""

    name = "classification"
    outputs = ("logits",)
    default_loss = "ce"
    default_distill_losses = (
        {"name": "kd", "weight": 0.9, "options": {"temperature": 4.0}},
        {"name": "ce", "weight": 0.1},
    )
    target_shape = ()
    class_logits = True
    table_columns = ("rank", "class", "probability")

    @property
    def metric(self) -> Metric:
        """Top-1 accuracy."""
        return Metric(key="accuracy", label="accuracy")

    @property
    def progress_name(self) -> str:
        """``val_acc``, as the bars always said."""
        return "val_acc"

    def collate(self, targets: Sequence[Any]) -> torch.Tensor:
        """Class indices as an int64 ``(N,)`` tensor."""
        import torch

        return torch.tensor([int(t) for t in targets], dtype=torch.long)

    def check_data(self, data: DataBundle) -> str | None:
        """Targets must be one class index per sample."""
        labels = data.train.labels
        if labels.dim() != 1:
            return (
                f"dataset {data.name!r} gives targets of shape {tuple(labels.shape[1:])} per "
                "sample; classification needs one class index per sample"
            )
        return None

    def kept_whole(self, model: nn.Module, num_classes: int) -> list[nn.Module]:
        """The classifier (:func:`compressor.model.heads.find_classifier`: ``fc``,
        ``classifier``, ..., else the last ``Linear`` or ``Conv2d`` with ``num_classes``
        outputs); none when the model has no such layer."""
        from compressor.errors import UsageError
        from compressor.model.heads import find_classifier

        try:
            return [model.get_submodule(find_classifier(model, num_classes))]
        except UsageError:
            return []

    def scorer(self, data: DataBundle) -> TopOneAccuracy:
        """Top-1 accuracy."""
        return TopOneAccuracy()

    def predictions(
        self, outputs: Sequence[np.ndarray], recorded: dict[str, Any], *, top: int = 5
    ) -> list[dict[str, Any]]:
        """The ``top`` classes of each input with their softmax probabilities."""
        names = list(recorded.get("class_names") or [])
        rows = []
        for logits in np.asarray(outputs[0], dtype=np.float64):
            probabilities = softmax(logits)
            order = np.argsort(-probabilities, kind="stable")[:top]
            rows.append(
                {
                    "top": [
                        {
                            "class": names[i] if i < len(names) else f"class {i}",
                            "index": int(i),
                            "probability": float(probabilities[i]),
                        }
                        for i in order
                    ]
                }
            )
        return rows

    def table(self, prediction: dict[str, Any]) -> list[list[str]]:
        """One row per ranked class."""
        return [
            [str(rank), top["class"], f"{top['probability']:.3f}"]
            for rank, top in enumerate(prediction["top"], start=1)
        ]
