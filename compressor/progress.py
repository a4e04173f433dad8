"""Progress bars for long work (training epochs, benchmarks), drawn with rich.

Bars are drawn live on a terminal; when output goes to a file or CI log, rich prints each bar
once, finished, so logs stay readable.
"""

from __future__ import annotations

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

    def advance(self, steps: int = 1, **postfix: Any) -> None:
        """Move the bar ``steps`` forward and show ``postfix`` values (e.g. ``loss=0.31``)."""
        if self._progress is None:
            return
        text = "  ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in postfix.items()
        )
        if postfix:
            self._progress.update(self._task, advance=steps, postfix=text)
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

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print a line on the progress console (unless disabled)."""
        if self.enabled:
            self.console.print(*objects, **kwargs)

    def warn(self, message: str) -> None:
        """Print a warning, even when progress output is disabled (``--quiet`` hides progress, not problems)."""
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
