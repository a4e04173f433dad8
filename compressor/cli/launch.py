"""``compressor run --nproc N``: the same command in N processes under torchrun.

torch is imported only when processes are started: parsing the command line stays light.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from compressor.errors import UsageError


def parse_nproc(value: str | None) -> int:
    """``--nproc``'s value as a process count (1 without it).

    Raises:
        UsageError: Not a whole number of 1 or more.
    """
    if value is None:
        return 1
    try:
        nproc = int(value)
    except ValueError:
        nproc = 0
    if nproc < 1:
        raise UsageError(f"--nproc {value!r}: must be a whole number of processes, 1 or more")
    return nproc


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` less its ``--nproc N`` / ``--nproc=N``: what each torchrun process runs."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``compressor ARGV`` in ``nproc`` processes under torchrun; return the exit code.

    torchrun runs in this process (``torch.distributed.run.run``) rather than as a child, so
    that a failed rank's own exit code (2 for bad input, 1 for a failed stage) comes back and
    the failure is reported in one line, after the rank's own error message.

    Args:
        nproc: Processes on this machine (at least 2).
        argv: The command line after ``compressor`` (``run RECIPE ...``), without ``--nproc``.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(
        ["--standalone", f"--nproc_per_node={nproc}", "--module", "compressor", *argv]
    )
    try:
        run(args)
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        code = failure.exitcode if failure.exitcode > 0 else 1
        print(
            f"error: rank {rank} of {nproc} failed with exit code {failure.exitcode} (its message is above)",
            file=sys.stderr,
        )
        return code
    return 0
