"""Test helpers for plugin authors: tiny models and data, and contract checks for each plugin kind.

Each ``check_*`` function builds the plugin the way a recipe would, runs it on something tiny,
and raises :class:`AssertionError` with a message that says which part of the contract failed
(see :mod:`compressor.records` for the contracts). They take about a second each on a laptop
CPU, so a plugin's test suite can call them for every option combination that matters::

    from compressor.testing import check_loss

    def test_cosine_loss():
        check_loss("cosine", zero_when_equal=True)   # looked up through the entry points

A check accepts the plugin in any of these forms:

- a registered name (``"cosine"``): looked up through the ``compressor`` entry points, so the
  test also proves that ``pip install -e .`` registered it;
- a record (:class:`~compressor.records.LossPlugin`, ...): what your hook returns;
- a factory (a class or function called with the options) or an already built object.

``options`` is a mapping validated by the record's schema, or an already validated pydantic
model. Used as a pytest plugin (``pytest_plugins = ["compressor.testing"]`` in a
``conftest.py``) it also provides the fixtures ``tiny_bundle``, ``tiny_model`` and
``compressor_registry``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel
from torch import nn

from compressor.artifacts import Artifact, FileArtifact, ModelArtifact
from compressor.data import DataBundle, Split
from compressor.records import (
    ExporterPlugin,
    LossPlugin,
    PluginRecord,
    PrunerPlugin,
    StagePlugin,
)

if TYPE_CHECKING:
    from compressor.context import RunContext
    from compressor.plugin.registry import Registry

__all__ = [
    "StageCheckResult",
    "check_exporter",
    "check_loss",
    "check_pruner",
    "check_stage",
    "tiny_cnn",
    "tiny_data_bundle",
    "tiny_mlp",
]

#: Input shape of the tiny models and the random bundle: the shape of the shipped digits.
TINY_INPUT_SHAPE: tuple[int, ...] = (1, 8, 8)
#: Classes of the random bundle.
TINY_CLASSES = 4


# --- tiny models and data --------------------------------------------------------------------


def tiny_cnn(
    input_shape: tuple[int, ...] = TINY_INPUT_SHAPE,
    num_classes: int = TINY_CLASSES,
    *,
    seed: int = 0,
) -> nn.Module:
    """A two-conv network with batch norm: small, but every layer kind a pruner meets.

    Args:
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Number of output logits.
        seed: Seeds the weights, so two calls give the same model.

    Returns:
        An ``nn.Sequential`` in eval mode; its last module is the classifier ``Linear``.
    """
    with _seeded(seed):
        model = nn.Sequential(
            nn.Conv2d(input_shape[0], 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )
    return model.eval()


def tiny_mlp(
    input_shape: tuple[int, ...] = TINY_INPUT_SHAPE,
    num_classes: int = TINY_CLASSES,
    *,
    seed: int = 0,
) -> nn.Module:
    """A two-hidden-layer perceptron over the flattened input.

    Args:
        input_shape: Shape of one input; it is flattened.
        num_classes: Number of output logits.
        seed: Seeds the weights.

    Returns:
        An ``nn.Sequential`` in eval mode; its last module is the classifier ``Linear``.
    """
    with _seeded(seed):
        model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), 32),
            nn.ReLU(),
            nn.Linear(32, 16),
            nn.ReLU(),
            nn.Linear(16, num_classes),
        )
    return model.eval()


def tiny_data_bundle(
    source: str = "random",
    *,
    num_classes: int = TINY_CLASSES,
    input_shape: tuple[int, ...] = TINY_INPUT_SHAPE,
    sizes: tuple[int, int, int] = (64, 32, 32),
    seed: int = 0,
) -> DataBundle:
    """A dataset small enough for a contract check.

    Args:
        source: ``"random"``: class-dependent Gaussian inputs (learnable, instant);
            ``"digits"``: the shipped handwritten digits (real, 1,797 images, about a second).
        num_classes: Classes of the random bundle.
        input_shape: Input shape of the random bundle.
        sizes: Train, validation and test sizes of the random bundle.
        seed: Seeds the random bundle.

    Returns:
        A :class:`~compressor.data.DataBundle` with class names.
    """
    if source == "digits":
        from compressor.plugin.registry import Registry

        record = Registry.load().get("dataset", "digits")
        return record.build(record.options.model_validate({}), seed=seed)
    if source != "random":
        raise ValueError(f"unknown tiny data source {source!r}; valid choices: digits, random")
    generator = torch.Generator().manual_seed(seed)
    # One fixed pattern per class plus noise: a model can learn it, so training stages improve.
    patterns = torch.randn(num_classes, *input_shape, generator=generator)

    def split(n: int) -> Split:
        y = torch.randint(0, num_classes, (n,), generator=generator)
        x = patterns[y] + 0.5 * torch.randn(n, *input_shape, generator=generator)
        return Split(x=x, y=y)

    train, val, test = (split(n) for n in sizes)
    return DataBundle(
        name="tiny_random",
        train=train,
        val=val,
        test=test,
        num_classes=num_classes,
        input_shape=tuple(input_shape),
        class_names=[f"class_{i}" for i in range(num_classes)],
    )


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # Fork the RNG so a check never shifts the random stream of the test that calls it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _classifier(model: nn.Module) -> nn.Module | None:
    """The last Linear of ``model``: the layer whose outputs are the classes."""
    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            found = module
    return found


# --- building the plugin under test ----------------------------------------------------------


def _record(kind: str, target: Any, expected: type[PluginRecord]) -> PluginRecord | None:
    """The record behind ``target``: looked up when it is a name, itself when it is a record."""
    if isinstance(target, str):
        from compressor.errors import UnknownNameError
        from compressor.plugin.registry import Registry

        try:
            return Registry.load().get(kind, target)
        except UnknownNameError as exc:
            raise AssertionError(
                f"{exc}; is the plugin installed in this environment (pip install -e .)?"
            ) from None
    if isinstance(target, PluginRecord):
        assert isinstance(target, expected), (
            f"expected a {expected.__name__} record, got {type(target).__name__}"
        )
        return target
    return None


def _options(record: PluginRecord | None, options: Any) -> Any:
    if isinstance(options, BaseModel) or record is None:
        return options
    try:
        return record.options.model_validate(dict(options or {}))
    except Exception as exc:
        raise AssertionError(
            f"{record.kind} {record.name!r}: options {dict(options or {})!r} are rejected by "
            f"its schema {record.options.__name__}: {exc}"
        ) from exc


def _build(
    kind: str, target: Any, options: Any, expected: type[PluginRecord], has: str
) -> tuple[Any, PluginRecord | None]:
    """Build the plugin object from a name, record, factory or built object."""
    record = _record(kind, target, expected)
    parsed = _options(record, options)
    label = f"{kind} {record.name!r}" if record else f"{kind} {target!r}"
    if record is not None:
        try:
            built = record.build(parsed)
        except Exception as exc:
            raise AssertionError(
                f"{label}: factory {record.factory!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    elif hasattr(target, has) and not isinstance(target, type):
        built = target
    elif callable(target):
        built = target(parsed)
    else:
        raise AssertionError(
            f"cannot check {target!r}: give a name, a record, a factory or a {kind}"
        )
    assert hasattr(built, has), (
        f"{label}: the factory returned {type(built).__name__}, which has no {has}() method"
    )
    return built, record


# --- losses ------------------------------------------------------------------------------------


def check_loss(
    loss: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    zero_when_equal: bool = False,
    needs_teacher: bool | None = None,
    num_classes: int = 5,
    shape: tuple[int, ...] | None = None,
    batch_size: int = 8,
    seed: int = 0,
) -> float:
    """Check the loss contract: ``loss(student_logits, teacher_logits, targets) -> scalar``.

    The loss must be an ``nn.Module``, return a finite floating-point scalar that carries a
    gradient to the student's logits, cope with a batch of one and with large logits, leave its
    inputs unchanged, and, when it does not need a teacher, accept ``teacher_logits=None``.

    Args:
        loss: A name, a :class:`~compressor.records.LossPlugin`, a factory or a built module.
        options: The loss options (validated by the record's schema).
        zero_when_equal: Also check that the loss is (about) zero when the student's logits
            equal the teacher's; true for distances such as ``kd`` or ``mse_logits``, not for
            ``ce``.
        needs_teacher: Overrides the record's flag (a bare module or factory defaults to true).
        num_classes: Logits per sample.
        shape: Shape of one sample's student and teacher input, when not ``(num_classes,)``
            logits; a feature loss (record ``inputs="features"``) gets ``(8, 4, 4)`` maps by
            default.
        batch_size: Samples per batch.
        seed: Seeds the random logits.

    Returns:
        The loss value on random logits.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    module, record = _build("loss", loss, options, LossPlugin, "forward")
    label = f"loss {record.name!r}" if record else f"loss {type(module).__name__}"
    if needs_teacher is None:
        needs_teacher = record.needs_teacher if record is not None else True
    if shape is None:
        features = getattr(record, "inputs", "logits") == "features"
        shape = (8, 4, 4) if features else (num_classes,)
    assert isinstance(module, nn.Module), (
        f"{label}: the factory must return a torch.nn.Module, got {type(module).__name__}"
    )
    generator = torch.Generator().manual_seed(seed)

    def call(
        student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor, what: str
    ) -> torch.Tensor:
        saved = [t.detach().clone() for t in (student, teacher, targets) if t is not None]
        try:
            value = module(student, teacher, targets)
        except Exception as exc:
            raise AssertionError(f"{label} raised on {what}: {type(exc).__name__}: {exc}") from exc
        after = [t.detach() for t in (student, teacher, targets) if t is not None]
        assert all(torch.equal(a, b) for a, b in zip(saved, after, strict=True)), (
            f"{label} modified its inputs in place on {what}; compute on copies"
        )
        assert isinstance(value, torch.Tensor), (
            f"{label} must return a tensor, got {type(value).__name__} on {what}"
        )
        assert value.dim() == 0, (
            f"{label} must return a scalar (0-dim tensor), got shape {list(value.shape)} on "
            f"{what}; reduce over the batch (mean)"
        )
        assert value.is_floating_point(), (
            f"{label} returned dtype {value.dtype}, not floating point"
        )
        assert torch.isfinite(value), (
            f"{label} returned {value.item()} on {what}; it must be finite"
        )
        return value

    def logits(
        n: int, scale: float = 3.0
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        student = (scale * torch.randn(n, *shape, generator=generator)).requires_grad_()
        teacher = scale * torch.randn(n, *shape, generator=generator) if needs_teacher else None
        targets = torch.randint(0, num_classes, (n,), generator=generator)
        return student, teacher, targets

    student, teacher, targets = logits(batch_size)
    value = call(student, teacher, targets, f"random logits (batch {batch_size})")
    assert value.requires_grad, (
        f"{label} is not differentiable: its value has no gradient to the student's logits "
        "(was something detached, or computed with .item() / numpy?)"
    )
    value.backward()
    grad = student.grad
    assert grad is not None, f"{label}: backward() gave the student's logits no gradient"
    assert torch.isfinite(grad).all(), (
        f"{label}: the gradient to the student's logits is not finite"
    )
    assert grad.abs().sum() > 0, (
        f"{label}: the gradient to the student's logits is zero everywhere on random logits; "
        "the loss cannot train anything"
    )

    call(*logits(1), "a batch of one")
    call(*logits(batch_size, scale=100.0), "large logits (|x| ~ 100)")

    if zero_when_equal:
        student, _, targets = logits(batch_size)
        equal = call(
            student, student.detach().clone(), targets, "student logits equal to the teacher's"
        )
        assert abs(equal.item()) <= 1e-4, (
            f"{label} is {equal.item():.3g} when the student's logits equal the teacher's; "
            "expected about 0 (pass zero_when_equal=False for a loss where that does not hold)"
        )
    return float(value.detach())


# --- exporters -------------------------------------------------------------------------------


class _WriteWatch:
    """Catches Python-level opens for writing of a watched path (a non-atomic write).

    An audit hook cannot be removed once added, so one is added on first use and consults the
    paths watched by the current thread.
    """

    _installed = False
    _local = threading.local()

    @classmethod
    @contextmanager
    def watching(cls, path: Path) -> Iterator[list[str]]:
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True
        hits: list[str] = []
        cls._local.watch = (str(path.resolve()), hits)
        try:
            yield hits
        finally:
            cls._local.watch = None

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if event != "open":
            return
        watch = getattr(cls._local, "watch", None)
        if watch is None or not args or not isinstance(args[0], str | bytes | Path):
            return
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in mode for c in "wax+") or bool(flags & (os.O_WRONLY | os.O_RDWR))
        if not writes:
            return
        try:
            opened = str(Path(os.fsdecode(args[0])).resolve())
        except (OSError, ValueError):
            return
        if opened == watch[0]:
            watch[1].append(mode or f"flags={flags}")


class _RaisingModel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("deliberate failure of compressor.testing.check_exporter")


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def _default_loader(suffix: str) -> Callable[[Path], Any] | None:
    if suffix == ".json":
        return lambda path: json.loads(path.read_text(encoding="utf-8"))
    if suffix == ".onnx":

        def load_onnx(path: Path) -> Any:
            import onnx

            onnx.checker.check_model(str(path))
            return onnx.load(str(path))

        return load_onnx
    return None


def check_exporter(
    exporter: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    suffix: str | None = None,
    model: nn.Module | None = None,
    example_inputs: torch.Tensor | None = None,
    directory: str | Path | None = None,
    load: Callable[[Path], Any] | None = None,
    check_failure: bool = True,
) -> dict[str, Any]:
    """Check the exporter contract: ``export(model, example_inputs, path) -> dict``.

    The exporter must write ``path`` (and nothing else) through a temporary file, never open
    ``path`` itself for writing, leave the model unchanged, and return a dict of facts. The file
    must load: ``load`` is called on it (JSON and ONNX files are loaded by default). With
    ``check_failure``, a model whose forward raises is exported too: if the exporter fails,
    nothing may be left at the destination.

    Args:
        exporter: A name, an :class:`~compressor.records.ExporterPlugin`, a factory or a built
            exporter.
        options: The exporter options (validated by the record's schema).
        suffix: The file suffix (default: the record's, else ``.bin``).
        model: The model to export (default: :func:`tiny_cnn`).
        example_inputs: Inputs given to the exporter (default: 8 random digit-shaped inputs).
        directory: An empty folder to export into (default: a new temporary folder).
        load: Called with the written path; raise to reject the file.
        check_failure: Also check that a failed export leaves nothing behind.

    Returns:
        What ``export`` returned.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    built, record = _build("exporter", exporter, options, ExporterPlugin, "export")
    label = f"exporter {record.name!r}" if record else f"exporter {type(built).__name__}"
    suffix = suffix or (record.suffix if isinstance(record, ExporterPlugin) else ".bin")
    folder = (
        Path(directory)
        if directory is not None
        else Path(tempfile.mkdtemp(prefix="compressor-check-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    assert not any(folder.iterdir()), f"check_exporter needs an empty folder, {folder} is not"
    model = model if model is not None else tiny_cnn()
    if example_inputs is None:
        example_inputs = torch.randn(
            8, *TINY_INPUT_SHAPE, generator=torch.Generator().manual_seed(0)
        )
    path = folder / f"model{suffix}"
    state = copy.deepcopy(model.state_dict())
    training = model.training

    with _WriteWatch.watching(path) as direct_writes:
        try:
            facts = built.export(model, example_inputs, path)
        except Exception as exc:
            raise AssertionError(
                f"{label} failed on {type(model).__name__}: {type(exc).__name__}: {exc}"
            ) from exc
    assert not direct_writes, (
        f"{label} opened the destination {path.name} for writing ({direct_writes[0]}); write a "
        "temporary file and rename it, e.g. with compressor.atomic.atomic_path(path)"
    )
    assert isinstance(facts, dict), (
        f"{label}: export() must return a dict of facts, got {type(facts).__name__}"
    )
    assert all(isinstance(k, str) for k in facts), (
        f"{label}: the keys of the returned dict must be strings"
    )
    assert path.is_file(), f"{label}: export() returned but {path.name} was not written"
    assert path.stat().st_size > 0, f"{label} wrote an empty {path.name}"
    stray = _leftovers(folder, {path.name})
    assert not stray, f"{label} left other files next to {path.name}: {', '.join(stray)}"
    assert model.training == training and all(
        torch.equal(state[k], v) for k, v in model.state_dict().items()
    ), f"{label} modified the model it exported; export a copy (copy.deepcopy(model))"

    loader = load or _default_loader(suffix)
    if loader is not None:
        try:
            loader(path)
        except Exception as exc:
            raise AssertionError(
                f"{label}: the written {path.name} does not load: {type(exc).__name__}: {exc}"
            ) from exc

    if check_failure:
        failing = folder / f"failing{suffix}"
        try:
            built.export(_RaisingModel(), example_inputs, failing)
        except Exception:
            stray = _leftovers(folder, {path.name})
            assert not stray, (
                f"{label} failed (as it should on a model whose forward raises) but left "
                f"{', '.join(stray)} behind; write through compressor.atomic.atomic_path"
            )
        else:
            failing.unlink(missing_ok=True)  # this exporter never runs the model: nothing to check
    return facts


# --- pruners ---------------------------------------------------------------------------------


def check_pruner(
    pruner: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    model: nn.Module | None = None,
    example_inputs: torch.Tensor | None = None,
    ratio: float = 0.5,
) -> dict[str, int]:
    """Check the pruning-method contract: an importance criterion that really prunes.

    The built object must have ``needs_gradients`` (a bool) and ``importance()`` returning a
    ``torch_pruning.importance.Importance``. The criterion must score every channel group of
    the model with a finite 1-D tensor of one score per channel, without changing the weights;
    pruning with it through :func:`compressor.model.pruning.prune_model` at ``ratio`` (the classifier
    kept whole) must reduce the parameters and leave a model that still runs.

    Args:
        pruner: A name, a :class:`~compressor.records.PrunerPlugin`, a factory or a built object.
        options: The pruner options (validated by the record's schema).
        model: The model to prune, in place (default: :func:`tiny_cnn`).
        example_inputs: A small batch the model runs on (default: 8 random inputs).
        ratio: Fraction of channels to remove per layer.

    Returns:
        ``{"params_before": ..., "params_after": ...}``.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    import torch_pruning as tp

    from compressor.model.pruning import PruneSettings, prune_model

    built, record = _build("pruner", pruner, options, PrunerPlugin, "importance")
    label = f"pruner {record.name!r}" if record else f"pruner {type(built).__name__}"
    needs_gradients = getattr(built, "needs_gradients", None)
    assert isinstance(needs_gradients, bool), (
        f"{label} must have a class attribute needs_gradients: bool, got {needs_gradients!r}"
    )
    model = model if model is not None else tiny_cnn()
    if example_inputs is None:
        example_inputs = torch.randn(
            8, *TINY_INPUT_SHAPE, generator=torch.Generator().manual_seed(0)
        )
    classifier = _classifier(model)
    assert classifier is not None, "check_pruner needs a model whose last Linear is the classifier"
    with torch.no_grad():
        num_classes = model.eval()(example_inputs).shape[-1]

    check_model = getattr(built, "check_model", None)
    if check_model is not None:
        problem = check_model(model)
        assert problem is None or isinstance(problem, str), (
            f"{label}: check_model() must return None or a message, got {type(problem).__name__}"
        )
        assert problem is None, f"{label} cannot rank {type(model).__name__}: {problem}"

    def accumulate_gradients(m: nn.Module) -> None:
        # What the prune stage does for Taylor-like criteria: gradients of a loss on a batch.
        m.train()
        targets = torch.arange(len(example_inputs)) % num_classes
        nn.functional.cross_entropy(m(example_inputs), targets).backward()
        m.eval()

    gradient_fn = accumulate_gradients if needs_gradients else None
    importance = built.importance()
    assert isinstance(importance, tp.importance.Importance), (
        f"{label}: importance() must return a torch_pruning.importance.Importance (subclass "
        f"tp.importance.Importance and implement __call__(group)), got {type(importance).__name__}"
    )

    # Score every group the engine would rank, as it would, and check the shape of the scores.
    scored = copy.deepcopy(model)
    if gradient_fn is not None:
        gradient_fn(scored)
    graph = tp.DependencyGraph().build_dependency(scored, example_inputs=example_inputs[:2])
    state = copy.deepcopy(scored.state_dict())
    ignored = [m for m in scored.modules() if m is _classifier(scored)]
    groups = 0
    for group in graph.get_all_groups(
        ignored_layers=ignored, root_module_types=[nn.Conv2d, nn.Linear]
    ):
        scores = importance(group)
        if scores is None:  # torch-pruning's way to skip a group without weights
            continue
        groups += 1
        channels = len(group[0].idxs)
        assert isinstance(scores, torch.Tensor) and scores.dim() == 1 and len(scores) == channels, (
            f"{label}: importance(group) must return a 1-D tensor of {channels} scores (one per "
            f"channel of {group[0].dep.target.name}), got "
            f"{list(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__}"
        )
        assert torch.isfinite(scores).all(), (
            f"{label}: importance scores are not all finite: {scores}"
        )
    assert groups > 0, f"{label}: importance() scored none of the model's channel groups"
    assert all(torch.equal(state[k], v) for k, v in scored.state_dict().items()), (
        f"{label}: importance() changed the model's weights; it must only read them"
    )

    params_before = sum(p.numel() for p in model.parameters())
    try:
        prune_model(
            model,
            importance=built.importance(),
            example_inputs=example_inputs[:2],
            ignored_layers=[classifier],
            settings=PruneSettings(ratio=ratio),
            gradient_fn=gradient_fn,
        )
    except Exception as exc:
        raise AssertionError(f"{label}: pruning failed: {type(exc).__name__}: {exc}") from exc
    params_after = sum(p.numel() for p in model.parameters())
    assert params_after < params_before, (
        f"{label} removed nothing at ratio {ratio}: {params_before} parameters before and after"
    )
    with torch.no_grad():
        try:
            out = model.eval()(example_inputs)
        except Exception as exc:
            raise AssertionError(
                f"{label}: the pruned model no longer runs: {type(exc).__name__}: {exc}"
            ) from exc
    assert out.shape == (len(example_inputs), num_classes), (
        f"{label}: the pruned model outputs {list(out.shape)}, expected "
        f"{[len(example_inputs), num_classes]} (the classifier must keep its outputs)"
    )
    assert torch.isfinite(out).all(), f"{label}: the pruned model outputs non-finite values"
    return {"params_before": params_before, "params_after": params_after}


# --- stages ----------------------------------------------------------------------------------


@dataclass
class StageCheckResult:
    """What a stage did in :func:`check_stage`.

    Attributes:
        run_dir: The run folder the stage wrote to.
        artifacts: Every artifact of the run: the inputs and what the stage published.
        published: The names the stage published.
        metrics: What the stage logged.
        context: The run context, for further assertions.
    """

    run_dir: Path
    artifacts: dict[str, Artifact]
    published: list[str]
    metrics: dict[str, Any]
    context: RunContext = field(repr=False)


def _artifact(slot: str, value: Any) -> Artifact:
    if isinstance(value, Artifact):
        return value
    if isinstance(value, nn.Module):
        return ModelArtifact(
            name=slot, model=value.eval(), spec={"name": "tiny", "options": {}}, producer="check"
        )
    raise AssertionError(
        f"input {slot!r}: give an Artifact or an nn.Module, got {type(value).__name__}"
    )


def _names(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def check_stage(
    stage: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, str | list[str]] | None = None,
    data: DataBundle | None = None,
    run_dir: str | Path | None = None,
    registry: Registry | None = None,
    name: str = "check",
) -> StageCheckResult:
    """Run a stage once in a real (tiny) run and check the stage contract.

    The options are validated and resolved as a recipe would (plugin references checked against
    the registry, the record's ``check`` run), the outputs named as a recipe would
    (``default_outputs``, else the stage name), and the stage is run through a real
    :class:`~compressor.context.StageContext`. It must publish every declared output name,
    leave the files it publishes in the run folder and no temporary files, and leave its input
    models unchanged.

    Args:
        stage: A registered name or a :class:`~compressor.records.StagePlugin` record.
        options: The stage's own recipe keys (validated by the record's schema).
        inputs: slot -> an :class:`~compressor.artifacts.Artifact`, an ``nn.Module`` (wrapped as
            a model artifact named after the slot), or a list of them for ``many`` slots.
            Required slots left out get a :func:`tiny_mlp` model artifact named after the slot.
        outputs: slot -> artifact name(s), as in a recipe.
        data: The run's dataset (default: :func:`tiny_data_bundle`).
        run_dir: The run folder (default: a new temporary folder).
        registry: Resolves plugin references (default: every installed plugin).
        name: The stage's name in the run.

    Returns:
        A :class:`StageCheckResult`.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    from compressor.context import RunContext, StageContext, StageInfo
    from compressor.errors import RecipeError
    from compressor.run.progress import Progress
    from compressor.recipe import Recipe, resolve_refs
    from compressor.plugin.registry import Registry

    registry = registry if registry is not None else Registry.load()
    record = registry.get("stage", stage) if isinstance(stage, str) else stage
    assert isinstance(record, StagePlugin), (
        f"check_stage needs a StagePlugin record or name, got {stage!r}"
    )
    label = f"stage {record.name!r}"
    parsed = _options(record, options)
    try:
        resolve_refs(parsed, registry, f"stages.{name}")
    except RecipeError as exc:
        raise AssertionError(f"{label}: options do not resolve: {exc}") from exc
    if record.check is not None:
        problems = record.check(parsed, registry)
        assert isinstance(problems, list), (
            f"{label}: check() must return a list of (field, message) pairs"
        )
        assert not problems, f"{label}: check() rejected the options: {problems}"

    data = data if data is not None else tiny_data_bundle()
    given = dict(inputs or {})
    for slot, role in record.inputs.items():
        if slot not in given and role.required:
            given[slot] = tiny_mlp(data.input_shape, data.num_classes)
    unknown = sorted(set(given) - set(record.inputs))
    assert not unknown, (
        f"{label} has no input slot {', '.join(unknown)}; slots: {', '.join(record.inputs)}"
    )
    artifacts: dict[str, Artifact] = {}
    input_names: dict[str, str | list[str]] = {}
    for slot, value in given.items():
        if record.inputs[slot].many:
            items = [
                _artifact(f"{slot}{i}" if i else slot, v)
                for i, v in enumerate(value if isinstance(value, list) else [value])
            ]
            input_names[slot] = [a.name for a in items]
        else:
            items = [_artifact(slot, value)]
            input_names[slot] = items[0].name
        artifacts.update({a.name: a for a in items})

    output_names: dict[str, str | list[str]] = dict(outputs or {})
    if record.default_outputs is not None:
        for slot, names in record.default_outputs(input_names, parsed, registry).items():
            output_names.setdefault(slot, names)
    for slot, role in record.outputs.items():
        if slot not in output_names and role.required and not role.many:
            output_names[slot] = name

    folder = (
        Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="compressor-check-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    recipe = Recipe.model_validate(
        {
            "version": 1,
            "name": name,
            "device": "cpu",
            "data": {"dataset": data.name, "batch_size": 16, "eval_batch_size": 64},
            "stages": [{"name": name, "type": record.name}],
        }
    )
    run = RunContext(
        recipe=recipe,
        registry=registry,
        run_dir=folder,
        device="cpu",
        seed=0,
        progress=Progress(enabled=False),
        artifacts=dict(artifacts),
        _data=data,
    )
    info = StageInfo(
        name=name,
        type=record.name,
        index=0,
        options=parsed,
        inputs=input_names,
        outputs=output_names,
    )
    states = {
        n: copy.deepcopy(a.model.state_dict())
        for n, a in artifacts.items()
        if isinstance(a, ModelArtifact) and isinstance(a.model, nn.Module)
    }

    built = record.build(parsed)
    assert hasattr(built, "run"), (
        f"{label}: the factory returned {type(built).__name__}, which has no run(ctx)"
    )
    try:
        built.run(StageContext(run, info))
    except Exception as exc:
        raise AssertionError(f"{label} failed: {type(exc).__name__}: {exc}") from exc

    declared = [n for v in output_names.values() for n in _names(v)]
    missing = [n for n in declared if n not in run.artifacts]
    assert not missing, f"{label} did not publish its declared output(s): {', '.join(missing)}"
    for artifact_name in declared:
        artifact = run.artifacts[artifact_name]
        if isinstance(artifact, FileArtifact):
            assert artifact.path.is_file(), (
                f"{label} published {artifact_name!r} but {artifact.path} does not exist"
            )
    temporary = sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")
    )
    assert not temporary, f"{label} left temporary files in the run folder: {', '.join(temporary)}"
    for artifact_name, state in states.items():
        current = artifacts[artifact_name].model.state_dict()
        changed = state.keys() != current.keys() or not all(
            torch.equal(state[k], current[k]) for k in state
        )
        assert not changed, (
            f"{label} modified its input model {artifact_name!r} in place; later stages read it "
            "too, so work on a copy (copy.deepcopy)"
        )
    try:
        json.dumps(run.metrics.get(name, {}), default=str)
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            f"{label} logged metrics that cannot be written to metrics.json: {exc}"
        ) from exc
    return StageCheckResult(
        run_dir=folder,
        artifacts=run.artifacts,
        published=declared,
        metrics=run.metrics.get(name, {}),
        context=run,
    )


# --- pytest plugin ---------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - the helpers work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def tiny_bundle() -> DataBundle:
        """A random 4-class dataset of digit-shaped inputs (see :func:`tiny_data_bundle`)."""
        return tiny_data_bundle()

    @pytest.fixture
    def tiny_model() -> nn.Module:
        """A fresh :func:`tiny_cnn` for the tiny bundle."""
        return tiny_cnn()

    @pytest.fixture(scope="session")
    def compressor_registry() -> Registry:
        """Every installed plugin, loaded through the ``compressor`` entry points."""
        from compressor.plugin.registry import Registry

        return Registry.load()
