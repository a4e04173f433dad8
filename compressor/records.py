"""Typed records that plugins return from the ``compressor_register_*`` hooks.

One record describes one registered thing: its name, the factory that builds it, the pydantic
model that validates its options, and a description shown by ``compressor plugins``. The
registry fills in ``source`` (the plugin that returned the record), so plugin authors leave it
empty.

A factory may be a callable or an import path ``"package.module:attr"``; an import path keeps
heavy libraries such as torch out of ``compressor plugins`` until the factory is first used.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

Factory = Callable[..., Any] | str


class NoOptions(BaseModel):
    """The options schema of a plugin that takes no options: any key is an error."""

    model_config = ConfigDict(extra="forbid")


def normalize_name(name: str) -> str:
    """Normalize a registered name: lower case, ``-`` and spaces become ``_``.

    Example:
        >>> normalize_name("MSE-Logits")
        'mse_logits'
    """
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


def resolve_factory(factory: Factory) -> Callable[..., Any]:
    """Return the callable behind a factory, importing ``"module:attr"`` paths on first use."""
    if callable(factory):
        return factory
    module_name, _, attr = factory.partition(":")
    if not attr:
        raise ValueError(f"factory import path {factory!r} must look like 'package.module:attr'")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class PluginRecord:
    """What every registered thing has.

    Attributes:
        name: The name recipes use; normalized by the registry.
        factory: Builds the thing, called as ``factory(options)`` with the validated options
            model (see each subclass for the exact call).
        options: A pydantic model class validating the ``options:`` mapping in the recipe.
        description: One line shown by ``compressor plugins``.
        source: Set by the registry: ``"<plugin name> (<distribution> <version>)"``.
    """

    kind: ClassVar[str] = "thing"

    name: str
    factory: Factory
    options: type[BaseModel] = NoOptions
    description: str = ""
    source: str = ""

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory (importing it first when it is an import path)."""
        return resolve_factory(self.factory)(*args, **kwargs)


@dataclass(frozen=True)
class LossPlugin(PluginRecord):
    """A distillation or training loss.

    ``factory(options)`` returns a ``torch.nn.Module`` called as
    ``loss(student, teacher, targets) -> scalar tensor``. What ``student`` and ``teacher``
    are depends on ``inputs``:

    - ``"logits"``: both are logits ``(N, num_classes)``;
    - ``"features"``: both are intermediate outputs taken from module paths named in the
      recipe's loss term (``(N, C, H, W)`` maps or ``(N, D)`` vectors). When the term has an
      ``adapter``, the student's features have been mapped to the teacher's shape first;
    - ``"any"``: either.

    A loss that does not use the teacher (``needs_teacher=False``, e.g. cross-entropy)
    receives ``teacher=None``.

    ``targets`` are the batch's rows of the split's targets, in the task's form
    (:meth:`compressor.task.Task.collate`: class indices, or mixed soft targets ``(N,
    num_classes)`` after mixup; a detection batch's padded boxes), or ``None`` on unlabelled
    transfer batches.

    ``tasks`` names the tasks the loss applies to (``("detection",)``); empty: every task,
    except that ``inputs="logits"`` needs class logits (:meth:`compressor.task.Task.loss_problem`).

    A loss that must know the model it trains (a detector's anchor points, its class count)
    defines ``bind(model)``: the training loop calls it with the student before the first step.
    """

    kind: ClassVar[str] = "loss"
    needs_teacher: bool = True
    inputs: str = "logits"
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrunerPlugin(PluginRecord):
    """A structural pruning method: an importance criterion over torch-pruning's DepGraph.

    ``factory(options)`` returns an object with:

    - ``importance() -> torch_pruning.importance.Importance``: called with a channel group,
      returns a 1-D tensor of scores (higher means keep);
    - ``needs_gradients: bool`` (class attribute): when true, the prune stage accumulates
      gradients of its loss on a few batches before every pruning step (Taylor criteria);
    - optionally ``check_model(model) -> str | None``: why the criterion cannot rank this model
      (e.g. no BatchNorm for ``bn_scale``), checked before pruning.

    How many channels go (ratio, MACs or parameter target, iterative schedule, rounding, ignored
    layers) is the prune stage's business (:mod:`compressor.model.pruning`), the same for every method.
    """

    kind: ClassVar[str] = "pruner"


@dataclass(frozen=True)
class ExporterPlugin(PluginRecord):
    """A model exporter.

    ``factory(options)`` returns an object with
    ``export(model, example_inputs, path, *, context=None) -> dict`` that writes ``path``
    atomically and returns facts about the export (exporter used, parity figures).
    ``example_inputs`` are real, normalized samples. ``context`` is a
    :class:`compressor.export_context.ExportContext`: the data's mean, std, input shape and
    class names and the recipe's name and hash, for the file to carry (or to embed the
    normalization). The ``export`` stage passes it only to exporters whose ``export`` takes a
    ``context`` keyword, so the older three-argument form still works. ``suffix`` is the file
    suffix.
    """

    kind: ClassVar[str] = "exporter"
    suffix: str = ".bin"


