"""The plugin manager: entry points (built-ins included), isolation, blocking, conflicts."""

from __future__ import annotations

import pytest

from compressor.errors import PluginError
from compressor.plugin.manager import build_plugin_manager
from compressor.plugin.registry import Registry

BUILTINS = {
    "compressor_losses",
    "compressor_pruning",
    "compressor_exporters",
    "compressor_datasets",
    "compressor_models",
    "compressor_stages",
}


def test_builtins_register_through_entry_points() -> None:
    pm = build_plugin_manager()
    assert BUILTINS <= set(pm.infos)
    for name in BUILTINS:
        info = pm.infos[name]
        assert info.distribution == "compressor"
        assert info.error is None
        assert info.hooks and all(h.startswith("compressor_") for h in info.hooks)


def test_blocked_plugin_is_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry.load(["compressor_losses"])
    assert registry.names("loss") == []
    assert registry.pm.infos["compressor_losses"].blocked
    monkeypatch.setenv("COMPRESSOR_DISABLE_PLUGINS", "compressor_pruning, compressor_exporters")
    registry = Registry.load()
    assert registry.names("pruner") == [] and registry.names("exporter") == []
    assert registry.names("loss")


def test_plugin_that_fails_to_import_is_reported_not_fatal(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_broken", "raise RuntimeError('boom at import')", dist="broken-dist", version="9.9"
    )
    registry = Registry.load()
    info = registry.pm.infos["fake_broken"]
    assert "boom at import" in info.error
    assert (info.distribution, info.version) == ("broken-dist", "9.9")
    assert "kd" in registry.names("loss")  # everything else still works
    with pytest.raises(Exception) as excinfo:
        registry.get("loss", "cosine")
    assert "broken-dist 9.9" in str(excinfo.value)


def test_plugin_whose_hook_raises_is_isolated(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_raises",
        """
        from compressor import hookimpl
        @hookimpl
        def compressor_register_losses():
            raise ValueError("bad registration")
        """,
    )
    registry = Registry.load()
    assert "bad registration" in registry.pm.infos["fake_raises"].error
    assert "kd" in registry.names("loss")


def test_unknown_hook_name_is_an_error(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_typo",
        """
        from compressor import hookimpl
        @hookimpl
        def compressor_register_loss():
            return []
        """,
    )
    with pytest.raises(PluginError, match="fake_typo.*unknown hook"):
        build_plugin_manager()


def test_two_distributions_with_one_entry_point_name(install_fake_plugin) -> None:
    install_fake_plugin("fake_a", "", dist="dist-a", entry_name="shared_name")
    install_fake_plugin("fake_b", "", dist="dist-b", entry_name="shared_name")
    with pytest.raises(PluginError, match="dist-a.*dist-b|dist-b.*dist-a"):
        build_plugin_manager()
