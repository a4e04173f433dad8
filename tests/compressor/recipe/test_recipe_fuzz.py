"""Hostile recipes: a thousand malformed ones (more with ``COMPRESSOR_FUZZ_SCALE``), each must end in one line and exit code 2.

Every generated recipe goes to ``compressor validate`` and ``compressor run`` in-process. Only
recipes that :func:`compressor.recipe.load` rejects are used: a recipe that happens to be valid
would train. For each, both commands must exit with code 2 and print exactly one line, starting
with ``error:``, on standard error (never a traceback, never exit code 1), and ``run`` must not
create its run folder.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from compressor import recipe
from compressor.cli import main
from compressor.errors import CompressorError
from tests.conftest import TINY_RECIPE

#: Examples per test, scaled by ``COMPRESSOR_FUZZ_SCALE`` (e.g. 10 for a long hunt): the default
#: keeps the suite within its 5 minutes on 2 cores; hypothesis draws new recipes every run.
SCALE = float(os.environ.get("COMPRESSOR_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    """``n`` examples, scaled."""
    return max(1, round(n * SCALE))


FUZZ = settings(
    max_examples=examples(150),
    deadline=None,
    # One recipe file and one capsys serve every example: each example rewrites the file and
    # reads the captured output back, so sharing them is safe.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.too_slow,
    ],
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``node``: dict keys and list indices, containers included."""
    found = [prefix] if prefix else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found += _paths(value, (*prefix, key))
    return found


PATHS = _paths(TINY_RECIPE)

# Values that are wrong for most fields: wrong types, out of range, not finite, huge.
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(max_value=-1),
    st.integers(min_value=2**63),
    st.sampled_from([0, 2**31, 2**63 - 1, -(2**63)]),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        ["", "cpu", "cuda:99", "os:system", "../../etc/passwd", "\x00", "a\nb", "💥" * 3]
    ),
    st.lists(st.integers() | st.text(max_size=5) | st.none(), max_size=4),
    st.dictionaries(
        st.text(max_size=6), st.integers() | st.none() | st.text(max_size=4), max_size=3
    ),
)

# Random YAML documents: scalars, lists and nested mappings of them.
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
GARBAGE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

# Pieces of YAML syntax, to build text that is almost YAML (unbalanced, tabs, bad aliases).
YAML_BITS = [
    "\t",
    "[",
    "]",
    "{",
    "}",
    ":",
    ": ",
    "- ",
    ",",
    "&a ",
    "*a",
    "*b",
    "!!python/object/apply:os.system ",
    "!!binary ",
    "'",
    '"',
    "\n",
    "  ",
    "version",
    "stages",
    "data",
    "1",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "|",
    ">",
    "? ",
    "#",
    "@",
    "`",
    "\\",
    "\x00",
    "\ufeff",
    "name: tiny\n",
]
BROKEN_TEXT = st.lists(st.sampled_from(YAML_BITS), max_size=30).map("".join) | st.text(max_size=200)


def _get(path: tuple[Any, ...]) -> Any:
    node: Any = TINY_RECIPE
    for key in path:
        node = node[key]
    return node


DICT_PATHS = [()] + [p for p in PATHS if isinstance(_get(p), dict)]


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    return tmp_path / "recipe.yaml"


def _rejected(path: Path, registry: Any, overrides: list[str]) -> bool:
    """Whether the recipe is invalid; a crash counts too, for the CLI check to report it."""
    try:
        recipe.load(path, registry, list(overrides))
    except CompressorError:
        return True
    except Exception:  # noqa: BLE001 - the CLI check below reports it with the recipe
        return True
    return False


def _check_rejected(capsys: Any, path: Path, overrides: list[str] = ()) -> None:
    """Both commands end with exit code 2 and one ``error:`` line; ``run`` creates nothing."""
    settings_args = [arg for setting in overrides for arg in ("--set", setting)]
    out = path.parent / "out" / "run"
    for command, extra in (("validate", []), ("run", ["--quiet", "--out", str(out)])):
        code = main([command, str(path), *settings_args, *extra])
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert code == 2, f"{command}: exit code {code}: {err}"
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{command}: {err!r}"
        assert "Traceback" not in err
    assert not out.parent.exists(), "run created its run folder for an invalid recipe"


