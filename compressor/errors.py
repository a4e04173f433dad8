"""Errors that reach the user as one line, with an exit code.

``UsageError`` (exit code 2) means the input was wrong: a recipe field, a file path, a plugin
name. ``StageFailure`` (exit code 1) means the input was valid but the work failed, for
instance an exported model that disagrees with PyTorch. The CLI prints ``str(error)`` alone,
and the traceback only with ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class CompressorError(Exception):
    """Base class of every error compressor reports to the user."""

    exit_code = 1


class UsageError(CompressorError):
    """Bad input from the user: a recipe, an option, a path. Exit code 2."""

    exit_code = 2


def describe_value(value: Any, limit: int = 60) -> str:
    """Render a value for an error message, short and on one line."""
    text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(error: BaseException, limit: int = 300) -> str:
    """``error`` as ``Type: message`` on one line, shortened to ``limit`` characters."""
    text = " ".join(str(error).split())
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def format_choices(value: str, choices: Iterable[str]) -> str:
    """Say what the valid choices are, with the closest one first when there is one.

    Example:
        >>> format_choices("kdd", ["ce", "kd", "mse_logits"])
        "did you mean 'kd'? valid choices: ce, kd, mse_logits"
    """
    options = sorted(set(choices))
    if not options:
        return "there are no valid choices registered"
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    listed = "valid choices: " + ", ".join(options)
    return f"did you mean {close[0]!r}? {listed}" if close else listed


class RecipeError(UsageError):
    """A recipe field holds a bad value.

    Args:
        field: Dotted path of the field, e.g. ``stages[1](distill).losses[0].name``.
        message: What is wrong, e.g. ``unknown loss 'kdd'``.
        choices: When given, the valid values, listed in the message with the closest first.
        source: The recipe file, prefixed to the message when known.
    """

    def __init__(
        self,
        field: str,
        message: str,
        *,
        value: Any = None,
        choices: Iterable[str] | None = None,
        source: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.detail = message
        self.choices = list(choices) if choices is not None else None
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.field}: {self.detail}" if self.field else self.detail
        if self.choices is not None:
            text += "; " + format_choices(str(self.value), self.choices)
        return f"{self.source}: {text}" if self.source else text

    def with_source(self, source: str) -> RecipeError:
        """Return the same error, prefixed with the recipe file it came from."""
        return RecipeError(
            self.field, self.detail, value=self.value, choices=self.choices, source=source
        )


class UnknownNameError(UsageError):
    """A plugin name that no plugin registered; the message lists the valid choices.

    ``not_loaded`` names the plugins that failed to load or were blocked: the name may be one
    of theirs, and the message says so.
    """

    def __init__(
        self, kind: str, name: str, choices: Iterable[str], not_loaded: Iterable[str] = ()
    ) -> None:
        self.kind = kind
        self.name = name
        self.choices = sorted(choices)
        self.not_loaded = list(not_loaded)
        message = f"unknown {kind} {name!r}; {format_choices(name, self.choices)}"
        if self.not_loaded:
            message += f" (not loaded: {', '.join(self.not_loaded)})"
        super().__init__(message)


class PluginError(UsageError):
    """A plugin is broken, blocked, or conflicts with another plugin."""


class StageFailure(CompressorError):
    """A stage ran on valid input and failed (a parity check, a NaN loss, ...). Exit code 1."""


class WriteFailure(StageFailure):
    """A file could not be written: a full disk, a quota, a folder made read-only mid-run.

    The input was valid and the environment failed, hence exit code 1. The message names the
    file and the system's reason, e.g. ``cannot write runs/x/teacher.pt: No space left on
    device``.
    """
