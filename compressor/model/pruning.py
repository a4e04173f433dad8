"""The pruning engine: drives torch-pruning's dependency graph toward a ratio or a target.

Pruning-method plugins only supply an *importance criterion* (which channel groups matter
least); this module owns everything else, so every method gets the same targets, iterative
schedule, channel rounding, ignored layers and error messages:

- ``ratio``: remove this fraction of channels per layer (or globally);
- ``target_macs`` / ``target_params``: keep removing channels in small steps until the model
  has at most this fraction of its original MACs / parameters, or say what was reached;
- ``iterative_steps``: reach the goal in that many milestones, calling back between them
  (the prune stage fine-tunes there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from compressor.errors import StageFailure, UsageError

#: Steps between milestones when pruning toward a MACs or parameter target.
TARGET_STEPS_PER_MILESTONE = 25


@dataclass
class PruneSettings:
    """How far and how to prune.

    Attributes:
        ratio: Fraction of channels removed (per layer, or over all layers when global).
        target_macs: Prune until MACs are at most this fraction of the original.
        target_params: Prune until parameters are at most this fraction of the original.
        global_pruning: Rank channels across layers instead of within each layer.
        ratio_dict: Per-module ratios overriding ``ratio``.
        round_to: Keep channel counts multiples of this.
        iterative_steps: Number of milestones; ``between_steps`` runs after each but the last.
        max_ratio: The most any layer may lose when pruning toward a target.
    """

    ratio: float | None = 0.5
    target_macs: float | None = None
    target_params: float | None = None
    global_pruning: bool = False
    ratio_dict: dict[nn.Module, float] = field(default_factory=dict)
    round_to: int | None = None
    iterative_steps: int = 1
    max_ratio: float = 0.9

    @property
    def target(self) -> tuple[str, float] | None:
        """``("macs", 0.5)``, ``("params", 0.3)`` or ``None`` in ratio mode."""
        if self.target_macs is not None:
            return "macs", self.target_macs
        if self.target_params is not None:
            return "params", self.target_params
        return None


@dataclass
class PruneReport:
    """What pruning did: sizes before and after, and the steps taken."""

    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    steps: int
    milestones: list[dict[str, float]] = field(default_factory=list)

    @property
    def params_fraction(self) -> float:
        """Parameters kept, as a fraction of the original."""
        return self.params_after / max(self.params_before, 1)

    @property
    def macs_fraction(self) -> float:
        """MACs kept, as a fraction of the original."""
        return self.macs_after / max(self.macs_before, 1)


def measure(model: nn.Module, example_inputs: torch.Tensor) -> tuple[int, int]:
    """``(macs, params)`` of one forward pass of ``model`` on one example."""
    macs, params = tp.utils.count_ops_and_params(model, example_inputs[:1])
    return int(macs), int(params)


@contextmanager
def _name_failing_module(model: nn.Module) -> Iterator[None]:
    """Turn a tracing failure into an error naming the module that was running."""
    names = {module: name for name, module in model.named_modules()}
    stack: list[nn.Module] = []
    failed_in: list[nn.Module] = []

    def enter(module: nn.Module, _inputs: Any) -> None:
        stack.append(module)

    def leave(module: nn.Module, _inputs: Any, _output: Any) -> None:
        if stack:
            stack.pop()

    handles = [m.register_forward_pre_hook(enter) for m in model.modules()]
    handles += [m.register_forward_hook(leave) for m in model.modules()]
    try:
        yield
    except (UsageError, StageFailure):
        raise
    except Exception as exc:
        failed_in = stack[-1:] if stack else []
        where = (
            f"module {names.get(failed_in[0]) or '<root>'!r} ({type(failed_in[0]).__name__})"
            if failed_in
            else f"model {type(model).__name__}"
        )
        raise UsageError(
            f"torch-pruning cannot trace the dependency graph at {where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()


def _prunable_groups(pruner: tp.pruner.BasePruner) -> int:
    return sum(
        1
        for _ in pruner.DG.get_all_groups(
            ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types
        )
    )


def _schedule(settings: PruneSettings) -> tuple[int, int]:
    """``(milestones, torch-pruning steps)`` of the iterative schedule ``settings`` ask for.

    A ratio takes one step per milestone; a target :data:`TARGET_STEPS_PER_MILESTONE` small
    ones, the model being measured after each.
    """
    milestones = max(settings.iterative_steps, 1)
    steps = milestones * TARGET_STEPS_PER_MILESTONE if settings.target else milestones
    return milestones, steps


def _build_pruner(
    model: nn.Module,
    importance: Any,
    example_inputs: torch.Tensor,
    ignored_layers: Sequence[nn.Module],
    settings: PruneSettings,
) -> tp.pruner.BasePruner:
    """torch-pruning's pruner over ``model``'s dependency graph, traced on ``example_inputs``.

    Toward a target every layer may lose up to ``max_ratio``, in the steps of
    :func:`_schedule`; the target itself is checked by :func:`_step_to_milestones`.

    Raises:
        UsageError: ``model`` cannot be traced (names the module), or has no prunable layer.
    """
    _, steps = _schedule(settings)
    with _name_failing_module(model):
        pruner = tp.pruner.BasePruner(
            model,
            example_inputs,
            importance=importance,
            pruning_ratio=settings.max_ratio if settings.target else float(settings.ratio or 0.0),
            pruning_ratio_dict=dict(settings.ratio_dict) or None,
            global_pruning=settings.global_pruning,
            iterative_steps=steps,
            ignored_layers=list(ignored_layers),
            round_to=settings.round_to,
        )
    if _prunable_groups(pruner) == 0:
        raise UsageError(
            f"{type(model).__name__} has no prunable layer outside the ignored ones "
            f"({len(ignored_layers)} ignored, the classifier included)"
        )
    return pruner


def _step_to_milestones(
    model: nn.Module,
    pruner: tp.pruner.BasePruner,
    report: PruneReport,
    example_inputs: torch.Tensor,
    settings: PruneSettings,
    gradient_fn: Callable[[nn.Module], None] | None,
    between_steps: Callable[[int], None] | None,
) -> bool:
    """Take pruning steps until the last milestone is reached or the schedule runs out.

    ``report`` is updated after every step (sizes, step count) and milestone.

    Returns:
        Whether the last milestone was reached.
    """
    milestones, steps = _schedule(settings)
    target = settings.target
    milestone = 0
    for _ in range(steps):
        _prune_step(model, pruner, gradient_fn)
        report.steps += 1
        report.macs_after, report.params_after = measure(model, example_inputs)
        if target and _short_of_milestone(report, target, milestone + 1, milestones):
            continue
        report.milestones.append(
            {"params": report.params_after, "macs": report.macs_after, "step": report.steps}
        )
        milestone += 1
        if milestone == milestones:
            return True
        if between_steps is not None:
            between_steps(milestone)
    return False


def _prune_step(
    model: nn.Module, pruner: tp.pruner.BasePruner, gradient_fn: Callable[[nn.Module], None] | None
) -> None:
    """One torch-pruning step, on fresh gradients when the criterion needs them."""
    if gradient_fn is not None:
        model.zero_grad(set_to_none=True)
        gradient_fn(model)
    pruner.step()
    model.zero_grad(set_to_none=True)


def _kept(report: PruneReport, kind: str) -> float:
    """The fraction of the original ``kind`` (``macs`` or ``params``) the model has left."""
    return report.macs_fraction if kind == "macs" else report.params_fraction


def _short_of_milestone(
    report: PruneReport, target: tuple[str, float], milestone: int, milestones: int
) -> bool:
    """Whether the model is still larger than milestone ``milestone`` (1-based) aims at.

    Milestone ``milestone`` of ``milestones`` toward ``target`` aims at
    ``1 - (1 - goal) * milestone / milestones`` of the original size.
    """
    kind, goal = target
    aim = 1 - (1 - goal) * milestone / milestones
    return _kept(report, kind) > aim


def _target_missed(
    report: PruneReport, target: tuple[str, float], max_ratio: float
) -> StageFailure:
    """The error for a target the whole schedule missed: what was reached, and what to try."""
    kind, goal = target
    return StageFailure(
        f"target_{kind} {goal} cannot be met: pruning every prunable layer by up to "
        f"max_ratio {max_ratio} reached {_kept(report, kind):.3f} of the original {kind} "
        f"({report.params_after:,} parameters, {report.macs_after:,} MACs); raise "
        "max_ratio, lower the target's ambition, or prune fewer ignored layers"
    )


def prune_model(
    model: nn.Module,
    *,
    importance: Any,
    example_inputs: torch.Tensor,
    ignored_layers: Sequence[nn.Module],
    settings: PruneSettings,
    gradient_fn: Callable[[nn.Module], None] | None = None,
    between_steps: Callable[[int], None] | None = None,
) -> PruneReport:
    """Prune ``model`` in place.

    Args:
        model: The model; it must run on ``example_inputs``.
        importance: A torch-pruning importance criterion (from a pruner plugin).
        example_inputs: A small real batch, traced to build the dependency graph.
        ignored_layers: Modules whose output channels are never removed (the classifier).
        settings: Ratio or target, schedule, rounding.
        gradient_fn: Called before every pruning step to accumulate gradients on the model,
            for criteria that need them (Taylor).
        between_steps: Called with the milestone index after every milestone but the last.

    Raises:
        UsageError: The model has no prunable layer, or cannot be traced (names the module).
        StageFailure: A target cannot be met; the message says what was reached.
    """
    macs_before, params_before = measure(model, example_inputs)
    pruner = _build_pruner(model, importance, example_inputs, ignored_layers, settings)
    report = PruneReport(params_before, params_before, macs_before, macs_before, steps=0)
    reached = _step_to_milestones(
        model, pruner, report, example_inputs, settings, gradient_fn, between_steps
    )
    target = settings.target
    if not reached and target:
        raise _target_missed(report, target, settings.max_ratio)
    return report
