"""The registry: normalized names, duplicates naming both sources, unknown names with choices."""

from __future__ import annotations

import types

import pytest

from compressor import hookimpl
from compressor.errors import PluginError, UnknownNameError
from compressor.plugin.registry import NameConflictError, Registry
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
    assert {"detection", "dense_kd", "pkd"} <= set(registry.names("loss"))
    assert {"classification", "detection"} <= set(registry.names("task"))
    for record in registry.records("loss"):
        detection = record.name in {"detection", "dense_kd", "pkd"}
        plugin = "compressor_detection" if detection else "compressor_losses"
        assert record.source.startswith(f"{plugin} (compressor ")


def test_names_are_normalized(registry: Registry) -> None:
    assert normalize_name(" MSE-Logits ") == "mse_logits"
    assert registry.get("loss", "MSE-Logits").name == "mse_logits"


def test_a_duplicate_name_is_a_conflict_only_where_it_is_used() -> None:
    shadow = _plugin(LossPlugin(name="KD", factory="x:y"), LossPlugin(name="own", factory="x:y"))
    registry = Registry.load(extra_plugins=[("shadow_kd", shadow)])
    with pytest.raises(NameConflictError) as excinfo:
        registry.get("loss", "kd")
    assert isinstance(excinfo.value, PluginError) and excinfo.value.exit_code == 2
    assert str(excinfo.value) == (
        "loss 'kd' is registered twice: by compressor_losses (compressor 0.1.0) and by "
        "shadow_kd (unknown unknown); uninstall or --disable-plugin one of them"
    )
    # Everything else, the other plugin's own names included, works.
    assert registry.get("loss", "ce").name == "ce" and registry.get("loss", "own").name == "own"
    assert registry.has("loss", "KD") and "kd" in registry.names("loss")
    assert "kd" not in [r.name for r in registry.records("loss")]
    (conflict,) = registry.conflicts()
    assert (conflict.kind, conflict.name) == ("loss", "kd")
    assert conflict.sources == (
        "compressor_losses (compressor 0.1.0)",
        "shadow_kd (unknown unknown)",
    )
    assert registry.registered_by("shadow_kd (unknown unknown)") == {"loss": ["kd", "own"]}
    assert "kd" in registry.registered_by("compressor_losses (compressor 0.1.0)")["loss"]


def test_a_name_claimed_three_times_names_all_three() -> None:
    extra = [(f"shadow_{i}", _plugin(LossPlugin(name="ce", factory="x:y"))) for i in (1, 2)]
    registry = Registry.load(extra_plugins=extra)
    with pytest.raises(
        NameConflictError,
        match="registered 3 times: by compressor_losses .* by shadow_1 .* and by shadow_2",
    ):
        registry.get("loss", "ce")


def test_why_not_loaded_says_why_by_name_or_label(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_broken", "raise ImportError('no torch here')", dist="broken-dist", version="1.2"
    )
    registry = Registry.load(["compressor_pruning"])
    reason = "failed to import fake_broken: ImportError: no torch here"
    assert registry.why_not_loaded("fake_broken") == reason
    assert registry.why_not_loaded("fake_broken (broken-dist 1.2)") == reason
    assert registry.why_not_loaded("compressor_pruning").startswith("blocked")
    assert registry.why_not_loaded("compressor_losses") is None
    assert registry.why_not_loaded("never_installed") == "not installed"
    assert registry.plugin("fake_broken").distribution == "broken-dist"


def test_unknown_name_lists_choices_and_suggests(registry: Registry) -> None:
    with pytest.raises(UnknownNameError) as excinfo:
        registry.get("loss", "kdd")
    message = str(excinfo.value)
    assert "unknown loss 'kdd'" in message
    assert "did you mean 'kd'" in message
    assert (
        "at, ce, dense_kd, detection, dist, dkd, fitnet, kd, mse_logits, pkd, pkt, rkd, sp"
        in message
    )


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
