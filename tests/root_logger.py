"""The root logger as a plain script or a fresh notebook has it, for tests of what compressor
leaves behind in it (pytest's own handlers are on it while a test runs)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


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
