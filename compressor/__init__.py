"""compressor: recipe-driven knowledge distillation, pruning and ONNX deployment for PyTorch.

This module stays light on purpose: importing it (and listing plugins) must not import
torch, so that ``compressor plugins`` and ``compressor validate`` answer in well under a second.
"""

from __future__ import annotations

import pluggy

#: The one name shared by the hook markers, the plugin manager and the entry-point group.
NAME = "compressor"

#: Decorate plugin functions with ``@hookimpl`` to implement a hook from :mod:`compressor.hookspecs`.
hookimpl = pluggy.HookimplMarker(NAME)

__version__ = "0.1.0"

__all__ = ["NAME", "__version__", "hookimpl"]
