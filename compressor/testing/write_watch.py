"""Catching non-atomic writes: :class:`WriteWatch`, used by ``check_exporter``.

An exporter must write its file through a temporary path and rename it into place, so that a
failed export never leaves half a file at the destination. Opening the destination itself for
writing breaks that; an audit hook sees every Python-level ``open`` and reports such opens.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class WriteWatch:
    """Catches Python-level opens for writing of a watched path (a non-atomic write).

    An audit hook cannot be removed once added, so one is added on first use and consults the
    paths watched by the current thread.
    """

    _installed = False
    _local = threading.local()

    @classmethod
    @contextmanager
    def watching(cls, path: Path) -> Iterator[list[str]]:
        """Watch ``path`` for the duration of the block.

        Args:
            path: The file that must not be opened for writing.

        Yields:
            A list that collects the mode (or ``flags=...``) of every open of ``path`` for
            writing made by this thread inside the block.
        """
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True
        hits: list[str] = []
        cls._local.watch = (str(path.resolve()), hits)
        try:
            yield hits
        finally:
            cls._local.watch = None

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if event != "open":
            return
        watch = getattr(cls._local, "watch", None)
        if watch is None or not args or not isinstance(args[0], str | bytes | Path):
            return
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in mode for c in "wax+") or bool(flags & (os.O_WRONLY | os.O_RDWR))
        if not writes:
            return
        try:
            opened = str(Path(os.fsdecode(args[0])).resolve())
        except (OSError, ValueError):
            return
        if opened == watch[0]:
            watch[1].append(mode or f"flags={flags}")
