"""Named pretrained weights (``weights: DEFAULT``): what a model plugin offers, found offline.

A model plugin whose builder has pretrained weights sets ``pretrained`` on its
:class:`~compressor.records.ModelPlugin` record: ``pretrained(options, name)`` returns a
:class:`PretrainedWeights`, or raises a one-line error listing the valid names. Fetching the
tensors reads the local cache (torch's hub cache for torchvision, the Hugging Face cache for
timm); it downloads only when the model entry says ``download: true``, and otherwise fails
with one line that says which file to put where, or to pass ``weights: PATH``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from compressor.errors import UsageError, one_line

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PretrainedWeights:
    """One set of named weights of a builder.

    Attributes:
        name: The resolved name (``IMAGENET1K_V1`` for ``DEFAULT``).
        label: The model and the name, for messages and metrics.
        num_classes: Classes of the weights' classifier, when known.
        preprocessing: How the weights' inputs were prepared: ``input_size`` ``[C, H, W]``,
            ``resize_size``, ``crop_pct``, ``interpolation``, ``mean``, ``std`` (0..1 scale).
        fetch: ``fetch(download)`` returns the ``state_dict``; with ``download`` false it
            reads the local cache only.
    """

    name: str
    label: str
    num_classes: int | None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    fetch: Callable[[bool], StateDict] = field(default=lambda _download: {}, repr=False)


def hub_checkpoint(url: str) -> Path:
    """Where torch's hub cache keeps the file of ``url`` (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def fetch_hub_file(url: str, what: str, download: bool) -> StateDict:
    """The ``state_dict`` at ``url``, from torch's hub cache, downloaded only when allowed.

    Args:
        url: The weights' download address (its file name is the cache's).
        what: The model and weights, for messages (``torchvision resnet18 IMAGENET1K_V1``).
        download: Whether a file missing from the cache may be downloaded.

    Raises:
        UsageError: Not in the cache and not allowed to download (says which file to put
            where), the download failed, or the cached file is damaged.
    """
    from compressor.model.weights import read_state_dict

    file = hub_checkpoint(url)
    if not file.is_file():
        if not download:
            raise UsageError(
                f"{what}: not in the local cache; put {file.name} (from {url}) at {file}, set "
                "download: true on the model to fetch it, or pass weights: PATH"
            )
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(file), progress=False)
        except Exception as exc:  # noqa: BLE001 - offline, refused, interrupted: one line
            raise UsageError(
                f"{what}: downloading {url} failed ({one_line(exc, 160)}); put the file at "
                f"{file}, or pass weights: PATH"
            ) from None
    return read_state_dict(file)
