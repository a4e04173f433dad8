"""docs/plugins stays true: every hook and record documented, code blocks valid, the tutorial equal to the example."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from compressor import hookspecs
from compressor.records import RECORD_TYPES, PluginRecord, Role

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins"
EXAMPLE = ROOT / "examples" / "compressor-plugin-example"
HOOKS_MD = (DOCS / "hooks.md").read_text(encoding="utf-8")
TUTORIAL_MD = (DOCS / "tutorial.md").read_text(encoding="utf-8")

HOOKSPECS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if name.startswith("compressor_") and inspect.isfunction(obj)
)
BLOCK = re.compile(r"(?:<!-- (file|excerpt): (\S+) -->\n)?```(\w*)\n(.*?)```", re.DOTALL)


def _blocks(text: str) -> list[tuple[str, str, str, str]]:
    return BLOCK.findall(text)


def test_there_are_hookspecs() -> None:
    assert {"compressor_register_losses", "compressor_before_stage"} <= set(HOOKSPECS)


@pytest.mark.parametrize("name", HOOKSPECS)
def test_every_hookspec_has_a_section_with_its_signature(name: str) -> None:
    assert f"### `{name}`" in HOOKS_MD, f"docs/plugins/hooks.md has no section for {name}"
    section = HOOKS_MD.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    params = list(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"def {name}(" in section, f"the {name} section does not show its signature"
    for param in params:
        assert f"{param}:" in section, f"the {name} signature in hooks.md lacks {param!r}"
    assert "@hookimpl" in section, f"the {name} section has no example"


@pytest.mark.parametrize("name", HOOKSPECS)
def test_every_hookspec_docstring_has_an_example(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert doc, f"{name} has no docstring"
    assert "Example" in doc and "@hookimpl" in doc and f"def {name}(" in doc, (
        f"the docstring of {name} needs an example implementation"
    )


@pytest.mark.parametrize(
    "record", [PluginRecord, *RECORD_TYPES.values(), Role], ids=lambda r: r.__name__
)
def test_every_record_and_field_is_documented(record: type) -> None:
    assert f"### `{record.__name__}" in HOOKS_MD, f"hooks.md has no section for {record.__name__}"
    section = HOOKS_MD.split(f"### `{record.__name__}", 1)[1].split("\n### ", 1)[0]
    own = [f.name for f in dataclasses.fields(record)]
    if record is not PluginRecord and record is not Role:
        own = [n for n in own if n not in {f.name for f in dataclasses.fields(PluginRecord)}]
    for name in own:
        assert f"`{name}`" in section, f"hooks.md does not document {record.__name__}.{name}"


def test_every_kind_has_a_factory_contract() -> None:
    for kind in RECORD_TYPES:
        assert f"\n### {kind}\n" in HOOKS_MD, f"hooks.md has no factory contract for {kind}"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_python_blocks_compile(page: str) -> None:
    for _, _, lang, code in _blocks((DOCS / page).read_text(encoding="utf-8")):
        if lang == "python" and not code.lstrip().startswith("@hookspec"):
            compile(code, f"{page} block", "exec")


def test_tutorial_code_is_the_example_code() -> None:
    marked = [(kind, path, code) for kind, path, _, code in _blocks(TUTORIAL_MD) if kind]
    files = {path for kind, path, _ in marked if kind == "file"}
    assert {
        "pyproject.toml",
        "recipe.yaml",
        "compressor_plugin_example/losses.py",
        "compressor_plugin_example/pruning.py",
        "compressor_plugin_example/model_card.py",
        "compressor_plugin_example/summary.py",
    } <= files
    for kind, path, code in marked:
        source = (EXAMPLE / path).read_text(encoding="utf-8")
        if kind == "file":
            assert code == source, f"tutorial.md's copy of {path} differs from the example's file"
        else:
            assert code.strip() in source, (
                f"tutorial.md quotes a part of {path} that is not in the file"
            )


def test_tutorial_covers_each_kind_with_install_recipe_and_test() -> None:
    for check in ("check_loss", "check_pruner", "check_exporter", "check_stage"):
        assert f"from compressor.testing import {check}" in TUTORIAL_MD
    assert "pip install -e" in TUTORIAL_MD and "[project.entry-points.compressor]" in TUTORIAL_MD
    for name in ("cosine", "normalized_l1", "model_card", "summary"):
        assert re.search(rf"name: {name}\b|type: {name}\b", TUTORIAL_MD), f"no recipe uses {name}"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_relative_links_resolve(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (DOCS / target).exists(), f"{page} links to missing {target}"


def test_readme_links_the_plugin_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/plugins/)" in readme or "](docs/plugins/README.md)" in readme
    assert "docs/plugins.md" not in readme


def _signature(function: object) -> str:
    """``name(a, b=1, *, c=None)``: how hooks.md writes a helper's signature."""
    parts: list[str] = []
    for param in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        if param.kind is param.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        parts.append(
            param.name if param.default is param.empty else f"{param.name}={param.default!r}"
        )
    return f"{function.__name__}({', '.join(parts)})"  # type: ignore[attr-defined]


def test_the_testing_helpers_signatures_are_the_real_ones() -> None:
    import compressor.testing

    section = HOOKS_MD.split("## `compressor.testing`", 1)[1]
    helpers = [
        getattr(compressor.testing, name)
        for name in compressor.testing.__all__
        if inspect.isfunction(getattr(compressor.testing, name))
    ]
    assert {h.__name__ for h in helpers} >= {"check_dataset", "run_tiny_recipe", "check_stage"}
    for helper in helpers:
        assert f"`{_signature(helper)}`" in section, (
            f"hooks.md's compressor.testing table does not show {_signature(helper)}"
        )


def test_the_report_keys_of_exporter_facts_are_documented() -> None:
    from compressor.report.markdown import EXPORTER_FACTS

    section = HOOKS_MD.split("\n### exporter\n", 1)[1].split("\n### ", 1)[0]
    for key in EXPORTER_FACTS:
        assert f"`{key}`" in section, f"hooks.md's exporter contract does not document {key!r}"
    assert "`context`" in section and "`input_shape`" in section and "`class_names`" in section


def test_the_run_tiny_recipe_example_runs(tmp_path) -> None:
    section = HOOKS_MD.split("## `compressor.testing`", 1)[1]
    (code,) = [
        c for _, _, lang, c in _blocks(section) if lang == "python" and "run_tiny_recipe" in c
    ]
    namespace: dict[str, object] = {}
    exec(compile(code, "hooks.md run_tiny_recipe example", "exec"), namespace)  # noqa: S102
    namespace["test_stage_timer"](tmp_path)  # type: ignore[operator]
