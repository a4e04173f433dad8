"""``python -m compressor_search --storage URL [--study NAME] [--role any|trials|latency]``:
join a running search as a worker (the same as ``compressor search --worker``)."""

from __future__ import annotations

import argparse
import json
import sys

from compressor.errors import CompressorError
from compressor_search.session import ROLES


def main(argv: list[str] | None = None) -> int:
    """Join the search; print what this worker did as JSON; errors as one line."""
    parser = argparse.ArgumentParser(prog="python -m compressor_search", description=__doc__)
    parser.add_argument("--storage", required=True, metavar="URL", help="the study's storage")
    parser.add_argument("--study", default=None, help="the study's name (default: the only one)")
    parser.add_argument("--role", default="any", choices=ROLES, help="what this worker does")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    from compressor import interrupt
    from compressor.run.progress import Progress
    from compressor_search.worker import join

    try:
        with interrupt.graceful_interrupts():
            done = join(
                args.storage,
                study=args.study,
                role=args.role,
                progress=Progress(enabled=not args.quiet),
            )
    except CompressorError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
