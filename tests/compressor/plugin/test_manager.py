"""The plugin manager: entry points (built-ins included), isolation, blocking, conflicts, and
its typed hook methods."""

from __future__ import annotations

import types
from typing import Any

import pytest

from compressor import hookimpl
from compressor.context import StageInfo
from compressor.errors import PluginError, StageFailure
from compressor.plugin.manager import REGISTRATION_HOOKS, build_plugin_manager
from compressor.plugin.registry import Registry
from compressor.records import RECORD_TYPES, LossPlugin

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
    # The losses left come from the other built-in plugins (detection's), none from the blocked one.
    assert {r.source.split(" ")[0] for r in registry.records("loss")} == {"compressor_detection"}
    assert "kd" not in registry.names("loss")
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


def test_unknown_hook_name_breaks_that_plugin_alone(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_typo",
        """
        from compressor import hookimpl
        from compressor.records import LossPlugin
        @hookimpl
        def compressor_register_loss():
            return [LossPlugin(name="typo_loss", factory="x:y")]
        """,
        dist="typo-dist",
    )
    registry = Registry.load()
    error = registry.pm.infos["fake_typo"].error
    assert error.startswith(
        "unknown hook 'compressor_register_loss'; did you mean 'compressor_register_losses'?"
    )
    assert "kd" in registry.names("loss") and not registry.has("loss", "typo_loss")


def test_two_distributions_with_one_entry_point_name_are_both_loaded(install_fake_plugin) -> None:
    loss = """
        from compressor import hookimpl
        from compressor.records import LossPlugin
        @hookimpl
        def compressor_register_losses():
            return [LossPlugin(name="{name}", factory="x:y")]
        """
    install_fake_plugin("fake_a", loss.format(name="loss_a"), dist="dist-a", entry_name="shared")
    install_fake_plugin("fake_b", loss.format(name="loss_b"), dist="dist-b", entry_name="shared")
    registry = Registry.load()
    (conflict,) = registry.pm.conflicts
    assert (conflict.kind, conflict.name) == ("plugin", "shared")
    assert sorted(conflict.sources) == ["dist-a 0.1", "dist-b 0.1"]
    assert registry.get("loss", "loss_a").source == "shared (dist-a 0.1)"
    assert registry.get("loss", "loss_b").source == "shared (dist-b 0.1)"
    blocked = Registry.load(["shared"])
    assert not blocked.has("loss", "loss_a") and not blocked.has("loss", "loss_b")
    assert not blocked.pm.conflicts
    assert [i.blocked for i in blocked.pm.infos.values() if i.name == "shared"] == [True, True]


def test_two_entry_points_naming_one_module_load_it_once(install_fake_plugin) -> None:
    # A renamed distribution installed next to its old self: two names, one module.
    source = """
        from compressor import hookimpl
        from compressor.records import LossPlugin
        @hookimpl
        def compressor_register_losses():
            return [LossPlugin(name="renamed", factory="x:y")]
        """
    site = install_fake_plugin("fake_renamed", source, dist="old-name", entry_name="old_name")
    from tests.dists import write_dist_info

    write_dist_info(site, "new-name", "0.2", {"new_name": "fake_renamed"})
    registry = Registry.load()
    assert registry.get("loss", "renamed").name == "renamed"  # no conflict with itself
    infos = [registry.pm.infos[name] for name in ("old_name", "new_name")]
    (loaded,) = [i for i in infos if i.error is None]
    (twice,) = [i for i in infos if i.error is not None]
    assert twice.error == f"fake_renamed is already loaded as plugin {loaded.label}"


def test_a_misspelled_lifecycle_hook_says_which_one_was_meant(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_timer",
        """
        from compressor import hookimpl
        @hookimpl
        def compressor_before_stages(stage, context):
            pass
        """,
    )
    error = build_plugin_manager().infos["fake_timer"].error
    assert error.startswith(
        "unknown hook 'compressor_before_stages'; did you mean 'compressor_before_stage'? "
        "valid choices: compressor_after_stage, compressor_before_stage, "
    )
    assert error.count("unknown hook") == 1 and "<module" not in error


def test_a_wrong_argument_name_names_the_hook_and_its_arguments(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_args",
        """
        from compressor import hookimpl
        @hookimpl
        def compressor_before_stage(stag, context):
            pass
        @hookimpl
        def compressor_on_stage_error(stage, exception):
            pass
        """,
    )
    pm = build_plugin_manager()
    assert pm.infos["fake_args"].error == (
        "compressor_before_stage has no argument 'stag' (did you mean 'stage'?); its arguments "
        "are stage, context; compressor_on_stage_error has no argument 'exception'; its "
        "arguments are stage, context, error"
    )
    assert "fake_args" not in {
        impl.plugin_name for impl in pm.hook.compressor_before_stage.get_hookimpls()
    }


