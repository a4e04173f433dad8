"""The ``compressor`` logger, and quietening other libraries for one call without changing
their logging for good.

compressor reports diagnostics (which plugins loaded, what a library said that is not worth the
user's attention) through :mod:`logging`, on the logger named ``compressor`` and its children.
What a command prints as its result (tables, ``valid recipe``, the run summary), its one-line
``error:``, and the warnings a run's progress display prints are output, not log records.

Conventions:

- compressor's modules and plugins alike log through ``get_logger(__name__)``, which puts every
  record under ``compressor`` (``compressor.plugin.manager``,
  ``compressor.compressor_stages.quantize_onnx``), so ``-v`` and ``--log-level`` cover plugins.
- Importing compressor adds no handler and sets no level: a notebook or a program that embeds
  compressor keeps its own logging configuration. Without one, Python prints WARNING and above
  on standard error.
- :func:`configured` is the command line's: one handler on ``compressor`` for one command.
- compressor never changes the root logger. A library that chats (onnxruntime's quantizer,
  torch.onnx) is quietened for the span of a call with :func:`quieter` or
  :func:`holding_back_root_records`, which undo exactly what they did.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

LOGGER_NAME = "compressor"

#: The logger every compressor record goes through (or through one of its children).
logger = logging.getLogger(LOGGER_NAME)

#: ``--log-level`` names -> levels.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def get_logger(name: str) -> logging.Logger:
    """The logger for a module or plugin: ``name`` under ``compressor``.

    Args:
        name: Usually ``__name__``. Names already under ``compressor`` are used as they are;
            others (a plugin's ``my_plugin.losses``) become ``compressor.my_plugin.losses``.

    Example:
        >>> get_logger("compressor_stages.quantize_onnx").name
        'compressor.compressor_stages.quantize_onnx'
    """
    if name == LOGGER_NAME or name.startswith(LOGGER_NAME + "."):
        return logging.getLogger(name)
    return logger.getChild(name)


def level_for(verbose: int = 0, log_level: str | None = None) -> int:
    """The level the command line asked for: ``--log-level`` if given, else by ``-v`` count.

    Args:
        verbose: How many ``-v``: 0 shows warnings, 1 adds INFO, 2 or more adds DEBUG.
        log_level: A key of :data:`LEVELS` (any case), or ``None``.

    Raises:
        ValueError: ``log_level`` is not a key of :data:`LEVELS`.
    """
    if log_level is not None:
        try:
            return LEVELS[log_level.lower()]
        except KeyError:
            raise ValueError(
                f"unknown log level {log_level!r}; valid choices: {', '.join(LEVELS)}"
            ) from None
    return (logging.WARNING, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG


class _CurrentStderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes, not when the handler was made:
    rich's live progress bars replace it to print above the bars, and tests capture it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must not break the command
            self.handleError(record)


class _LineFormatter(logging.Formatter):
    """``warning: message`` (as the CLI's ``error:`` lines), ``info compressor.x: message`` below
    WARNING, with ``[rank N]`` in a torchrun process other than rank 0."""

    def __init__(self) -> None:
        super().__init__("%(message)s")
        rank = os.environ.get("RANK", "0")
        self.rank = f"[rank {rank}] " if rank not in ("", "0") else ""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        where = "" if record.levelno >= logging.WARNING else f" {record.name}"
        return f"{record.levelname.lower()}{where}: {self.rank}{text}"


@contextlib.contextmanager
def configured(level: int) -> Iterator[logging.Handler]:
    """Show compressor's records at ``level`` and above on standard error, for the block.

    The command line wraps each command in this. The ``compressor`` logger gets one handler
    and stops propagating (the command, not the root logger, decides what reaches the user);
    its level, handlers and propagation are as they were after the block.

    Args:
        level: A :mod:`logging` level, e.g. from :func:`level_for`.

    Yields:
        The handler, for tests that want to look at it.
    """
    handler = _CurrentStderrHandler()
    handler.setFormatter(_LineFormatter())
    saved_level, saved_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


@contextlib.contextmanager
def quieter(names: Iterable[str], level: int = logging.ERROR) -> Iterator[None]:
    """Hide what the named loggers say below ``level``, for the block.

    Each logger that would show less severe records gets ``level``; after the block, each gets
    its own level back unless something set another one meanwhile (the library or the user:
    theirs stands). A logger already at ``level`` or above is left alone. Levels rather than
    filters, because a logger's filters do not see its children's records.

    Args:
        names: Logger names, e.g. ``("torch.onnx", "onnxscript")``; children follow them.
        level: The least severe level still shown.
    """
    raised = []
    for name in names:
        named = logging.getLogger(name)
        if named.getEffectiveLevel() < level:
            raised.append((named, named.level))
            named.setLevel(level)
    try:
        yield
    finally:
        for named, own_level in raised:
            if named.level == level:
                named.setLevel(own_level)


class _HoldBack(logging.Filter):
    """Drops the root logger's records from files under ``folder`` below ``below``, after
    logging each message at DEBUG on ``into`` (``-vv`` shows them)."""

    def __init__(self, folder: str, below: int, into: logging.Logger, label: str) -> None:
        super().__init__()
        self.folder, self.below, self.into, self.label = folder, below, into, label

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.below or not record.pathname.startswith(self.folder):
            return True
        self.into.debug("%s: %s", self.label, record.getMessage())
        return False


class _AsIfNoHandler(logging.Handler):
    """Stands in for "no handler" on a root logger that has none.

    ``logging.warning(...)`` calls ``basicConfig()``, adding a handler for good, when the root
    logger has no handler. This one keeps that from happening and does what Python does when
    nothing handles a record: hands it to ``logging.lastResort``.
    """

    def emit(self, record: logging.LogRecord) -> None:
        current: logging.Logger | None = (
            logging.getLogger() if record.name == "root" else logging.getLogger(record.name)
        )
        while current is not None:
            if any(handler is not self for handler in current.handlers):
                return  # another handler got it
            current = current.parent if current.propagate else None
        last = logging.lastResort
        if last is not None and record.levelno >= last.level:
            last.handle(record)


@contextlib.contextmanager
def holding_back_root_records(
    package: str, *, below: int = logging.ERROR, into: logging.Logger | None = None
) -> Iterator[None]:
    """Hold back what ``package`` logs through the root logger (``logging.warning(...)``).

    For the block, the root logger's records that come from ``package``'s files and are less
    severe than ``below`` are logged at DEBUG on ``into`` instead. The root logger's level and
    handlers are as they were after the block, and other records pass as before.

    Args:
        package: An importable package, e.g. ``onnxruntime.quantization``.
        below: Records at this level and above still reach the root logger's handlers.
        into: Where held-back messages go, at DEBUG (default: the ``compressor`` logger).
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    root = logging.getLogger()
    hold = [
        _HoldBack(str(Path(folder)) + os.sep, below, into or logger, package)
        for folder in locations
    ]
    stand_in = _AsIfNoHandler() if not root.handlers else None
    for item in hold:
        root.addFilter(item)
    if stand_in is not None:
        root.addHandler(stand_in)
    try:
        yield
    finally:
        for item in hold:
            root.removeFilter(item)
        if stand_in is not None:
            root.removeHandler(stand_in)
