"""The live table of trials: one row per finished trial, redrawn as trials finish.

On a terminal it is a rich table kept on screen (the last :data:`ROWS` trials and the best
one within the budget so far); in a log, each trial is one plain line; with ``--quiet``,
nothing.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from optuna.trial import FrozenTrial, TrialState
from rich.live import Live
from rich.table import Table

from compressor_search.budget import show
from compressor_search.space import Candidate

if TYPE_CHECKING:
    from compressor.context import StageContext
    from compressor_search.metric import MetricInfo

#: Trials shown at once on a terminal.
ROWS = 12
COLUMNS = ("trial", "candidate", "size", "latency", "x floor", "rung", "score", "")


def trial_cells(trial: FrozenTrial, metric: MetricInfo) -> list[str]:
    """One trial as the table's cells (``—`` where nothing was measured)."""
    attrs = trial.user_attrs
    candidate = attrs.get("candidate")
    described = Candidate(**candidate).describe() if candidate else "—"
    figures = attrs.get("figures") or {}
    latency = figures.get("latency") or {}
    if trial.state == TrialState.FAIL:
        status = "interrupted" if attrs.get("interrupted") else f"failed: {attrs.get('error', '')}"
    elif attrs.get("rung") in ("analytic", "graph"):
        status = "over budget"
    else:
        status = "within costs"
    scored = attrs.get("rung") in ("zero_shot", "short")
    score = trial.values[1] if trial.values and scored else None
    return [
        str(trial.number),
        described,
        show("size_bytes", figures.get("size_bytes"), metric),
        show("latency_ms", latency.get("p50_ms"), metric),
        f"{latency['vs_floor']:.2f}" if "vs_floor" in latency else "—",
        str(attrs.get("rung", "—")),
        metric.show(score),
        status[:60],
    ]


class LiveTable:
    """The stage's display while trials run (a context manager).

    Args:
        ctx: The stage (its run's console, and whether progress is shown).
        metric: The run's metric.
        total: Trials the search runs (``None``: bounded by time).
    """

    def __init__(self, ctx: StageContext, metric: MetricInfo, total: int | None) -> None:
        progress = ctx.run.progress
        self.console = progress.console
        self.enabled = progress.enabled
        self.metric = metric
        self.total = total
        self.name = ctx.info.name
        self.rows: list[list[str]] = []
        self.best: tuple[float, list[str]] | None = None
        self.live: Live | None = None

    def __enter__(self) -> Self:
        if self.enabled and (self.console.is_terminal or self.console.is_jupyter):
            self.live = Live(self._table(), console=self.console, refresh_per_second=4)
            self.live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.stop()

    def _table(self) -> Table:
        done = f"{len(self.rows)}/{self.total}" if self.total else f"{len(self.rows)}"
        table = Table(title=f"{self.name}: trials {done}", title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("candidate", "") else "right")
        for row in self.rows[-ROWS:]:
            table.add_row(*row)
        if self.best is not None:
            table.add_section()
            table.add_row(*self.best[1][:-1], "best within costs so far", style="bold")
        return table

    def add(self, trial: FrozenTrial) -> None:
        """Show a finished trial."""
        cells = trial_cells(trial, self.metric)
        self.rows.append(cells)
        score: Any = trial.values[1] if trial.values else None
        screened = trial.user_attrs.get("rung") == "short" and score is not None
        if screened and (self.best is None or self.metric.better(score, self.best[0])):
            self.best = (score, cells)
        if self.live is not None:
            self.live.update(self._table())
        elif self.enabled:
            line = f"{self.name} trial " + "  ".join(c for c in cells if c and c != "—")
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
