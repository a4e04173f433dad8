"""The ``model_card`` exporter: a JSON description of a model, for a registry or a review.

A card holds what a reader needs before deploying a model: its architecture, parameter count,
input and output shapes, class names and test accuracy. It is written atomically through
:func:`compressor.atomic.atomic_path`, like every compressor artifact.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor_plugin_example.describe import describe_modules, parameter_count

#: Version of the card's layout; bump it when a key changes meaning.
CARD_FORMAT = 1


class ModelCardExporter:
    """Writes ``path`` as a JSON model card.

    Args:
        options: The validated ``ModelCardOptions``.
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def export(
        self, model: nn.Module, example_inputs: torch.Tensor, path: Path, **context: Any
    ) -> dict[str, Any]:
        """Describe ``model`` in a JSON file at ``path``.

        Args:
            model: The model; it is run once on one example to find the output shape.
            example_inputs: Real inputs; their shape past the batch axis is the input shape.
            path: The card to write, atomically.
            **context: Optional extras a caller may pass, such as the artifact's facts
                (``meta={"test_accuracy": ...}``) or the dataset (with ``class_names``).
                ``test_accuracy`` and ``class_names`` are taken from them when present;
                anything else is ignored.

        Returns:
            ``{"exporter": "model_card", "params": ..., "file_bytes": ...}``.
        """
        example = example_inputs[:1].detach().cpu()
        # Describe a CPU copy: the caller's model keeps its device, mode and hooks.
        cpu_model = copy.deepcopy(model).cpu().eval()
        modules = describe_modules(cpu_model, example, self.options.max_depth)
        with torch.no_grad():
            output = cpu_model(example)
        params = parameter_count(cpu_model)
        card = {
            "format": CARD_FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "description": self.options.description,
            "architecture": {"class": type(model).__qualname__, "modules": modules},
            "params": params,
            "trainable_params": sum(p.numel() for p in cpu_model.parameters() if p.requires_grad),
            "input_shape": list(example.shape[1:]),
            "output_shape": list(output.shape[1:]),
            "dtype": str(next(cpu_model.parameters(), torch.empty(0)).dtype).removeprefix("torch."),
            "class_names": list(_lookup(context, "class_names") or []),
            "test_accuracy": _lookup(context, "test_accuracy"),
        }
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        return {"exporter": "model_card", "params": params, "file_bytes": Path(path).stat().st_size}


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    """``key`` from the extras: given directly, or inside one of them (a mapping or object).

    The export stage may pass the artifact's facts (``meta``) or the dataset under any keyword;
    looking one level down finds ``test_accuracy`` and ``class_names`` in either.
    """
    if context.get(key) is not None:
        return context[key]
    for value in context.values():
        found = value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)
        if found is not None:
            return found
    return None
