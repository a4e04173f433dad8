"""A candidate's starting model: the trained teacher pruned, or a family built at a width.

The same code builds a candidate in a trial, in the designated latency worker (which rebuilds
the graph from the trial's parameters) and for a finalist's full training, so the three agree
on the architecture. Fresh families are built as a model entry with ``width`` would be
(:meth:`compressor.context.StageContext.build_model`), so ``winner.yaml`` rebuilds them the same
way in a ``distill`` stage; the teacher family is pruned over torch-pruning's dependency graph
(:func:`compressor.model.pruning.prune_model`) as a ``prune`` stage would.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from compressor.model.pruning import PruneSettings, measure, prune_model
from compressor.schemas import ModelRef
from compressor_search.metric import kept_whole
from compressor_search.space import Candidate, Family

if TYPE_CHECKING:
    from compressor.context import StageContext

#: Rows of the real batch pruning is traced on and MACs are counted with.
TRACE_ROWS = 2


@dataclass
class Built:
    """A candidate's model before any training, and how to rebuild it.

    Attributes:
        model: The model, on the CPU, in eval mode.
        spec: The model reference a checkpoint of it is saved with.
        params: Its parameters.
        macs: Its multiply-accumulates per sample.
    """

    model: nn.Module
    spec: dict[str, Any]
    params: int
    macs: int


def family_ref(family: Family, candidate: Candidate) -> ModelRef:
    """The model entry a fresh family's candidate is built from: depth applied, ``width`` set."""
    assert family.ref is not None
    # Depth 0 leaves no layer of the list: nothing to narrow.
    narrowed = candidate.width < 1.0 and candidate.depth != 0
    return ModelRef(
        name=family.ref.name,
        options=family.options_at(candidate.depth),
        width=candidate.width if narrowed else None,
    )


def _fresh(ctx: StageContext, family: Family, candidate: Candidate, field: str) -> nn.Module:
    """A fresh family's model at the candidate's width and depth, randomly initialized."""
    ref = family_ref(family, candidate)
    record = ctx.run.registry.get("model", ref.name)
    ref._parsed = record.options.model_validate(ref.options)
    model: nn.Module = ctx.build_model(ref, field=field)
    return model


def _pruned_teacher(
    ctx: StageContext, teacher: nn.Module, candidate: Candidate, example: torch.Tensor
) -> nn.Module:
    """A copy of the trained teacher with ``prune_ratio`` of its channels removed by the
    candidate's criterion, channel counts rounded to ``round_to``."""
    model = copy.deepcopy(teacher).cpu().eval()
    # The teacher is frozen while it teaches; its copy is traced through autograd and trained.
    model.requires_grad_(True)
    if candidate.prune_ratio <= 0.0:
        return model
    assert candidate.criterion is not None
    criterion = ctx.run.registry.get("pruner", candidate.criterion).build(
        ctx.run.registry.get("pruner", candidate.criterion).options()
    )
    problem = criterion.check_model(model) if hasattr(criterion, "check_model") else None
    if problem:
        from compressor.errors import UsageError

        raise UsageError(f"criterion {candidate.criterion}: {problem}")
    gradient_fn = _gradient_probe(ctx, teacher) if criterion.needs_gradients else None
    prune_model(
        model,
        importance=criterion.importance(),
        example_inputs=example,
        ignored_layers=kept_whole(ctx, model),
        settings=PruneSettings(
            ratio=candidate.prune_ratio,
            round_to=candidate.round_to if candidate.round_to > 1 else None,
        ),
        gradient_fn=gradient_fn,
    )
    return model.eval()


def _gradient_probe(ctx: StageContext, teacher: nn.Module) -> Any:
    """Gradients for criteria that rank channels by them (Taylor): the distance of the pruned
    copy's outputs to the teacher's on two training batches, so no label form is assumed."""
    from compressor.data import head

    inputs = head(ctx.data.train, 2 * ctx.batch_size).cpu()
    with torch.no_grad():
        # A copy: the teacher itself stays on the run's device for the stages after.
        target = copy.deepcopy(teacher).cpu().eval()(inputs)

    def accumulate(model: nn.Module) -> None:
        model.train()
        loss = torch.nn.functional.mse_loss(model(inputs), target)
        loss.backward()
        model.eval()

    return accumulate


def build_candidate(
    ctx: StageContext,
    family: Family,
    candidate: Candidate,
    teacher: nn.Module,
    teacher_spec: dict[str, Any],
    *,
    seed: int,
) -> Built:
    """The candidate's starting model and its analytic figures (parameters, MACs).

    Args:
        ctx: The search stage.
        family: The candidate's family.
        candidate: Its knobs.
        teacher: The trained teacher (copied, never changed).
        teacher_spec: The teacher's model reference (a pruned teacher is saved with it).
        seed: Seeds the random initialization, so every worker builds the same model.

    Raises:
        UsageError: The criterion cannot rank the teacher, or the model cannot be pruned.
    """
    from compressor.data import head

    example = head(ctx.data.val, TRACE_ROWS).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family.pruned:
            model = _pruned_teacher(ctx, teacher, candidate, example)
            spec = copy.deepcopy(teacher_spec)
        else:
            field = f"stages.{ctx.info.name}.space.families[{family.label}]"
            model = _fresh(ctx, family, candidate, field).cpu().eval()
            ref = family_ref(family, candidate)
            spec = {"name": ref.name, "options": dict(ref.options)}
    macs, params = measure(model, example)
    return Built(model=model, spec=spec, params=params, macs=macs)