def _write(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


@FUZZ
@given(document=GARBAGE)
def test_random_yaml_documents(capsys, registry, recipe_file, document) -> None:
    _write(recipe_file, document)
    assume(_rejected(recipe_file, registry, []))
    _check_rejected(capsys, recipe_file)


@FUZZ
@given(path=st.sampled_from(PATHS), value=HOSTILE)
def test_one_field_of_a_valid_recipe_mutated(capsys, registry, recipe_file, path, value) -> None:
    mutated = copy.deepcopy(TINY_RECIPE)
    node = mutated
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _write(recipe_file, mutated)
    assume(_rejected(recipe_file, registry, []))
    _check_rejected(capsys, recipe_file)


@settings(FUZZ, max_examples=examples(100))
@given(paths=st.lists(st.sampled_from(PATHS), min_size=1, max_size=3))
def test_fields_deleted(capsys, registry, recipe_file, paths) -> None:
    mutated = copy.deepcopy(TINY_RECIPE)
    for path in paths:
        try:
            node = mutated
            for key in path[:-1]:
                node = node[key]
            del node[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier deletion removed it or its parent
    _write(recipe_file, mutated)
    assume(_rejected(recipe_file, registry, []))
    _check_rejected(capsys, recipe_file)


@settings(FUZZ, max_examples=examples(100))
@given(path=st.sampled_from(DICT_PATHS), key=st.text(min_size=1, max_size=12), value=SCALARS)
def test_unknown_keys(capsys, registry, recipe_file, path, key, value) -> None:
    mutated = copy.deepcopy(TINY_RECIPE)
    node = mutated
    for part in path:
        node = node[part]
    assume(key not in node)
    node[key] = value
    _write(recipe_file, mutated)
    assume(_rejected(recipe_file, registry, []))
    _check_rejected(capsys, recipe_file)


@FUZZ
@given(text=BROKEN_TEXT)
def test_broken_yaml_text(capsys, registry, recipe_file, text) -> None:
    recipe_file.write_text(text, encoding="utf-8")
    assume(_rejected(recipe_file, registry, []))
    _check_rejected(capsys, recipe_file)


@settings(FUZZ, max_examples=examples(100))
@given(data=st.binary(max_size=200))
def test_random_bytes(capsys, registry, recipe_file, data) -> None:
    recipe_file.write_bytes(data)
    assume(_rejected(recipe_file, registry, []))
    _check_rejected(capsys, recipe_file)


OVERRIDE_PATH = st.sampled_from(PATHS).map(lambda p: ".".join(str(k) for k in p))
OVERRIDE = st.one_of(
    st.text(max_size=30),
    st.tuples(OVERRIDE_PATH, BROKEN_TEXT).map("=".join),
    st.tuples(
        OVERRIDE_PATH, HOSTILE.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip())
    ).map("=".join),
    st.tuples(OVERRIDE_PATH, st.text(max_size=8), st.text(max_size=8)).map(
        lambda t: f"{t[0]}.{t[1]}={t[2]}"
    ),
)


@FUZZ
@given(overrides=st.lists(OVERRIDE, min_size=1, max_size=3))
def test_garbage_overrides(capsys, registry, recipe_file, overrides) -> None:
    assume(all(not s.startswith("-") for s in overrides))  # argparse would take it for an option
    _write(recipe_file, TINY_RECIPE)
    assume(_rejected(recipe_file, registry, overrides))
    _check_rejected(capsys, recipe_file, overrides)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "a recipe must be a mapping"),
        (b"- version: 1\n- name: tiny\n", "a recipe must be a mapping"),
        (b"version: 1\nname: [\n", "invalid YAML at line"),
        (b"version: 1\n\tname: tiny\n", "invalid YAML"),
        (b"\xff\xfe\x00bad", "cannot read recipe"),
        (b"a: &x [*x]\n", "a[0]: refers to itself"),
        (b"!!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
    ],
    ids=["empty", "list", "unbalanced", "tab", "not-utf8", "recursive-alias", "python-tag"],
)
def test_known_hostile_files(capsys, recipe_file, content, expected) -> None:
    recipe_file.write_bytes(content)
    _check_rejected(capsys, recipe_file)
    main(["validate", str(recipe_file)])
    assert expected in capsys.readouterr().err


def _set(path: tuple[Any, ...], value: Any):
    def mutate(recipe: dict[str, Any]) -> None:
        node = recipe
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _set(("stages", 0, "model", "options"), [1]),
            "stages.teacher.model.options: invalid value [1]",
        ),
        (
            _set(("seed",), 10**30),
            "seed: invalid value 1000000000000000000000000000000: integers must fit in 64 bits",
        ),
        (
            _set(("seed",), 2**40),
            "seed: invalid value 1099511627776: input should be less than or equal to 4294967295",
        ),
        (_set(("data", "split_seed"), -1), "data.split_seed: invalid value -1"),
        (
            _set(("stages", 0, "optimizer", "lr"), math.inf),
            "stages[0].optimizer.lr: invalid value inf: numbers must be finite",
        ),
        (
            _set(("stages", 0, "model", "options", "channels"), [10**20]),
            "stages[0].model.options.channels[0]: invalid value",
        ),
        (
            _set(("stages", 0, "epochs\nsecond line"), 1),
            "stages.teacher['epochs\\nsecond line']: unknown key",
        ),
        (_set(("data", ""), 1), "data['']: unknown key"),
    ],
    ids=[
        "model-options-list",
        "huge-seed",
        "seed-range",
        "negative-split-seed",
        "inf",
        "huge-channels",
        "key-with-newline",
        "empty-key",
    ],
)
def test_fuzzer_findings(capsys, recipe_file, mutate, expected) -> None:
    """Each of these crashed, passed validation, or printed two lines before being fixed."""
    mutated = copy.deepcopy(TINY_RECIPE)
    mutate(mutated)
    _write(recipe_file, mutated)
    _check_rejected(capsys, recipe_file)
    main(["validate", str(recipe_file)])
    assert expected in capsys.readouterr().err
