"""Progress output: live bars on a terminal, one readable line per bar in a log."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from compressor.run.progress import Progress


def _run_bar(console: Console) -> str:
    progress = Progress(console=console)
    with progress.bar(228, "teacher") as bar:
        for step in range(228):
            bar.advance(1, epoch=f"{step // 19 + 1}/12", loss=0.005957, val_acc=0.9963)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_log_gets_one_full_line_per_bar() -> None:
    # 80 columns is what rich assumes for a file; the finished bar used to be cut to "228/…".
    out = _run_bar(Console(file=io.StringIO(), force_terminal=False, width=80))
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("teacher        228/228 in ")
    assert lines[0].endswith("epoch 12/12  loss 0.005957  val_acc 0.9963")
    assert "…" not in out and "━" not in out


def test_a_terminal_gets_a_rich_bar() -> None:
    out = _run_bar(Console(file=io.StringIO(), force_terminal=True, width=200))
    assert "━" in out
    assert "228/228" in out


def test_the_log_line_is_written_when_the_work_fails() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=80)
    with pytest.raises(RuntimeError), Progress(console=console).bar(10, "distill") as bar:
        bar.advance(3, epoch="1/10")
        raise RuntimeError("boom")
    assert console.file.getvalue().startswith("distill        3/10 in ")  # type: ignore[attr-defined]


def test_disabled_progress_prints_nothing() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=80)
    with Progress(console=console, enabled=False).bar(5, "teacher") as bar:
        bar.advance(5, loss=0.1)
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
