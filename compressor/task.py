"""The task contract: what a dataset's targets and a model's outputs mean, and how they score.

Class logits used to be assumed everywhere. A **task** plugin now owns every piece that depends
on what a model predicts, so that stages, exporters, the benchmark, the report and ``predict``
work unchanged for classification, detection and tasks a third party adds:

- the targets: what one sample's target is and how a batch of them is collated into one tensor
  (:meth:`Task.collate`; one int label, or a padded set of boxes);
- the supervised loss a ``train`` stage uses by default (:attr:`Task.default_loss`) and which
  loss plugins apply at all (:meth:`Task.loss_problem`);
- the **deployed form**: the module an exported file runs (:meth:`Task.deployable`: the model
  itself for classification, model plus decode and NMS for detection), whose outputs are named
  by :attr:`Task.outputs`;
- the metric (:attr:`Task.metric`, :meth:`Task.scorer`): one implementation that scores the
  deployed form's outputs as numpy arrays, whether they came from PyTorch during training
  (validation metric, best epoch) or from an ONNX file in onnxruntime (the benchmark, INT8);
- the layers structural pruning leaves whole (:meth:`Task.kept_whole`);
- what an exported file records about the task (:meth:`Task.metadata`), and what ``compressor
  predict`` prints for one input (:meth:`Task.predictions`, with numpy alone).

A dataset plugin declares its task (:attr:`compressor.records.DatasetPlugin.task`); a recipe's
top-level ``task:`` may override it (docs/plugins/hooks.md, "Tasks"). The task's options come
from the recipe's ``task: {name: ..., options: {...}}``.

The outputs' one documented form: a list of numpy arrays, one per name of :attr:`Task.outputs`,
each with the batch as its first axis, exactly what ``onnxruntime.InferenceSession.run``
returns for the exported file. Targets are the rows of :attr:`compressor.data.DataSplit.labels`
for the same samples, as a numpy array.

This module imports neither torch nor numpy at module level: ``compressor plugins`` and
``compressor predict`` import task modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch
    from pydantic import BaseModel
    from torch import nn

    from compressor.data import DataBundle
    from compressor.records import LossPlugin


@dataclass(frozen=True)
class Metric:
    """A task's headline metric.

    Attributes:
        key: How ``metrics.json`` names it: ``val_<key>``, ``test_<key>`` (``accuracy``:
            ``test_accuracy``; ``map``: ``test_map``).
        label: How the report's headline column and the plots name it (``accuracy``,
            ``mAP@[.5:.95]``).
        higher_is_better: Whether a larger value is better (every built-in metric).
        fraction: Whether the value is a fraction shown as a percentage (0..1), as accuracy
            and mAP are; ``False`` shows the number as it is.
    """

    key: str
    label: str
    higher_is_better: bool = True
    fraction: bool = True


class Scorer(Protocol):
    """Accumulates one split's outputs and targets, then computes the task's figures.

    Built per evaluation by :meth:`Task.scorer`; fed batch by batch with :meth:`update`.
    """

    def update(self, outputs: Sequence[np.ndarray], targets: np.ndarray) -> None:
        """Add one batch: the deployed form's outputs (one array per output name, batch first)
        and the batch's targets (rows of the split's ``labels``)."""
        ...

    def state(self) -> Any:
        """What was accumulated, picklable: torchrun's ranks gather it to score together."""
        ...

    def merge(self, states: Sequence[Any]) -> None:
        """Add other scorers' :meth:`state` (the other ranks' shares)."""
        ...

    def compute(self) -> dict[str, Any]:
        """Every figure, the headline :attr:`Metric.key` among them (NaN with no samples);
        others as the task documents (``map50``, ``per_class``, ...)."""
        ...


