"""Running ``compressor`` in-process for the CLI tests."""

from __future__ import annotations

from typing import Any

from compressor.cli import main


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """``compressor ARGV``: its exit code, standard output and standard error."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err
