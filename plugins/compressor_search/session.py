"""One process's part in a search: what every trial needs, built once.

The stage builds a :class:`SearchSession` for its own process; a worker joining the study
(:mod:`compressor_search.worker`) builds one from the study's record of the run. Both then run
the same trials (:mod:`compressor_search.trials`).

Latency on the target is measured by one designated process per target, so that training
jobs do not pollute timings: a worker started with ``role: latency`` announces itself in the
study (a heartbeat) and answers the other processes' requests; without one, the process on
the target's host that is not a pure trainer (``role: any``, the stage's own process) times
what it needs itself, between its own trials.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor import interrupt
from compressor.errors import StageFailure
from compressor_search.latency import TIMER_KEY, Latency, LatencyBook, time_files, timing_input

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from compressor.context import StageContext
    from compressor.data import DataBundle
    from compressor_search.metric import MetricInfo
    from compressor_search.options import SearchOptions
    from compressor_search.space import Family

#: Roles a process takes: trials and timing, trials only, timing only.
ROLES = ("any", "trials", "latency")
#: A designated latency worker whose heartbeat is older than this is gone.
HEARTBEAT_SECONDS = 15.0
#: How often a waiting process looks for an answer, in seconds.
POLL_SECONDS = 0.25


@dataclass
class SearchSession:
    """What the trials of one process share.

    Attributes:
        ctx: The stage context (data, device, registry, run folder).
        opts: The stage's options.
        families: The space's families.
        teacher: The trained teacher.
        teacher_spec: Its model reference.
        teacher_metric: Its metric on the validation split.
        metric: The run's metric.
        study: The optuna study.
        book: Where latencies are kept.
        exporter: The built exporter candidates are deployed with.
        screen: The screening data (:func:`compressor_search.screening.screening_data`).
        folder: The stage's folder in the run folder.
        worker: This process's name in the study (``lead`` for the stage's own process).
        role: ``any``, ``trials`` or ``latency``.
        host: The target's host (latency is measured there only).
        started: When this process's trials began (``time.monotonic``).
    """

    ctx: StageContext
    opts: SearchOptions
    families: list[Family]
    teacher: nn.Module
    teacher_spec: dict[str, Any]
    teacher_metric: float
    metric: MetricInfo
    study: optuna.Study
    book: LatencyBook
    exporter: Any
    screen: DataBundle
    folder: Path
    worker: str = "lead"
    role: str = "any"
    host: str = field(default_factory=platform.node)
    started: float = field(default_factory=time.monotonic)

    def family(self, label: str) -> Family:
        """The family called ``label``."""
        return next(f for f in self.families if f.label == label)

    def trial_seed(self, number: int) -> int:
        """The seed of trial ``number``: the same in every process that builds it."""
        return self.ctx.seed(7) * 7919 + number

    # -- latency ------------------------------------------------------------------------

    def _designated(self) -> str | None:
        """The live designated latency worker of the target, if any."""
        beat = self.study.user_attrs.get(f"{TIMER_KEY}:{self.book.target}")
        if beat and time.time() - float(beat.get("beat", 0)) < HEARTBEAT_SECONDS:
            return str(beat.get("worker"))
        return None

    def may_time(self) -> bool:
        """Whether this process times graphs itself: it is on the target's host, not a pure
        trainer, and no other process is the target's designated latency worker."""
        if self.role == "trials" or platform.node() != self.host:
            return False
        designated = self._designated()
        return designated is None or designated == self.worker

    def measure(self, path: Path) -> Latency:
        """Time one deployed file on this machine, beside the per-call floor."""
        budget = self.opts.budget
        x = timing_input(path, self.ctx, budget.batch)
        (latency,) = time_files([(path, x)], threads=budget.threads, timing=self.opts.timing)
        return latency

    def latency_of(self, digest: str, path: Path, trial: Any) -> tuple[Latency, str]:
        """The latency of the graph ``digest`` (the file ``path``) on the target.

        Returns:
            The latency and where it came from: ``cache`` (measured before, by any process),
            ``measured`` (timed now, here) or ``designated`` (timed by the target's designated
            latency worker on request).

        Raises:
            StageFailure: No process answered within ``timing.wait_seconds``.
        """
        found = self.book.get(digest)
        if found is not None:
            self.book.hits += 1
            return found, "cache"
        if self.may_time():
            latency = self.measure(path)
            self.book.put(digest, latency)
            self.book.measured += 1
            return latency, "measured"
        self.book.request(digest, dict(trial.params), trial.number)
        deadline = time.monotonic() + self.opts.timing.wait_seconds
        while time.monotonic() < deadline:
            interrupt.check(f"trial {trial.number}, waiting for its latency")
            time.sleep(POLL_SECONDS)
            found = self.book.get(digest)
            if found is not None:
                return found, "designated"
        raise StageFailure(
            f"no latency worker answered for target {self.book.target} within "
            f"{self.opts.timing.wait_seconds:g} s; start one with: compressor search --worker "
            "--role latency --storage URL on that machine"
        )