@dataclass(frozen=True)
class DatasetPlugin(PluginRecord):
    """A dataset.

    ``factory(options, seed=...)`` (``seed`` by keyword) returns a :class:`compressor.data.DataBundle` with fixed
    train/validation/test splits.

    ``task`` is the task its targets are for (a registered task name: ``classification``,
    ``detection``), unless the recipe's ``task:`` says otherwise; ``modality`` is what its
    samples are (``image``, ``audio``), which decides how they are preprocessed, recorded in
    an exported file and read by ``compressor predict``.
    """

    kind: ClassVar[str] = "dataset"
    task: str = "classification"
    modality: str = "image"


@dataclass(frozen=True)
class ModelPlugin(PluginRecord):
    """A model architecture.

    ``factory(options, input_shape=..., num_classes=...)`` (both by keyword) returns an
    untrained ``torch.nn.Module``.

    A builder with named pretrained weights (``weights: DEFAULT`` in a recipe) sets
    ``pretrained``: ``pretrained(options, name)`` returns a
    :class:`compressor.model.pretrained.PretrainedWeights` (its class count, preprocessing
    and how to fetch its ``state_dict`` from the local cache), or raises
    :class:`~compressor.errors.UsageError` listing the valid names. ``None``: weights come
    from files only.
    """

    kind: ClassVar[str] = "model"
    pretrained: Factory | None = None


#: ``Role.file`` when the stage does not say: see :class:`Role`.
FILE_BY_NAME = "by name"


@dataclass(frozen=True)
class Role:
    """One named input or output slot of a stage.

    Attributes:
        description: What the slot holds, shown in errors and docs.
        required: Whether a recipe must fill the slot.
        many: Whether the slot takes a list of artifact names rather than one.
        file: For an output slot, the file each of its artifacts is written to in the run
            folder, as a pattern of the artifact's name: ``"{name}.pt"`` (a model checkpoint,
            ``teacher.pt``), ``"{name}"`` (a file named like its artifact, ``student.onnx``);
            ``None`` when the stage writes no file for it. The default, :data:`FILE_BY_NAME`,
            decides by the name: ``{name}`` when it has a suffix (``student.onnx``), else
            ``{name}.pt``, which is what the built-in stages write. ``compressor validate``
            rejects a recipe in which two artifacts, or an artifact and one of the run folder's
            own files (``metrics.json``, ``report.md``, ...), would be the same file
            (:func:`compressor.recipe.resolve.output_file` applies the pattern).
    """

    description: str = ""
    required: bool = True
    many: bool = False
    file: str | None = FILE_BY_NAME


@dataclass(frozen=True)
class StagePlugin(PluginRecord):
    """A pipeline stage type (``train``, ``distill``, ...).

    ``factory(options)`` returns an object with ``run(ctx) -> None`` that reads its inputs and
    publishes its outputs through the :class:`compressor.context.StageContext` it receives.
    ``options`` validates the stage's own keys in the recipe (everything except ``name``,
    ``type``, ``inputs`` and ``outputs``). ``inputs`` and ``outputs`` declare the slots.

    Two optional callables take part in recipe validation, before anything runs:
    ``default_outputs(inputs, options, registry)`` derives output names the recipe left out
    (``export`` turns ``student`` into ``student.onnx``), and ``check(options, registry)``
    returns ``(field, message)`` pairs for problems the options schema cannot see alone, such as
    a loss that needs a teacher in a stage that has none.

    ``preflight(stage_info, checker)`` (optional, a callable or import path) runs before any
    stage trains, with untrained models and the data (:class:`compressor.preflight.Preflight`),
    to catch what needs real objects, such as a module path that does not exist.

    ``cacheable`` says that the stage's result depends only on its configuration, its inputs,
    the recipe's seed and data, and the plugins' versions, so the pipeline may reuse it from
    the stage cache (:mod:`compressor.run.cache`). Leave it ``False`` for stages that measure
    the machine (a benchmark) or read files the recipe does not pin down.

    ``measures_machine``: a cacheable stage whose result is chosen by timings of this machine
    (a budget search): its cache entries are keyed on the machine too.

    ``all_ranks``: in a multi-process run (torchrun), whether the stage runs on every rank
    (stages that train, or make models that training stages read) or on rank 0 alone while the
    others wait (export, benchmark, and any stage that does not say otherwise).
    """

    kind: ClassVar[str] = "stage"
    inputs: dict[str, Role] = field(default_factory=dict)
    outputs: dict[str, Role] = field(default_factory=dict)
    default_outputs: Callable[..., dict[str, Any]] | None = None
    check: Callable[..., list[tuple[str, str]]] | None = None
    preflight: Factory | None = None
    cacheable: bool = False
    measures_machine: bool = False
    all_ranks: bool = False


@dataclass(frozen=True)
class TaskPlugin(PluginRecord):
    """A task: what targets and outputs mean, the metric, the deployed form.

    ``factory(options)`` returns a :class:`compressor.task.Task` (subclass) instance; see that
    class for every method a task implements. ``options`` validates the recipe's
    ``task: {name: ..., options: {...}}``.
    """

    kind: ClassVar[str] = "task"


RECORD_TYPES: dict[str, type[PluginRecord]] = {
    cls.kind: cls
    for cls in (
        LossPlugin,
        PrunerPlugin,
        ExporterPlugin,
        DatasetPlugin,
        ModelPlugin,
        StagePlugin,
        TaskPlugin,
    )
}
