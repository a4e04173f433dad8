"""A model entry of a recipe, built: architecture, width, starting weights and head.

Every stage that builds a model (``StageContext.build_model``) and every check before a run
(:class:`compressor.preflight.Preflight`) goes through :func:`build_model`, so a recipe's
``width``, ``weights``, ``strict`` and ``head`` mean the same everywhere and ``compressor
validate`` meets the same errors a run would, before anything trains. In order:

1. the registered builder makes the architecture for the data's input shape and classes;
2. ``width`` narrows it (:mod:`compressor.model.width`), the classifier kept whole;
3. ``weights`` load: a file (:mod:`compressor.model.weights`), or a name the builder offers
   (:mod:`compressor.model.pretrained`); ``head: replace`` leaves the weights' classifier out
   (:mod:`compressor.model.heads`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from compressor.errors import RecipeError, UsageError
from compressor.model.heads import check_head, find_classifier
from compressor.model.weights import LoadReport, fit_state_dict, read_state_dict, strip_prefixes

if TYPE_CHECKING:
    from compressor.model.pretrained import PretrainedWeights
    from compressor.plugin.registry import Registry
    from compressor.records import ModelPlugin
    from compressor.schemas import ModelRef
    from compressor.task import Task

#: What a weights name looks like (``DEFAULT``, ``IMAGENET1K_V1``, timm's ``a1_in1k``); a
#: value with a path separator or a suffix is always a file.
WEIGHTS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class BuiltModel:
    """A model built from a recipe's model entry.

    Attributes:
        model: The ``nn.Module``, in train mode, on the CPU.
        weights: What loading its weights did (``None`` without ``weights``).
        preprocessing: The named weights' input preparation (:func:`pretrained_preprocessing`).
    """

    model: nn.Module
    weights: LoadReport | None = None
    preprocessing: dict[str, Any] | None = None


def is_weights_name(value: str) -> bool:
    """Whether ``weights: value`` names pretrained weights rather than a file."""
    return WEIGHTS_NAME.fullmatch(value) is not None and not Path(value).expanduser().exists()


def _pretrained(ref: ModelRef, record: ModelPlugin, field: str) -> PretrainedWeights:
    """The named weights ``ref.weights`` of ``record``'s builder.

    Raises:
        RecipeError: The builder has no named weights, or not this name (lists them).
    """
    from compressor.records import resolve_factory

    assert ref.weights is not None
    if record.pretrained is None:
        raise RecipeError(
            f"{field}.weights",
            f"no such weights file, and model {ref.name!r} has no named weights; give the path "
            "of a state_dict file",
            value=ref.weights,
        )
    try:
        found: PretrainedWeights = resolve_factory(record.pretrained)(ref.parsed, ref.weights)
    except RecipeError:
        raise
    except UsageError as error:
        raise RecipeError(f"{field}.weights", str(error), value=ref.weights) from None
    return found


def pretrained_preprocessing(ref: ModelRef, registry: Registry) -> dict[str, Any] | None:
    """How the inputs of ``ref``'s named weights were prepared, as plain data.

    For ``weights: DEFAULT`` on a torchvision model that is what ``weights.transforms()``
    does; for a timm model, its pretrained configuration. Keys: ``input_size`` ``[C, H, W]``,
    ``resize_size``, ``crop_pct``, ``interpolation``, ``mean``, ``std`` (0..1 scale).

    Returns:
        The mapping, or ``None`` when ``ref`` has no named weights.
    """
    if ref.weights is None or not is_weights_name(ref.weights):
        return None
    record = registry.get("model", ref.name)
    return dict(_pretrained(ref, record, "model").preprocessing)


def normalization_mismatch(
    preprocessing: dict[str, Any], mean: Sequence[float], std: Sequence[float]
) -> str | None:
    """What is wrong when data normalized with ``mean``/``std`` feeds weights trained otherwise.

    Named weights learned on inputs normalized their way (ImageNet's mean and std for
    torchvision's); fed other statistics, they start from shifted activations, and fine-tuning
    spends its first epochs undoing that.

    Args:
        preprocessing: :attr:`PretrainedWeights.preprocessing` (its ``mean`` and ``std``).
        mean: The data's per-channel mean (one value: every channel).
        std: The data's per-channel standard deviation.

    Returns:
        A sentence naming both normalizations and the recipe setting that fixes it, or ``None``
        when they agree (to 1e-3) or the weights do not say.
    """
    wanted_mean, wanted_std = preprocessing.get("mean"), preprocessing.get("std")
    if not wanted_mean or not wanted_std:
        return None
    channels = len(wanted_mean)
    have_mean = list(mean) * channels if len(mean) == 1 else list(mean)
    have_std = list(std) * channels if len(std) == 1 else list(std)
    close = len(have_mean) == channels and all(
        abs(a - b) <= 1e-3
        for a, b in zip([*have_mean, *have_std], [*wanted_mean, *wanted_std], strict=True)
    )
    if close:
        return None

    def shown(values: Sequence[float]) -> str:
        return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"

    return (
        f"the weights were trained on inputs normalized with mean {shown(wanted_mean)} and std "
        f"{shown(wanted_std)}, but the data is normalized with mean {shown(mean)} and std "
        f"{shown(std)}; set data.preprocess.mean: {shown(wanted_mean)} and "
        f"data.preprocess.std: {shown(wanted_std)} to feed the weights what they learned on"
    )


#: Data facts a model's options take from the data when the recipe leaves them unset.
FOLLOWED = ("sample_rate",)


def follow_data(ref: ModelRef, facts: dict[str, Any], field: str) -> None:
    """Options named like a fact of the data (:data:`FOLLOWED`: an audio front-end's
    ``sample_rate``) take the data's value when the recipe left them unset, in place, so the
    resolved recipe and the checkpoint's spec say what the model was built with.

    Raises:
        RecipeError: The recipe set one to another value than the data's (the model would hear
            clips at the wrong rate), naming ``FIELD.options.NAME``.
    """
    parsed = getattr(ref, "parsed", None)
    for name in FOLLOWED:
        if name not in facts or parsed is None or name not in type(parsed).model_fields:
            continue
        value = facts[name]
        if name in parsed.model_fields_set and getattr(parsed, name) != value:
            raise RecipeError(
                f"{field}.options.{name}",
                f"{getattr(parsed, name)} differs from the data's {value} "
                f"(data.preprocess.{name}); leave it out to take the data's",
                value=getattr(parsed, name),
            )
        setattr(parsed, name, value)
        ref.options[name] = value


def _narrowed(
    model: nn.Module,
    ref: ModelRef,
    input_shape: tuple[int, ...],
    num_classes: int,
    field: str,
    task: Task | None,
) -> None:
    from compressor.model.width import scale_width

    assert ref.width is not None
    try:
        if task is None:
            keep = [model.get_submodule(find_classifier(model, num_classes))]
        else:
            keep = task.kept_whole(model, num_classes)
        scale_width(model, ref.width, input_shape=input_shape, keep=keep)
    except UsageError as error:
        raise RecipeError(f"{field}.width", str(error), value=ref.width) from None


def _weights_of(
    ref: ModelRef, record: ModelPlugin, field: str
) -> tuple[dict[str, Any], str, PretrainedWeights | None]:
    """The tensors ``ref.weights`` names, where they came from, and the named weights if any."""
    assert ref.weights is not None
    if is_weights_name(ref.weights):
        named = _pretrained(ref, record, field)
        try:
            return named.fetch(ref.download), named.label, named
        except UsageError as error:
            raise RecipeError(f"{field}.weights", str(error), value=ref.weights) from None
    try:
        return read_state_dict(ref.weights), str(Path(ref.weights).expanduser()), None
    except UsageError as error:
        raise RecipeError(f"{field}.weights", str(error), value=ref.weights) from None


def load_weights(
    model: nn.Module, ref: ModelRef, record: ModelPlugin, num_classes: int, field: str
) -> tuple[LoadReport, PretrainedWeights | None]:
    """Load ``ref.weights`` into ``model`` (built for ``num_classes``), as ``ref`` asks.

    Raises:
        RecipeError: Naming ``FIELD.weights`` (the file or name, the keys) or ``FIELD.head``.
    """
    state, source, named = _weights_of(ref, record, field)
    state, stripped = strip_prefixes(state, set(model.state_dict()))
    replace = ref.head == "replace"
    try:
        head = find_classifier(model, num_classes)
    except UsageError as error:
        if replace:
            raise RecipeError(f"{field}.head", str(error), value=ref.head) from None
        head = None
    try:
        given = check_head(state, head, num_classes, source, replace) if head else None
    except UsageError as error:
        raise RecipeError(f"{field}.head", str(error), value=ref.head) from None
    try:
        report = fit_state_dict(
            model, state, source=source, strict=ref.strict, drop_prefix=head if replace else None
        )
    except UsageError as error:
        raise RecipeError(f"{field}.weights", str(error), value=ref.weights) from None
    report.stripped = stripped
    if replace:
        report.head = {"replaced": head, "weights_classes": given, "classes": num_classes}
    return report, named


def build_model(
    ref: ModelRef,
    registry: Registry,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    field: str = "model",
    task: Task | None = None,
    data_facts: dict[str, Any] | None = None,
) -> BuiltModel:
    """Build the model a recipe's model entry describes, weights loaded.

    Args:
        ref: The validated model entry (``ref.parsed`` set by the recipe validator).
        registry: Where ``ref.name`` is registered.
        input_shape: Shape of one input of the data.
        num_classes: The data's classes (the model's outputs, whatever the weights had).
        field: The entry's recipe field, e.g. ``stages.student.model``, for messages.
        task: The run's task: the layers ``width`` leaves whole are its
            (:meth:`compressor.task.Task.kept_whole`); ``None``: the classifier.
        data_facts: What the data's preprocessing fixes that a model must match
            (``{"sample_rate": 8000}``): see :func:`follow_data`.

    Returns:
        The model and what loading its weights did.

    Raises:
        RecipeError: Bad ``width``, ``weights`` or ``head``, naming the field; the builder's own
            errors (unknown architecture, inputs it cannot take) as it raises them.
    """
    record: ModelPlugin = registry.get("model", ref.name)
    follow_data(ref, data_facts or {}, field)
    model: nn.Module = record.build(
        ref.parsed, input_shape=tuple(input_shape), num_classes=num_classes
    )
    if ref.width is not None and ref.width < 1.0:
        _narrowed(model, ref, tuple(input_shape), num_classes, field, task)
    if ref.weights is None:
        if ref.head == "replace":
            raise RecipeError(
                f"{field}.head",
                "head: replace needs weights: to keep a backbone from",
                value=ref.head,
            )
        return BuiltModel(model)
    report, named = load_weights(model, ref, record, num_classes, field)
    return BuiltModel(model, report, dict(named.preprocessing) if named else None)
