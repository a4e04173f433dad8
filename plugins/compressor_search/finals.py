"""The finalists: the top of the Pareto front, trained in full, deployed, judged on the target.

Finalists are the screened candidates on the Pareto front of (latency p50, screening score),
best score first, then the next best; when no candidate met the cost constraints, the closest
ones (smallest total violation), so an unmeetable budget still gets a verdict with figures.
Each finalist gets its full distillation (its ``epochs``; the recipe's augmentation), is
exported and quantized as its knob says, and is scored in onnxruntime on the whole validation
split. Then every finalist's deployed file is timed in the same interleaved rounds; the winner
is the best-scoring finalist whose slowest round meets the latency budget and that meets every
other constraint. The test split scores the winner alone.

A finished finalist is recorded in the study with its files, so a resumed search does not
train it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from torch import nn

from compressor import interrupt
from compressor_search.budget import Figures, meets, shortfall, standing
from compressor_search.build import build_candidate
from compressor_search.graph import deploy, graph_hash
from compressor_search.latency import Latency, time_files, timing_input
from compressor_search.metric import MetricInfo, score_model
from compressor_search.pareto import pareto_front
from compressor_search.screening import distill, recalibrate_batchnorm
from compressor_search.session import SearchSession
from compressor_search.space import Candidate
from compressor_search.study import constraints_of
from compressor_search.trials import CANDIDATE, FIGURES, RUNG

#: The study attribute prefix of a finished finalist.
FINAL_KEY = "final"
#: The stage folder's sub-folder of finalists' checkpoints and files.
FINALISTS_DIR = "finalists"


@dataclass
class Final:
    """One finalist after its full training.

    Attributes:
        number: Its trial.
        record: What was measured (see :func:`train_finalist`), JSON-ready.
        latency: Its deployed file on the target, timed beside the other finalists.
        standing: Per constraint, how close it came (:func:`compressor_search.budget.standing`).
    """

    number: int
    record: dict[str, Any]
    latency: Latency | None = None
    standing: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def metric(self) -> float:
        """The deployed file's metric on the validation split (onnxruntime)."""
        return float(self.record["val_metric"])

    @property
    def deployed(self) -> Path:
        """The deployed file."""
        return Path(self.record["deployed"])


def _latency(trial: FrozenTrial) -> float:
    """A trial's p50 on the target; infinite for one stopped before it was timed."""
    latency = trial.user_attrs[FIGURES].get("latency")
    return float(latency["p50_ms"]) if latency else float("inf")


def select_finalists(
    study: optuna.Study, metric: MetricInfo, count: int
) -> tuple[list[FrozenTrial], bool]:
    """The trials that get full training, and whether they met the cost constraints.

    Returns:
        Up to ``count`` trials; ``True`` when they are screened candidates within the costs,
        ``False`` when none was and these are the closest ones.
    """
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if FIGURES in t.user_attrs
    ]
    within = [t for t in complete if max(constraints_of(t)) <= 0.0]
    screened = [t for t in within if t.user_attrs.get(RUNG) == "short"] or within
    if not screened:
        closest = sorted(
            complete, key=lambda t: (shortfall(t.user_attrs[FIGURES]["standing"]), _latency(t))
        )
        return closest[:count], False
    sign = -1.0 if metric.higher_is_better else 1.0
    points = [(_latency(t), float(t.values[1])) for t in screened]
    front = [screened[i] for i in pareto_front(points, metric)]
    rest = [t for t in screened if t not in front]
    ranked = sorted(front, key=lambda t: sign * t.values[1]) + sorted(
        rest, key=lambda t: sign * t.values[1]
    )
    return ranked[:count], True


