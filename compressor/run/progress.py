"""Progress bars for long work (training epochs, benchmarks), drawn with rich.

Bars are drawn live on a terminal (and in Jupyter). When output goes to a file or a CI log, each
bar becomes one plain line, written when its work ends, with the step count, the time taken and
the last values shown (``teacher  228/228 in 6.4s  epoch 12/12  loss 0.006``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class Bar:
    """One progress bar; stages call :meth:`advance` as work is done."""

    def __init__(self, progress: RichProgress | None, task_id: Any) -> None:
        self._progress = progress
        self._task = task_id
        self.completed = 0
        self.postfix = ""

    def advance(self, steps: int = 1, **postfix: Any) -> None:
        """Move the bar ``steps`` forward and show ``postfix`` values (e.g. ``loss=0.31``)."""
        self.completed += steps
        if postfix:
            self.postfix = "  ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in postfix.items()
            )
        if self._progress is None:
            return
        if postfix:
            self._progress.update(self._task, advance=steps, postfix=self.postfix)
        else:
            self._progress.advance(self._task, steps)


class Progress:
    """Creates progress bars on one console.

    Args:
        console: Where to draw; defaults to standard error, so standard output stays clean.
        enabled: ``False`` draws nothing (``--quiet``).
    """

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled

    @contextmanager
    def bar(self, total: int, description: str) -> Iterator[Bar]:
        """A bar of ``total`` steps; it stays on screen when done, as a log line of the work."""
        if not self.enabled:
            yield Bar(None, None)
            return
        if not (self.console.is_terminal or self.console.is_jupyter):
            # Nothing redraws a log, and rich would squeeze the finished bar into the log's 80
            # columns until its counts read "228/…": one plain line says more.
            with self._log_line(total, description) as bar:
                yield bar
            return
        progress = RichProgress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[postfix]}"),
            console=self.console,
            transient=False,
        )
        with progress:
            task = progress.add_task(description, total=total, postfix="")
            yield Bar(progress, task)

    @contextmanager
    def _log_line(self, total: int, description: str) -> Iterator[Bar]:
        bar = Bar(None, None)
        start = time.perf_counter()
        try:
            yield bar
        finally:
            line = (
                f"{description:<14} {bar.completed}/{total} in {time.perf_counter() - start:.1f}s"
            )
            if bar.postfix:
                line += f"  {bar.postfix}"
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print a line on the progress console (unless disabled)."""
        if self.enabled:
            self.console.print(*objects, **kwargs)

    def warn(self, message: str) -> None:
        """Print a warning, even when progress output is disabled (``--quiet`` hides progress, not problems)."""
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
