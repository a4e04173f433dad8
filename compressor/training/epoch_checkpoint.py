"""Per-epoch training checkpoints, so an interrupted stage resumes where it stopped.

After every epoch :func:`compressor.training.fit` saves everything the next epoch depends on:
the model, the adapters, the optimizer and the
learning-rate schedule, every random number generator (Python, NumPy, torch on the CPU and
CUDA, and the loop's own shuffling generator), the epoch and the history so far. Resuming
restores all of it, so the resumed run computes exactly what the uninterrupted one would
have, and reaches the same final metrics on the CPU.

The file is written atomically and read with ``torch.load(weights_only=True)``: tensors and
plain values only (NumPy's generator state is stored as a tensor for that reason).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor.errors import StageFailure

FORMAT = "compressor.training"
FORMAT_VERSION = 1


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loop": generator.get_state(),
    }


def _restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    import numpy as np

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["loop"])


@dataclass
class ResumedState:
    """What :meth:`EpochCheckpoint.restore` put back, for the loop to continue from."""

    epoch: int
    history: list[dict[str, float]]
    seen: int
    elapsed: float


class EpochCheckpoint:
    """The resumable state of one training loop, in one file.

    Args:
        path: Where the checkpoint lives (conventionally
            ``RUN_DIR/checkpoints/<stage>-<n>.pt``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def save(
        self,
        *,
        epoch: int,
        model: nn.Module,
        adapters: dict[int, nn.Module],
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        generator: torch.Generator,
        history: list[dict[str, float]],
        seen: int,
        elapsed: float,
    ) -> None:
        """Write the state after ``epoch`` completed, replacing the previous epoch's atomically."""
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "adapters": {str(i): a.state_dict() for i, a in adapters.items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": _rng_state(generator),
            "history": history,
            "seen": seen,
            "elapsed": elapsed,
        }
        with atomic_path(self.path) as tmp:
            torch.save(payload, tmp)

    def restore(
        self,
        *,
        model: nn.Module,
        adapters: dict[int, nn.Module],
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        generator: torch.Generator,
    ) -> ResumedState | None:
        """Load the saved state into the given objects; ``None`` when there is no checkpoint.

        Raises:
            StageFailure: The file exists but is truncated, corrupted or from another model.
        """
        if not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
            if not isinstance(payload, dict) or payload.get("format") != FORMAT:
                raise ValueError("not a compressor training checkpoint")
            # The model was rebuilt exactly as before the interruption (a pruned one pruned
            # again, deterministically), so its shapes match; a mismatch is an error below.
            model.load_state_dict(payload["model"])
            for key, adapter in adapters.items():
                adapter.load_state_dict(payload["adapters"][str(key)])
            optimizer.load_state_dict(payload["optimizer"])
            if scheduler is not None and payload["scheduler"] is not None:
                scheduler.load_state_dict(payload["scheduler"])
            _restore_rng(payload["rng"], generator)
        except Exception as exc:  # noqa: BLE001 - any failure means the file cannot be resumed from
            raise StageFailure(
                f"{self.path}: cannot resume from this checkpoint ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); delete it to restart the stage"
            ) from None
        return ResumedState(
            epoch=int(payload["epoch"]),
            history=list(payload["history"]),
            seen=int(payload["seen"]),
            elapsed=float(payload["elapsed"]),
        )