def train_finalist(session: SearchSession, trial: FrozenTrial, bar: Any = None) -> Final:
    """Train one finalist in full, deploy it and score the file on the validation split.

    The checkpoint, the deployed file(s) and the record go into the stage folder's
    ``finalists/``; the record also into the study, so a resume skips the finalist.
    """
    ctx, opts = session.ctx, session.opts
    key = f"{FINAL_KEY}:{trial.number}"
    done = session.study.user_attrs.get(key)
    if done and Path(done["deployed"]).is_file() and Path(done["checkpoint"]).is_file():
        return Final(trial.number, done)
    candidate = Candidate(**trial.user_attrs[CANDIDATE])
    family = session.family(candidate.family)
    seed = session.trial_seed(trial.number)
    built = build_candidate(
        ctx, family, candidate, session.teacher, session.teacher_spec, seed=seed
    )
    model: nn.Module = built.model
    folder = session.folder / FINALISTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if family.pruned:
        recalibrate_batchnorm(ctx, model, ctx.data, opts.screening.bn_batches)
    if candidate.epochs > 0:
        distill(
            ctx,
            opts,
            model,
            session.teacher,
            data=ctx.data,
            epochs=candidate.epochs,
            seed=seed,
            augment=opts.augment if opts.augment is not None else ctx.run.recipe.data.augment,
            checkpoint=folder / f"trial-{trial.number}.state.pt",
            bar=bar,
        )
        (folder / f"trial-{trial.number}.state.pt").unlink(missing_ok=True)
    interrupt.check(f"finalist {trial.number}, before its export")
    record = _deployed_record(session, trial.number, candidate, built, model, folder, seed)
    record["trial_params"] = dict(trial.params)
    session.study.set_user_attr(key, record)
    return Final(trial.number, record)


def _deployed_record(
    session: SearchSession,
    number: int,
    candidate: Candidate,
    built: Any,
    model: nn.Module,
    folder: Path,
    seed: int,
) -> dict[str, Any]:
    """Save, deploy and score a trained finalist; what the study and the metrics keep of it."""
    from compressor.model.checkpoint import save_model

    ctx = session.ctx
    data = ctx.data
    model = model.cpu().eval()
    checkpoint = save_model(
        model,
        built.spec,
        folder / f"trial-{number}.pt",
        input_shape=list(data.input_shape),
        num_classes=data.num_classes,
    )
    deployed = deploy(
        ctx,
        session.exporter,
        model,
        folder,
        name=f"trial-{number}",
        quantization=candidate.quantization,
        calibration_batches=session.opts.screening.calibration_batches,
        seed=seed,
    )
    return {
        "trial": number,
        "candidate": candidate.as_dict(),
        "spec": built.spec,
        "checkpoint": str(checkpoint),
        "deployed": str(deployed),
        "params": built.params,
        "macs": built.macs,
        "size_bytes": deployed.stat().st_size,
        "val_metric": score_model(ctx, deployed, data.val),
        "val_metric_torch": score_model(ctx, model.to(ctx.device), data.val),
    }


def _latencies(session: SearchSession, finals: list[Final]) -> list[Latency]:
    """The finalists' files on the target: timed together here when this process times, else
    by the target's designated latency worker (on request, from each trial's parameters)."""
    budget = session.opts.budget
    if session.may_time():
        files = [(f.deployed, timing_input(f.deployed, session.ctx, budget.batch)) for f in finals]
        # The decision: rounds four times longer than a trial's, so each round's median holds.
        return time_files(files, threads=budget.threads, timing=session.opts.timing, longer=4.0)
    found = []
    for final in finals:
        stub = SimpleNamespace(params=final.record["trial_params"], number=final.number)
        found.append(session.latency_of(graph_hash(final.deployed), final.deployed, stub)[0])
    return found


def judge(session: SearchSession, finals: list[Final]) -> Final | None:
    """Time the finalists' files and pick the winner (``None``: none meets the budget).
    Every finalist gets its latency and standing."""
    budget = session.opts.budget
    for final, latency in zip(finals, _latencies(session, finals), strict=True):
        final.latency = latency
        record = final.record
        figures = Figures(
            params=record["params"],
            macs=record["macs"],
            size_bytes=record["size_bytes"],
            latency=latency,
            metric=final.metric,
        )
        final.standing = standing(
            budget, figures, session.metric, session.teacher_metric, upper=True
        )
    meeting = [f for f in finals if meets(f.standing)]
    if not meeting:
        return None
    sign = -1.0 if session.metric.higher_is_better else 1.0
    return min(meeting, key=lambda f: (sign * f.metric, f.latency.high_ms if f.latency else 0.0))


def closest(finals: list[Final]) -> list[Final]:
    """The finalists ordered by how far they missed the budget, nearest first."""
    return sorted(finals, key=lambda f: shortfall(f.standing))
