"""The root logger as a plain script or a fresh notebook has it, for tests of what compressor
leaves behind in it (pytest's own handlers are on it while a test runs), and what a piece of
code leaves behind in a fresh interpreter."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def bare_root_logger() -> Iterator[logging.Logger]:
    """The root logger with no handler, at WARNING, for the block; pytest's come back after.

    Use it inside the test's body: pytest adds its handlers when the test's call begins.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield root
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


class Collect(logging.Handler):
    """Keeps every record it gets."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


#: Where the snippets of :func:`state_after` run (the checkout's root, so ``tests`` imports).
ROOT = Path(__file__).resolve().parents[1]


def state_after(snippet: str) -> dict[str, Any]:
    """What ``snippet`` leaves behind in a fresh interpreter whose matplotlib backend is
    ``svg`` (as a notebook's is not Agg): whether pyplot was imported, the backend, and the
    root logger's level and number of handlers."""
    code = textwrap.dedent(snippet) + textwrap.dedent(
        """
        import json, logging, sys
        import matplotlib
        root = logging.getLogger()
        print(json.dumps({
            "pyplot": "matplotlib.pyplot" in sys.modules,
            "backend": matplotlib.get_backend(),
            "root": [root.level, len(root.handlers)],
        }))
        """
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return json.loads(out.stdout.splitlines()[-1])
