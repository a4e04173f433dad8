"""The pruning-method contract check: :func:`check_pruner`.

A pruning method provides a torch-pruning importance criterion; :func:`check_pruner` scores
every channel group of a tiny model with it, as the pruning engine would, then prunes the model
with it through :func:`compressor.model.pruning.prune_model` and runs the result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from compressor.records import PrunerPlugin
from compressor.testing.building import build_plugin, plugin_label
from compressor.testing.tiny import default_inputs, find_classifier, tiny_cnn

GradientFn = Callable[[nn.Module], None]


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
    pruning with it through :func:`compressor.model.pruning.prune_model` at ``ratio`` (the
    classifier kept whole) must reduce the parameters and leave a model that still runs.

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

    built, record = build_plugin("pruner", pruner, options, PrunerPlugin, "importance")
    label = plugin_label("pruner", built, record)
    needs_gradients = getattr(built, "needs_gradients", None)
    assert isinstance(needs_gradients, bool), (
        f"{label} must have a class attribute needs_gradients: bool, got {needs_gradients!r}"
    )
    model = model if model is not None else tiny_cnn()
    if example_inputs is None:
        example_inputs = default_inputs()
    classifier = find_classifier(model)
    assert classifier is not None, "check_pruner needs a model whose last Linear is the classifier"
    with torch.no_grad():
        num_classes = model.eval()(example_inputs).shape[-1]
    _check_model_accepted(built, model, label)

    gradient_fn = _gradient_fn(example_inputs, num_classes) if needs_gradients else None
    importance = built.importance()
    assert isinstance(importance, tp.importance.Importance), (
        f"{label}: importance() must return a torch_pruning.importance.Importance (subclass "
        f"tp.importance.Importance and implement __call__(group)), got {type(importance).__name__}"
    )
    _check_scores(importance, model, example_inputs, gradient_fn, label)
    return _check_pruning(
        built, model, classifier, example_inputs, num_classes, gradient_fn, ratio, label
    )


def _check_model_accepted(built: Any, model: nn.Module, label: str) -> None:
    """The pruner's own ``check_model`` (if it has one) must accept the model."""
    check_model = getattr(built, "check_model", None)
    if check_model is None:
        return
    problem = check_model(model)
    assert problem is None or isinstance(problem, str), (
        f"{label}: check_model() must return None or a message, got {type(problem).__name__}"
    )
    assert problem is None, f"{label} cannot rank {type(model).__name__}: {problem}"


def _gradient_fn(example_inputs: torch.Tensor, num_classes: int) -> GradientFn:
    """What the prune stage does for Taylor-like criteria: gradients of a loss on a batch."""

    def accumulate_gradients(m: nn.Module) -> None:
        m.train()
        targets = torch.arange(len(example_inputs)) % num_classes
        nn.functional.cross_entropy(m(example_inputs), targets).backward()
        m.eval()

    return accumulate_gradients


def _check_scores(
    importance: Any,
    model: nn.Module,
    example_inputs: torch.Tensor,
    gradient_fn: GradientFn | None,
    label: str,
) -> None:
    """Score every group the engine would rank, as it would, on a copy of the model.

    Each score must be a finite 1-D tensor of one score per channel, and scoring must leave the
    weights unchanged.
    """
    import torch_pruning as tp

    scored = copy.deepcopy(model)
    if gradient_fn is not None:
        gradient_fn(scored)
    graph = tp.DependencyGraph().build_dependency(scored, example_inputs=example_inputs[:2])
    state = copy.deepcopy(scored.state_dict())
    ignored = [m for m in scored.modules() if m is find_classifier(scored)]
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


def _check_pruning(
    built: Any,
    model: nn.Module,
    classifier: nn.Module,
    example_inputs: torch.Tensor,
    num_classes: int,
    gradient_fn: GradientFn | None,
    ratio: float,
    label: str,
) -> dict[str, int]:
    """Prune ``model`` in place with a fresh criterion; it must shrink and still run.

    The pruned model must still output ``num_classes`` finite logits per input.
    """
    from compressor.model.pruning import PruneSettings, prune_model

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
