"""The optuna study: where it lives, its sampler, its first points, and what a resume repairs.

By default the study is a journal file in the run folder (``NAME/study.journal``): a Ctrl-C
keeps it with the run, and ``--resume`` opens the same study, its finished trials and its
latency measurements included. ``storage:`` puts it in an RDB (``sqlite:///``,
``postgresql://``) or a journal file elsewhere, where other workers join it
(:mod:`compressor_search.worker`).

Two objectives: the latency p50 on the target (minimized) and the task's metric (maximized
where higher is better). The cost constraints go to the sampler as optuna constraints (NSGA-II
and TPE rank infeasible trials below feasible ones); random search ignores them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from compressor.errors import UsageError, one_line

if TYPE_CHECKING:
    from compressor_search.metric import MetricInfo
    from compressor_search.options import SearchOptions

#: The trial attribute holding its constraint values (at most 0: met).
CONSTRAINTS = "constraints"
#: Trial attributes: who ran it, and that it was cut short by Ctrl-C.
WORKER = "worker"
INTERRUPTED = "interrupted"
#: Study attributes: the run that owns the study, a retried trial, the phase it is in.
SPEC = "compressor"
RETRIED = "retried"
PHASE = "phase"


def constraints_of(trial: FrozenTrial) -> list[float]:
    """The constraint values a trial recorded (none recorded: met)."""
    return list(trial.user_attrs.get(CONSTRAINTS, [0.0]))


def storage_for(opts: SearchOptions, folder: Path, field: str = "storage") -> Any:
    """The study's storage: the stage's ``storage:``, or a journal file in ``folder``.

    Raises:
        UsageError: The database cannot be opened (names ``field``).
    """
    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    where = opts.storage
    if where is not None and "://" in where:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return RDBStorage(where)
        except (SQLAlchemyError, ImportError, ValueError) as error:
            raise UsageError(f"{field}: cannot open {where} ({one_line(error, 200)})") from None
    path = Path(where).expanduser() if where is not None else folder / "study.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
    return JournalStorage(backend)


def make_sampler(opts: SearchOptions, seed: int) -> optuna.samplers.BaseSampler:
    """The stage's sampler, seeded; NSGA-II and TPE read the constraints trials set
    (``Trial.set_constraint``)."""
    if opts.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    trials = opts.trials or 30
    if opts.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=True,  # families have different knobs: one model per group of them
            n_startup_trials=max(4, min(10, trials // 3)),
        )
    return optuna.samplers.NSGAIISampler(
        seed=seed,
        population_size=max(4, min(20, trials // 3)),
    )


def open_study(
    opts: SearchOptions,
    storage: Any,
    name: str,
    metric: MetricInfo,
    seed: int,
) -> optuna.Study:
    """Create the study, or load it when it exists (a resume, or a worker joining).

    The sampler's seed moves on by the number of trials already in the study, so a resumed
    search draws new points rather than the ones it drew before the interruption.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions: list[Literal["minimize", "maximize"]] = [
        "minimize",
        "maximize" if metric.higher_is_better else "minimize",
    ]
    study = optuna.create_study(
        storage=storage, study_name=name, directions=directions, load_if_exists=True
    )
    done = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(opts, seed + done)
    return study


def enqueue_seeds(study: optuna.Study, points: list[dict[str, Any]]) -> int:
    """Queue the known-good points once, when the study has no trial yet; returns how many."""
    if study.get_trials(deepcopy=False):
        return 0
    for point in points:
        study.enqueue_trial(point, skip_if_exists=True)
    return len(points)


def retry_interrupted(study: optuna.Study, owner: str) -> list[int]:
    """Queue again the points of trials that were cut short, once each.

    A trial stopped by Ctrl-C was told as failed with :data:`INTERRUPTED`; one left running by
    a process killed outright (a second Ctrl-C) is still running under ``owner``, its
    process gone: it is failed here first. Their points are queued again, so a resumed search
    finishes them; no finished trial is run again.

    Returns:
        The numbers of the trials whose points were queued.
    """
    retried = []
    for trial in study.get_trials(deepcopy=False):
        stale = trial.state == TrialState.RUNNING and trial.user_attrs.get(WORKER) == owner
        cut = trial.state == TrialState.FAIL and trial.user_attrs.get(INTERRUPTED)
        if not (stale or cut):
            continue
        if stale:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        key = f"{RETRIED}:{trial.number}"
        if key in study.user_attrs or not trial.params:
            continue
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        study.set_user_attr(key, True)
        retried.append(trial.number)
    return retried


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state: ``complete``, ``running``, ``waiting``, ``failed``."""
    found = {"complete": 0, "running": 0, "waiting": 0, "failed": 0}
    names = {
        TrialState.COMPLETE: "complete",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
        TrialState.FAIL: "failed",
    }
    for trial in study.get_trials(deepcopy=False):
        if trial.state in names:
            found[names[trial.state]] += 1
    return found
