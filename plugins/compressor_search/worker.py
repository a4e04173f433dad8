"""Workers joining a search: more processes on one study, and one designated latency worker.

A search whose stage sets ``storage:`` to an RDB URL (``sqlite:///...``, ``postgresql://...``)
or a shared ``.journal`` file records in its study what a worker needs: the resolved recipe,
the stage's name, the teacher's checkpoint and the latency target. A worker started with the
same storage loads them, builds the data and the teacher, and runs trials of the same study
until the stage moves on to its finalists (which the stage's own process trains alone)::

    compressor search --worker --storage sqlite:////shared/study.db              # trials
    compressor search --worker --storage sqlite:////shared/study.db --role latency  # timing

Roles: ``any`` (trials, and timing when on the target's host with no designated latency worker
there), ``trials`` (never times: training jobs do not pollute timings) and ``latency`` (only
times: it answers every process's requests for the target, so all latencies come from one
process on an otherwise quiet machine). The checkpoint of the teacher must be readable by the
worker (a shared file system), as must a journal file.
"""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from compressor.errors import UsageError, one_line
from compressor_search.answering import serve_latency
from compressor_search.session import ROLES
from compressor_search.study import SPEC


def storage_from(url: str) -> Any:
    """optuna storage for ``url``: an RDB URL, or the path of a journal file."""
    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    if "://" in url:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return RDBStorage(url)
        except (SQLAlchemyError, ImportError, ValueError) as error:
            raise UsageError(f"--storage {url}: cannot open it ({one_line(error, 200)})") from None
    path = Path(url).expanduser()
    if not path.is_file():
        raise UsageError(f"--storage {url}: no such journal file (nor an RDB URL with ://)")
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


def _study_name(storage: Any, given: str | None, url: str) -> str:
    """The study to join: ``given``, or the storage's only study."""
    import optuna

    names = optuna.study.get_all_study_names(storage)
    if given is not None:
        if given not in names:
            raise UsageError(
                f"--study {given}: no such study in {url}; studies: {', '.join(names) or 'none'}"
            )
        return given
    if len(names) != 1:
        raise UsageError(
            f"--storage {url} holds {len(names)} studies ({', '.join(names) or 'none'}); "
            "name one with --study"
        )
    return names[0]


def join(
    url: str,
    *,
    study: str | None = None,
    role: str = "any",
    progress: Any = None,
    idle_seconds: float | None = None,
) -> dict[str, Any]:
    """Join the search whose study lives at ``url``, as a worker of ``role``.

    Args:
        url: The study's storage (the stage's ``storage:``).
        study: The study's name (default: the storage's only one).
        role: ``any``, ``trials`` or ``latency``.
        progress: Where progress goes (default: standard error).
        idle_seconds: A latency worker stops after this long without a request.

    Returns:
        What this worker did: ``trials`` finished or ``timed`` graphs, and why it stopped.

    Raises:
        UsageError: No such storage or study, a study no compressor run started, a bad role.
    """
    import optuna

    from compressor import recipe
    from compressor.artifacts import ModelArtifact
    from compressor.context import RunContext, StageContext
    from compressor.model.checkpoint import load_model
    from compressor.plugin.registry import Registry
    from compressor.preflight import load_data
    from compressor.run.device import resolve_device
    from compressor.run.progress import Progress
    from compressor_search.stage import start_session
    from compressor_search.trials import run_trials

    if role not in ROLES:
        raise UsageError(f"--role {role}: valid choices: {', '.join(ROLES)}")
    storage = storage_from(url)
    name = _study_name(storage, study, url)
    spec = optuna.load_study(study_name=name, storage=storage).user_attrs.get(SPEC)
    if not spec:
        raise UsageError(f"study {name!r} in {url} was not started by a compressor search stage")
    registry = Registry.load()
    plan = recipe.resolve(spec["recipe"], registry)
    info = next(s for s in plan.stages if s.name == spec["stage"])
    progress = progress or Progress()
    data = load_data(plan, registry, progress=progress)
    worker = f"{platform.node()}:{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="compressor-worker-") as scratch:
        run = RunContext(
            recipe=plan.recipe,
            registry=registry,
            run_dir=Path(scratch),
            device=resolve_device(plan.recipe.device),
            seed=plan.recipe.seed,
            progress=progress,
            _data=data,
        )
        model, extra = load_model(spec["teacher"], registry)
        teacher = ModelArtifact(name="teacher", model=model, spec=extra["spec"])
        ctx = StageContext(run, info)
        session = start_session(
            ctx, info.options, teacher, worker=worker, role=role, storage=storage, study_name=name
        )
        if role == "latency":
            return {"timed": serve_latency(session, idle_seconds), "worker": worker}
        ran, reason = run_trials(session)
    return {"trials": ran, "stopped_by": reason, "worker": worker}
