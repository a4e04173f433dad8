"""The registry: normalized names, duplicates naming both sources, unknown names with choices."""

from __future__ import annotations

import types

import pytest

from compressor import hookimpl
from compressor.errors import PluginError, UnknownNameError
from compressor.plugin.registry import Registry
from compressor.records import LossPlugin, normalize_name


def _plugin(*records: LossPlugin) -> types.SimpleNamespace:
    @hookimpl
    def compressor_register_losses() -> list[LossPlugin]:
        return list(records)

    return types.SimpleNamespace(compressor_register_losses=compressor_register_losses)


def test_every_builtin_kind_is_registered(registry: Registry) -> None:
    assert {"kd", "ce", "mse_logits"} <= set(registry.names("loss"))
    assert "magnitude" in registry.names("pruner")
    assert "onnx" in registry.names("exporter")
    assert {"digits", "mnist"} <= set(registry.names("dataset"))
    assert {"seed_cnn", "seed_mlp", "torchvision", "import"} <= set(registry.names("model"))
    assert {"train", "distill", "prune", "export", "benchmark"} <= set(registry.names("stage"))
    for record in registry.records("loss"):
        assert record.source.startswith("compressor_losses (compressor ")


def test_names_are_normalized(registry: Registry) -> None:
    assert normalize_name(" MSE-Logits ") == "mse_logits"
    assert registry.get("loss", "MSE-Logits").name == "mse_logits"


def test_duplicate_name_names_both_sources() -> None:
    shadow = _plugin(LossPlugin(name="KD", factory="x:y"))
    with pytest.raises(PluginError) as excinfo:
        Registry.load(extra_plugins=[("shadow_kd", shadow)])
    message = str(excinfo.value)
    assert (
        "'kd'" in message and "shadow_kd" in message and "compressor_losses (compressor" in message
    )


def test_unknown_name_lists_choices_and_suggests(registry: Registry) -> None:
    with pytest.raises(UnknownNameError) as excinfo:
        registry.get("loss", "kdd")
    message = str(excinfo.value)
    assert "unknown loss 'kdd'" in message
    assert "did you mean 'kd'" in message
    assert "at, ce, dist, dkd, fitnet, kd, mse_logits, pkt, rkd, sp" in message


def test_wrong_record_type_is_reported() -> None:
    from compressor.records import PrunerPlugin

    @hookimpl
    def compressor_register_losses():  # returns a pruner record from the loss hook
        return [PrunerPlugin(name="oops", factory="x:y")]

    registry = Registry.load(
        extra_plugins=[
            ("wrong", types.SimpleNamespace(compressor_register_losses=compressor_register_losses))
        ]
    )
    assert "expected LossPlugin" in registry.pm.infos["wrong"].error
    assert not registry.has("loss", "oops")
