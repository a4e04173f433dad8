"""``python -m compressor`` (also what ``torchrun -m compressor`` runs)."""

from __future__ import annotations

import sys

from compressor.cli import main

sys.exit(main())
