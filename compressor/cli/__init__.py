"""The ``compressor`` command line: ``run``, ``validate``, ``plugins``, ``new-plugin``,
``bench``, ``report``.

One module per command (``register`` adds its arguments, a handler runs it);
:mod:`compressor.cli.parser` assembles them and :mod:`compressor.cli.main` runs one, turning
errors into one line and an exit code. See docs/cli.md.
"""

from __future__ import annotations

from compressor.cli.main import main

__all__ = ["main"]
