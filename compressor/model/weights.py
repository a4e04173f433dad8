"""Weights files from anywhere: reading a ``state_dict`` safely, and fitting it to a model.

A user's weights come from their own training script, Lightning, DDP or ``torch.compile``:
the tensors may sit under ``state_dict`` or ``model`` in a container, and their keys may carry
a ``module.`` or ``_orig_mod.`` prefix. :func:`read_state_dict` finds the tensors and always
loads with ``torch.load(weights_only=True)`` (never a pickled class: a whole saved module is
refused, saying how to save its ``state_dict``). :func:`fit_state_dict` strips the prefixes,
adapts the first convolution to the data's channel count, drops the classifier when a new
head is asked for, and loads the rest, strictly or listing what was missing and unexpected.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compressor.errors import UsageError, one_line

#: Keys under which training scripts and frameworks keep the model's tensors, tried in order.
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network")
#: How deep containers are searched (Lightning: ``{"state_dict": {...}}``; some ``{"model": {"state_dict"...}}``).
CONTAINER_DEPTH = 3
#: Keys listed by name in an error message; the rest are counted.
SHOWN_KEYS = 4
#: Buffers old checkpoints lack and that nothing reads when absent.
OPTIONAL_SUFFIXES = (".num_batches_tracked",)

StateDict = dict[str, torch.Tensor]


@dataclass
class LoadReport:
    """What loading a weights file into a model did, for metrics.json and the console.

    Attributes:
        source: The file, or the weights name.
        loaded: Number of tensors loaded.
        missing: Model keys the weights did not have (kept as built).
        unexpected: Keys of the weights the model does not have (ignored).
        stripped: A prefix removed from every key (``module.``), if any.
        adapted: Tensors reshaped to fit (the first convolution's input channels).
        head: With ``head: replace``: the classifier's path and both class counts.
    """

    source: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    stripped: str = ""
    adapted: list[str] = field(default_factory=list)
    head: dict[str, Any] | None = None

    def describe(self) -> str:
        """One line: what was loaded, and the keys left missing or unexpected."""
        text = f"loaded {self.loaded} tensors from {self.source}"
        if self.missing:
            text += f"; missing (kept as built): {_listed(self.missing)}"
        if self.unexpected:
            text += f"; unexpected (ignored): {_listed(self.unexpected)}"
        return text

    def as_metrics(self) -> dict[str, Any]:
        """The report as plain values; empty fields left out."""
        values: dict[str, Any] = {"source": self.source, "loaded": self.loaded}
        for name in ("missing", "unexpected", "stripped", "adapted", "head"):
            value = getattr(self, name)
            if value:
                values[f"{name}_keys" if name in ("missing", "unexpected") else name] = value
        return values


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    return shown + (f" (+{len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else "")


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _unwrap(payload: Any, depth: int = 0) -> StateDict | None:
    """The tensors of ``payload``: itself, or under one of :data:`CONTAINER_KEYS`."""
    if _is_state_dict(payload):
        return dict(payload)
    if not isinstance(payload, dict) or depth >= CONTAINER_DEPTH:
        return None
    for key in CONTAINER_KEYS:
        if key in payload:
            found = _unwrap(payload[key], depth + 1)
            if found is not None:
                return found
    return None


def _torch_load(file: Path) -> Any:
    """``torch.load(weights_only=True)`` with one-line errors for the ways a file goes wrong."""
    try:
        with warnings.catch_warnings():
            # torch warns about pickle details of files it then refuses; the error says enough.
            warnings.simplefilter("ignore")
            return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message advises weights_only=False, i.e. running the file's code: never.
        raise UsageError(
            f"{file}: holds pickled Python objects (a whole saved nn.Module?), which compressor "
            "never unpickles; save the weights alone with "
            f"torch.save(model.state_dict(), {file.name!r}) and point weights: at that file"
        ) from None
    # The zip reader and the unpickler raise whatever they met: all mean a damaged file.
    except Exception as exc:  # noqa: BLE001
        raise UsageError(
            f"{file}: not a readable weights file, truncated or not written by torch.save "
            f"({one_line(exc, 160)})"
        ) from None


def _safetensors_load(file: Path) -> StateDict:
    try:
        from safetensors.torch import load_file
    except ModuleNotFoundError:
        raise UsageError(
            f"{file}: reading .safetensors files needs the safetensors package "
            "(pip install safetensors)"
        ) from None
    try:
        return dict(load_file(str(file), device="cpu"))
    except Exception as exc:  # noqa: BLE001 - a damaged file, whatever the reader raised
        raise UsageError(
            f"{file}: not a readable safetensors file ({one_line(exc, 160)})"
        ) from None


def read_state_dict(path: str | Path) -> StateDict:
    """The tensors of a weights file: a ``state_dict``, or one inside a container.

    Args:
        path: A file written by ``torch.save`` (``.pt``, ``.pth``, ``.ckpt``, ``.bin``) or a
            ``.safetensors`` file.

    Returns:
        Key -> tensor, on the CPU, keys as stored (prefixes are :func:`fit_state_dict`'s).

    Raises:
        UsageError: The file is missing, truncated, a pickled module or other Python objects,
            or holds no tensors where a ``state_dict`` is looked for.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"{file}: no such weights file")
    if file.suffix == ".safetensors":
        return _safetensors_load(file)
    payload = _torch_load(file)
    found = _unwrap(payload)
    if found is None:
        keys = sorted(map(str, payload))[:8] if isinstance(payload, dict) else []
        what = f"top-level keys: {', '.join(keys)}" if keys else f"a {type(payload).__name__}"
        raise UsageError(
            f"{file}: no state_dict found ({what}); expected a state_dict, or one under "
            f"{' or '.join(repr(k) for k in CONTAINER_KEYS[:3])}"
        )
    return found


def strip_prefixes(state: StateDict, expected: set[str]) -> tuple[StateDict, str]:
    """``state`` with the wrapper prefix removed that makes the most keys match ``expected``.

    Prefixes (one to three leading segments: ``module.``, ``module._orig_mod.``, or
    Lightning's ``model.``) are removed while that matches more keys.
    A key without the prefix is kept as it is (it will be unexpected).

    Returns:
        The renamed tensors and the prefix removed (``""`` for none).
    """
    removed = ""
    while True:
        best, best_prefix = sum(k in expected for k in state), ""
        # Up to three leading segments at once: module._orig_mod. matches nothing halfway.
        candidates = {
            ".".join(parts[:n]) + "."
            for parts in (k.split(".") for k in state)
            for n in range(1, min(len(parts), 4))
        }
        for prefix in sorted(candidates):
            hits = sum(k.removeprefix(prefix) in expected for k in state)
            if hits > best:
                best, best_prefix = hits, prefix
        if not best_prefix:
            return state, removed
        state = {k.removeprefix(best_prefix): v for k, v in state.items()}
        removed += best_prefix


def first_conv(model: nn.Module) -> str | None:
    """Path of the first ``Conv2d`` in registration order (the stem), or ``None``."""
    return next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def adapt_input_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A stem's ``(out, in, kh, kw)`` kernel for ``channels`` inputs, keeping its response.

    RGB weights summed over their input channels answer a grey image as the RGB network answers
    the same image in colour (``R = G = B``); for other counts the kernel is tiled over the
    inputs and scaled by ``given / channels``, as timm's ``adapt_input_conv`` does (for a
    multiple of the original count, the sum over inputs stays the same).
    """
    given = weight.shape[1]
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-channels // given)
    return weight.repeat(1, repeats, 1, 1)[:, :channels] * (given / channels)


def _adapt_stem(model: nn.Module, state: StateDict, own: StateDict, report: LoadReport) -> None:
    """The first convolution's kernel made to take the model's input channels, in ``state``."""
    stem = first_conv(model)
    key = f"{stem}.weight"
    if stem is None or key not in state or key not in own:
        return
    given, wanted = state[key], own[key]
    same_kernel = (given.shape[0], *given.shape[2:]) == (wanted.shape[0], *wanted.shape[2:])
    if given.dim() == 4 and given.shape[1] != wanted.shape[1] and same_kernel:
        state[key] = adapt_input_channels(given, wanted.shape[1])
        report.adapted.append(f"{key}: {given.shape[1]} -> {wanted.shape[1]} input channels")


def _check_fit(state: StateDict, own: StateDict, source: str) -> None:
    """Every tensor of ``state`` the model has is shaped as the model's, and one at least is."""
    mismatched = [
        f"{k} is {list(v.shape)} in the weights, {list(own[k].shape)} in the model"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched:
        raise UsageError(
            f"{source}: {len(mismatched)} tensor(s) do not fit the model: {_listed(mismatched)}; "
            "were the weights saved from another architecture, width or number of classes?"
        )
    if not any(k in own for k in state):
        raise UsageError(
            f"{source}: no key matches the model (the weights have {_listed(sorted(state))}; "
            f"the model has {_listed(list(own))}); were they saved from another architecture?"
        )


def fit_state_dict(
    model: nn.Module,
    state: StateDict,
    *,
    source: str,
    strict: bool = True,
    drop_prefix: str | None = None,
) -> LoadReport:
    """Load ``state`` into ``model`` in place, as the ``weights``/``strict``/``head`` fields ask.

    Args:
        model: The freshly built model.
        state: The weights' tensors (from :func:`read_state_dict` or a pretrained builder).
        source: The file or weights name, for messages and the report.
        strict: Every model key must be in ``state`` and the reverse.
        drop_prefix: The classifier's module path with ``head: replace``: its tensors in
            ``state`` are dropped and the model keeps its new one.

    Returns:
        What was loaded, missing, unexpected, stripped and adapted.

    Raises:
        UsageError: A tensor's shape differs from the model's (names the first few, both
            shapes), no key matches at all, or, when ``strict``, keys are missing or unexpected
            (names the first few and suggests ``strict: false``).
    """
    own = model.state_dict()
    state, stripped = strip_prefixes(state, set(own))
    report = LoadReport(source=source, stripped=stripped)
    dropped = f"{drop_prefix}." if drop_prefix is not None else None
    if dropped is not None:
        state = {k: v for k, v in state.items() if not k.startswith(dropped)}
    _adapt_stem(model, state, own, report)
    _check_fit(state, own, source)
    report.missing = [
        k
        for k in own
        if k not in state
        and not k.endswith(OPTIONAL_SUFFIXES)
        and not (dropped and k.startswith(dropped))
    ]
    report.unexpected = [k for k in state if k not in own]
    if strict and (report.missing or report.unexpected):
        parts = [f"missing keys {_listed(report.missing)}"] if report.missing else []
        parts += [f"unexpected keys {_listed(report.unexpected)}"] if report.unexpected else []
        raise UsageError(
            f"{source}: the weights do not match the model ({'; '.join(parts)}); set "
            "strict: false to load the keys that match"
        )
    matching = {k: v for k, v in state.items() if k in own}
    model.load_state_dict(matching, strict=False)
    report.loaded = len(matching)
    return report
