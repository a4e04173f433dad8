"""Ctrl-C during a run: the first stops cleanly at the next safe point, the second at once.

A long training stage should not lose its work to one keystroke. While a run is going,
:func:`graceful_interrupts` replaces Python's SIGINT handler: the first Ctrl-C only sets a flag
that the training loop checks after every step (:func:`check`), so the run stops between two
steps, keeps the checkpoint of the last completed epoch and moves its folder to ``NAME.failed``,
ready for ``--resume``. The first Ctrl-C also puts Python's own handler back, so a second Ctrl-C
raises :class:`KeyboardInterrupt` wherever the program is; artifacts are written through
:mod:`compressor.atomic`, so even then no half-written file is left under its final name.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from compressor.errors import CompressorError

_requested = False


class Interrupted(CompressorError):
    """The user pressed Ctrl-C; the run stopped at a safe point. Exit code 130 (128 + SIGINT)."""

    exit_code = 130


def requested() -> bool:
    """Whether Ctrl-C was pressed since the run started."""
    return _requested


def request() -> None:
    """Ask the run to stop at the next safe point (what the first Ctrl-C does)."""
    global _requested
    _requested = True


def check(where: str) -> None:
    """Stop here if Ctrl-C was pressed.

    Args:
        where: Where the run is, for the message (``"epoch 3, step 12"``).

    Raises:
        Interrupted: Ctrl-C was pressed.
    """
    if _requested:
        raise Interrupted(f"interrupted at {where}")


@contextmanager
def graceful_interrupts() -> Iterator[None]:
    """Handle Ctrl-C as described in the module docstring for the duration of the block.

    Outside the main thread (where signal handlers cannot be set) the block runs unchanged.
    """
    global _requested
    _requested = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first_interrupt(signum: int, frame: object) -> None:
        request()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(
            "\nCtrl-C: stopping after the current step and keeping the last checkpoint "
            "(press Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested = False