def test_an_extra_plugin_with_a_bad_hook_is_reported_like_an_installed_one() -> None:
    @hookimpl
    def compressor_after_stage(stage, context, secs):
        pass

    extra = types.SimpleNamespace(compressor_after_stage=compressor_after_stage)
    pm = build_plugin_manager(extra_plugins=[("extra", extra)])
    assert pm.infos["extra"].error.startswith(
        "compressor_after_stage has no argument 'secs' (did you mean 'seconds'?)"
    )
    assert not pm.has_plugin("extra")


STAGE = StageInfo(name="teacher", type="train", index=0, options=None, inputs={}, outputs={})


class LifecycleRecorder:
    """A plugin that records the lifecycle hooks it receives, with their arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def compressor_before_stage(self, stage, context) -> None:
        self.calls.append(("before", stage, context))

    @hookimpl
    def compressor_after_stage(self, stage, context, seconds) -> None:
        self.calls.append(("after", stage, context, seconds))

    @hookimpl
    def compressor_on_stage_error(self, stage, context, error) -> None:
        self.calls.append(("error", stage, context, error))


def test_each_lifecycle_hook_has_a_typed_method() -> None:
    recorder = LifecycleRecorder()
    pm = build_plugin_manager(extra_plugins=[("recorder", recorder)])
    context, error = object(), ValueError("boom")
    pm.before_stage(STAGE, context)
    pm.after_stage(STAGE, context, 2.5)
    pm.on_stage_error(STAGE, context, error)
    assert recorder.calls == [
        ("before", STAGE, context),
        ("after", STAGE, context, 2.5),
        ("error", STAGE, context, error),
    ]


def test_a_plugin_crashing_after_a_stage_is_named_with_its_distribution(
    install_fake_plugin,
) -> None:
    install_fake_plugin(
        "fake_timer",
        """
        from compressor import hookimpl
        @hookimpl
        def compressor_after_stage(stage, context, seconds):
            raise ZeroDivisionError("no clock")
        """,
        dist="timer-dist",
        version="3.1",
    )
    pm = build_plugin_manager()
    with pytest.raises(PluginError) as excinfo:
        pm.after_stage(STAGE, object(), 1.0)
    assert str(excinfo.value) == (
        "plugin fake_timer (timer-dist 3.1) failed in compressor_after_stage for stage "
        "'teacher': ZeroDivisionError: no clock; fix or uninstall it, or block it with "
        "--disable-plugin fake_timer"
    )
    assert isinstance(excinfo.value.__cause__, ZeroDivisionError)


def test_a_compressor_error_or_ctrl_c_in_a_lifecycle_hook_passes_through(
    install_fake_plugin,
) -> None:
    install_fake_plugin(
        "fake_strict",
        """
        from compressor import hookimpl
        from compressor.errors import StageFailure
        @hookimpl
        def compressor_before_stage(stage, context):
            raise StageFailure("the teacher is too small for this plugin")
        @hookimpl
        def compressor_on_stage_error(stage, context, error):
            raise KeyboardInterrupt
        """,
    )
    pm = build_plugin_manager()
    with pytest.raises(StageFailure, match="^the teacher is too small for this plugin$"):
        pm.before_stage(STAGE, object())
    with pytest.raises(KeyboardInterrupt):
        pm.on_stage_error(STAGE, object(), ValueError())


def test_registrations_are_one_per_plugin_to_be_called_on_their_own() -> None:
    record = LossPlugin(name="cosine", factory="x:y")

    @hookimpl
    def compressor_register_losses() -> list[LossPlugin]:
        return [record]

    extra = types.SimpleNamespace(compressor_register_losses=compressor_register_losses)
    pm = build_plugin_manager(extra_plugins=[("extra", extra)])
    registrations = {r.plugin: r for r in pm.registrations("loss")}
    assert {"compressor_losses", "extra"} <= set(registrations)
    assert {r.hook for r in registrations.values()} == {"compressor_register_losses"}
    assert registrations["extra"].call() == [record]
    assert pm.registrations("stage") and not [
        r for r in pm.registrations("stage") if r.hook != "compressor_register_stages"
    ]
    assert set(REGISTRATION_HOOKS) == set(RECORD_TYPES)


def test_registration_hooks_stay_importable_from_the_old_module() -> None:
    from compressor.registry import REGISTRATION_HOOKS as OLD_HOOKS
    from compressor.registry import Registry as OldRegistry

    assert OLD_HOOKS is REGISTRATION_HOOKS and OldRegistry is Registry
