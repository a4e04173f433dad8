"""``main``: parse the command line, run the command, turn errors into one line and an exit code.

Errors in the user's input end with one line and exit code 2; a stage that fails on valid input
exits with 1; Ctrl-C with 130. Tracebacks are shown only with ``--debug``. The command runs
with the ``compressor`` logger shown on standard error at the level ``-v``/``--log-level`` ask
for (:func:`compressor.logs.configured`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from compressor import logs
from compressor.cli.parser import build_parser, parse_command_line
from compressor.errors import CompressorError, UsageError


def _rank_of_this_process() -> int:
    """torchrun's ``RANK`` (0 outside torchrun), read without importing torch."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _rank_prefix(rank: int) -> str:
    """``[rank N] `` for messages of ranks other than 0, so the user knows whose error it is."""
    return f"[rank {rank}] " if rank else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``compressor`` console script; returns the exit code."""
    parser = build_parser()
    args = parse_command_line(parser, argv)
    # What `run --nproc N` hands each torchrun process, global options included.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 2
    with logs.configured(logs.level_for(args.verbose, args.log_level)):
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; errors become one line on standard error and an exit code."""
    try:
        code: int = args.handler(args)
        return code
    except CompressorError as error:
        if args.debug:
            raise
        rank = _rank_of_this_process()
        # Every torchrun process checks the same input: rank 0 alone reports bad input.
        if rank == 0 or not isinstance(error, UsageError):
            # One line, always: a message may quote recipe text with line breaks in it.
            print(
                f"error: {_rank_prefix(rank)}{' '.join(str(error).splitlines())}", file=sys.stderr
            )
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        first = str(error).splitlines()[0] if str(error) else ""
        print(
            f"error: {_rank_prefix(_rank_of_this_process())}{type(error).__name__}: {first} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
