"""Shared fixtures: the real registry, tiny recipes on the shipped digits, fake installed plugins."""

from __future__ import annotations

import copy
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from compressor.plugin.registry import Registry


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, share the cores between the workers rather than oversubscribe them.

    Each worker process (and each process it starts, through ``OMP_NUM_THREADS``) gets
    ``cores // workers`` intra-op threads: two workers of two threads each on two cores spend
    their time in each other's spin-waits.
    """
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers:
        return
    import torch

    threads = max(1, (os.cpu_count() or 1) // int(workers))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


#: One one-epoch stage on the digits: a recipe whose run costs about a second.
CHEAP_RECIPE: dict[str, Any] = {
    "version": 1,
    "name": "cheap",
    "device": "cpu",
    "data": {"dataset": "digits"},
    "stages": [
        {
            "name": "teacher",
            "type": "train",
            "model": {"name": "seed_mlp", "options": {"hidden": [8]}},
            "epochs": 1,
        }
    ],
}

TINY_RECIPE: dict[str, Any] = {
    "version": 1,
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "data": {"dataset": "digits", "batch_size": 64},
    "stages": [
        {
            "name": "teacher",
            "type": "train",
            "model": {"name": "seed_cnn", "options": {"channels": [8, 16], "hidden": 32}},
            "epochs": 2,
            "optimizer": {"lr": 0.01},
        },
        {
            "name": "distill",
            "type": "distill",
            "inputs": {"teacher": "teacher"},
            "outputs": {"model": "student_distilled"},
            "model": {"name": "seed_mlp", "options": {"hidden": [32]}},
            "epochs": 2,
            "optimizer": {"lr": 0.01},
        },
        {
            "name": "prune",
            "type": "prune",
            "inputs": {"model": "student_distilled", "teacher": "teacher"},
            "outputs": {"model": "student"},
            "pruner": {"name": "magnitude"},
            "ratio": 0.5,
            "finetune": {"epochs": 1},
        },
        {"name": "export", "type": "export", "inputs": {"models": ["teacher", "student"]}},
        {
            "name": "benchmark",
            "type": "benchmark",
            "inputs": {"models": ["teacher.onnx", "student.onnx"]},
            "repeat": 5,
            "warmup": 1,
            "min_seconds": 0.0,
            "throughput_batch": 32,
        },
    ],
}


def teacher_student_recipe(
    name: str, *, exported: list[str], epochs: int = 2, seed: int = 0
) -> dict[str, Any]:
    """TINY_RECIPE's teacher and distill stages (the student published as ``student``), each
    trained ``epochs`` epochs, then an ``export`` stage for the ``exported`` models."""
    recipe = copy.deepcopy(TINY_RECIPE)
    teacher, distill = recipe["stages"][:2]
    teacher["epochs"] = distill["epochs"] = epochs
    distill["outputs"] = {"model": "student"}
    export = {"name": "export", "type": "export", "inputs": {"models": list(exported)}}
    return {**recipe, "name": name, "seed": seed, "stages": [teacher, distill, export]}


@pytest.fixture(autouse=True)
def isolated_stage_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own empty stage cache: no test reads another's (or the user's) results."""
    folder = tmp_path_factory.mktemp("stage-cache")
    monkeypatch.setenv("COMPRESSOR_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Every installed plugin, loaded through the `compressor` entry points."""
    return Registry.load()


@pytest.fixture
def tiny_recipe() -> dict[str, Any]:
    """A fresh copy of a full five-stage recipe that runs in seconds."""
    return copy.deepcopy(TINY_RECIPE)


@pytest.fixture
def write_recipe(tmp_path: Path):
    """Write a recipe mapping (or raw text) to a YAML file and return its path."""

    def write(recipe: dict[str, Any] | str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        text = recipe if isinstance(recipe, str) else yaml.safe_dump(recipe, sort_keys=False)
        path.write_text(text)
        return path

    return write


@pytest.fixture
def install_fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a plugin module through a fake dist-info, exactly as pip would expose it.

    Returns a function ``install(module_name, source, dist="demo-plugin", version="0.1",
    entry_name=None)``; the module becomes importable and its entry point appears in the
    `compressor` group.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(
        module_name: str,
        source: str,
        dist: str = "demo-plugin",
        version: str = "0.1",
        entry_name: str | None = None,
    ) -> Path:
        (site / f"{module_name}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(
            f"[compressor]\n{entry_name or module_name} = {module_name}\n"
        )
        return site

    yield install
    import sys

    for name in list(sys.modules):
        if name.startswith("fake_"):
            del sys.modules[name]
