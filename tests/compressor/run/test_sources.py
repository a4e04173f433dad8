"""The code digests in cache keys: which packages a stage uses, and what changes a digest."""

from __future__ import annotations

import os
import types

from compressor import hookimpl, recipe
from compressor.plugin.registry import Registry
from compressor.records import LossPlugin
from compressor.run.sources import source_digests, stage_records, tree_digest


def _package(root, files: dict[str, str]):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_package_digest_follows_its_files_and_nothing_else(tmp_path) -> None:
    package = _package(tmp_path / "pkg", {"__init__.py": "", "helpers/maths.py": "X = 1\n"})
    first = tree_digest(package)
    _package(package, {"__pycache__/maths.cpython-311.pyc": "bytecode", ".maths.py.swp": "vim"})
    assert tree_digest(package) == first  # bytecode and editor files are not source
    (package / "helpers" / "maths.py").write_text("X = 100\n")
    edited = tree_digest(package)
    assert edited != first
    (package / "helpers" / "maths.py").rename(package / "helpers" / "other.py")
    assert tree_digest(package) not in (first, edited)  # names count, not only contents


def test_files_are_read_once_per_modification_time_and_size(tmp_path) -> None:
    module = _package(tmp_path, {"mod.py": "A = 1\n"}) / "mod.py"
    first = tree_digest(module)
    stat = module.stat()
    module.write_text("A = 2\n")  # same size; the time put back: taken as unchanged
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tree_digest(module) == first
    module.write_text("A = 3\n")
    assert tree_digest(module) != first


def test_each_stage_digests_compressor_its_plugin_and_the_plugins_it_names(
    registry, tiny_recipe
) -> None:
    plan = recipe.resolve(tiny_recipe, registry)
    resolved = plan.resolved()

    def packages(name: str) -> set[str]:
        info = next(s for s in plan.stages if s.name == name)
        records = stage_records(registry, info, plan.recipe.data.dataset)
        return set(source_digests(registry, records, resolved["stages"][info.index]))

    common = {"compressor", "compressor_stages", "compressor_datasets"}
    assert packages("distill") == common | {"compressor_losses", "compressor_models"}
    assert packages("prune") == common | {"compressor_losses", "compressor_pruning"}
    assert packages("export") == common | {"compressor_exporters"}


def test_an_installed_library_as_factory_is_keyed_by_version_not_digested(tiny_recipe) -> None:
    @hookimpl
    def compressor_register_losses() -> list[LossPlugin]:
        return [LossPlugin(name="torch_mse", factory="torch.nn:MSELoss", needs_teacher=False)]

    plugin = types.ModuleType("fake_torch_mse")
    plugin.compressor_register_losses = compressor_register_losses
    registry = Registry.load(extra_plugins=[("torch_mse", plugin)])
    records = [registry.get("loss", "torch_mse")]
    assert set(source_digests(registry, records)) == {"compressor"}  # not all of torch


def test_the_users_own_import_target_is_digested(tmp_path, monkeypatch, registry) -> None:
    _package(tmp_path / "fake_nets", {"__init__.py": "", "arch.py": "class Net: ...\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    options = {"model": {"name": "import", "options": {"target": "fake_nets.arch:Net"}}}
    first = source_digests(registry, [], options)
    assert set(first) == {"compressor", "fake_nets"}
    (tmp_path / "fake_nets" / "arch.py").write_text("class Net: pass  # edited\n")
    assert source_digests(registry, [], options)["fake_nets"] != first["fake_nets"]
    library = {"target": "torch.nn:Linear"}  # installed: its version is what counts
    assert set(source_digests(registry, [], library)) == {"compressor"}