class Task:
    """The base of every task: subclass it, set the class attributes, implement the methods.

    A task plugin's factory is called as ``factory(options)`` with the validated options (see
    :class:`compressor.records.TaskPlugin`) and returns an instance.

    Class attributes:
        name: The registered name (``classification``, ``detection``).
        outputs: Names of the deployed form's outputs, in order; an exported file's outputs
            carry these names (``("logits",)``; ``("boxes", "scores", "labels")``).
        default_loss: The loss plugin a ``train`` stage uses when its recipe lists none
            (``ce``; ``detection``).
        spatial: Whether a target says where things are in the input (a detection's boxes).
            Then the batch augmentation of ``data.augment`` (shift, flip, mixup, ...), which
            moves pixels without the targets, and ``data.preprocess.center_crop``, which would
            cut them, are refused; per-sample augmentation moves both
            (:meth:`transform_sample`).
        target_shape: ``()`` for one value per sample (a class), or the shape of one sample's
            target tensor with ``-1`` where it varies (detection: ``(-1, 6)``).
        class_logits: Whether the models' raw output is class logits ``(N, num_classes)``, so
            that the logit losses (``kd``, ``ce``, ...) apply.
    """

    name: str = ""
    outputs: tuple[str, ...] = ("logits",)
    default_loss: str = "ce"
    spatial: bool = False
    target_shape: tuple[int, ...] = ()
    class_logits: bool = False

    def __init__(self, options: Any = None) -> None:
        self.options = options

    @property
    def metric(self) -> Metric:
        """The headline metric (it may depend on the options)."""
        raise NotImplementedError

    @property
    def progress_name(self) -> str:
        """How progress bars name the validation metric (``val_acc``, ``val_map``)."""
        return f"val_{self.metric.key}"

    # -- targets ---------------------------------------------------------------------------

    def collate(self, targets: Sequence[Any]) -> torch.Tensor:
        """Per-sample targets as one tensor whose first axis is the sample.

        Args:
            targets: What a dataset gives as each sample's target (an int; an ``(M, 6)``
                array), in order.

        Returns:
            The batch's targets (``(N,)`` int64; ``(N, M, 6)`` float32 padded), the form of
            :attr:`compressor.data.DataSplit.labels`.
        """
        raise NotImplementedError

    def check_data(self, data: DataBundle) -> str | None:
        """Why this task cannot use ``data`` (its targets have another form), or ``None``."""
        return None

    #: The schema of the task's own per-sample augmentation keys in ``data.augment`` (a
    #: pydantic model; detection's ``horizontal_flip``, ``iou_crop``, ...), or ``None``.
    augment_options: type[BaseModel] | None = None

    def sample_augment(self, options: Any, seed: int) -> Any:
        """The training split's per-sample augmentation from the task's own keys, or ``None``.

        Args:
            options: The task's keys of ``data.augment``, validated by :attr:`augment_options`.
            seed: The stage's seed.

        Returns:
            A picklable ``augment(sample, target, index, epoch) -> (sample, target)`` that
            seeds its draws from ``(seed, epoch, index)`` and returns the target in the shape
            given (its row of the split's targets), or ``None``: no augmentation of its own.
        """
        return None

    def transform_sample(
        self, transform: Any, sample: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training sample through a per-sample transform (``torchvision.transforms.v2``).

        Args:
            transform: The transform (a v2 pipeline, already seeded for this sample).
            sample: The sample in 0..1, before normalization (an image ``(C, H, W)``).
            target: Its row of the split's targets.

        Returns:
            The transformed sample and its target, in the shapes given: a spatial task moves
            the target with the sample (and keeps the sample's size); the default leaves the
            target as it is.
        """
        return transform(sample), target

    # -- training --------------------------------------------------------------------------

    def loss_problem(self, loss: LossPlugin) -> str | None:
        """Why the loss plugin ``loss`` does not apply to this task, or ``None`` when it does.

        A loss that names its tasks (:attr:`compressor.records.LossPlugin.tasks`) applies to
        those; one that names none applies to every task, except that a loss reading class
        logits (``inputs="logits"``) needs a task whose models output them
        (:attr:`class_logits`).
        """
        if loss.tasks:
            if self.name in loss.tasks:
                return None
            return f"loss {loss.name!r} applies to {', '.join(loss.tasks)} models, not {self.name}"
        if loss.inputs == "logits" and not self.class_logits:
            return f"loss {loss.name!r} reads class logits, which {self.name} models do not output"
        return None

    #: The loss terms a distill stage (or a prune stage's fine-tune) uses when its recipe lists
    #: none, as recipe mappings (``{"name": "kd", "weight": 0.9, "options": {...}}``).
    default_distill_losses: tuple[dict[str, Any], ...] = ()

    def default_losses(self, teacher: bool) -> list[dict[str, Any]]:
        """The loss terms of a stage whose recipe lists none, as recipe mappings.

        Args:
            teacher: Whether the stage distills from a teacher (distill, prune's fine-tune) or
                trains on the targets alone (train).

        Raises:
            RecipeError: The task names no distillation losses (list them in the recipe).
        """
        if not teacher:
            return [{"name": self.default_loss}]
        if not self.default_distill_losses:
            from compressor.errors import RecipeError

            raise RecipeError(
                "losses", f"task {self.name!r} has no default distillation losses; list losses:"
            )
        return [dict(term) for term in self.default_distill_losses]

    def kept_whole(self, model: nn.Module, num_classes: int) -> list[nn.Module]:
        """The modules structural pruning must leave whole (a classifier; a detector's final
        class and box layers): their outputs are the task's, not free channels."""
        return []

    # -- outputs and metric ----------------------------------------------------------------

    def deployable(self, model: nn.Module) -> nn.Module:
        """The module an exported file runs and the metric scores: its outputs are
        :attr:`outputs`, in order (the model itself when it already returns them)."""
        return model

    def scorer(self, data: DataBundle) -> Scorer:
        """A new scorer for ``data``'s samples (its classes and input shape)."""
        raise NotImplementedError

    # -- deployment ------------------------------------------------------------------------

    def metadata(self, data: DataBundle) -> dict[str, Any]:
        """What an exported file records about the task, JSON-ready; ``task`` and ``outputs``
        are added by the exporter. ``predict`` gets it back in :meth:`predictions`."""
        return {}

    def predictions(
        self, outputs: Sequence[np.ndarray], recorded: dict[str, Any], *, top: int = 5
    ) -> list[dict[str, Any]]:
        """What ``compressor predict`` reports for each input, with numpy alone.

        Args:
            outputs: The file's outputs for a batch of inputs (one array per output name).
            recorded: The file's metadata: :meth:`metadata`'s keys, ``class_names``, and
                ``input_size`` (the original ``(height, width)`` per input, to map positions
                back) when the modality has one.
            top: How many entries per input a ranked answer keeps (classes).

        Returns:
            One JSON-ready dict per input (``{"top": [...]}``; ``{"detections": [...]}``).
        """
        raise NotImplementedError

    #: The columns of ``predict``'s table after the input's file name.
    table_columns: tuple[str, ...] = ("rank", "class", "probability")

    def table(self, prediction: dict[str, Any]) -> list[list[str]]:
        """The rows ``predict`` prints for one input's prediction, one cell per
        :attr:`table_columns` entry (the input's file name is added before the first row)."""
        raise NotImplementedError
