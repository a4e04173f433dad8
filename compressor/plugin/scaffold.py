"""``compressor new-plugin NAME``: write a ready-to-install plugin package.

The skeleton registers one loss through the ``compressor`` entry-point group, with a pydantic
options schema, a README and a test that runs :func:`compressor.testing.check_loss` on it
through the entry point. ``pip install -e .`` then ``pytest`` pass as generated; the author
replaces the loss, or adds hooks for other kinds (see ``docs/plugins/tutorial.md``).

Only the standard library is used here, so the command answers without importing torch.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import string
from dataclasses import dataclass
from pathlib import Path

from compressor import __version__
from compressor.atomic import write_text
from compressor.errors import UsageError

#: A distribution name that also makes a Python package name once ``-`` becomes ``_``.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    """The names a new plugin package uses.

    Attributes:
        distribution: What ``pip install`` and ``compressor plugins`` show (``NAME`` as given).
        package: The import name, also the entry-point (plugin) name.
        loss: The name recipes use for the generated loss.
    """

    distribution: str
    package: str
    loss: str


def plugin_names(name: str) -> PluginNames:
    """Derive and check the names of a new plugin.

    Raises:
        UsageError: The name is not a valid distribution/package name, or is a Python keyword.
    """
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"invalid plugin name {name!r}: use letters and digits, separated by single '-' or "
            "'_', starting with a letter (e.g. compressor-focal)"
        )
    package = name.replace("-", "_").lower()
    if keyword.iskeyword(package):
        raise UsageError(f"invalid plugin name {name!r}: {package!r} is a Python keyword")
    loss = package.removeprefix("compressor_") or package
    return PluginNames(distribution=name, package=package, loss=loss)


def create_plugin(name: str, directory: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the skeleton of plugin ``name`` into ``directory`` (default: ``./NAME``).

    Returns:
        The folder and the files written in it.

    Raises:
        UsageError: Invalid name, the folder exists and is not empty (nothing is overwritten),
            or an importable module already has the package's name.
    """
    names = plugin_names(name)
    folder = Path(directory) if directory is not None else Path.cwd() / name
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(
            f"{folder} already exists and is not empty; choose another --dir (nothing was written)"
        )
    if importlib.util.find_spec(names.package) is not None:
        # An installed module of that name would shadow the plugin, or be shadowed by it.
        raise UsageError(
            f"invalid plugin name {name!r}: a module named {names.package!r} is already "
            "importable; choose a name of your own (e.g. compressor-<name>)"
        )
    values = {
        "distribution": names.distribution,
        "package": names.package,
        "loss": names.loss,
        "class_name": "".join(part.capitalize() for part in names.loss.split("_")) + "Loss",
        "compressor_version": __version__,
    }
    written = []
    for relative, template in TEMPLATES.items():
        path = folder / string.Template(relative).substitute(values)
        written.append(write_text(path, string.Template(template).substitute(values)))
    return folder, written


TEMPLATES: dict[str, str] = {}

TEMPLATES["pyproject.toml"] = """\
[build-system]
requires = ["setuptools>=77", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "A compressor plugin: the $loss loss."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["compressor>=$compressor_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# compressor finds plugins through this entry-point group. The key is the plugin name
# (`compressor plugins`, `--disable-plugin`); the value is the module with the @hookimpl functions.
[project.entry-points.compressor]
$package = "$package"

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

TEMPLATES["README.md"] = """\
# $distribution

A [compressor](https://pypi.org/project/compressor/) plugin that adds the `$loss` loss: a
smooth-L1 (Huber) distance between the student's and the teacher's logits.

```bash
pip install -e .          # registers the plugin through the `compressor` entry point
compressor plugins        # lists $package and the `$loss` loss
pytest                    # contract checks from compressor.testing
```

Use it in a recipe:

```yaml
  - name: distill
    type: distill
    inputs: {teacher: teacher}
    model: {name: seed_mlp}
    losses:
      - {name: $loss, weight: 0.9, options: {beta: 1.0}}
      - {name: ce, weight: 0.1}
```

`$package/__init__.py` registers the loss and validates its options; `$package/loss.py`
computes it. To add a pruning method, an exporter or a stage, implement the matching hook in
`__init__.py`: see compressor's `docs/plugins/tutorial.md` and `docs/plugins/hooks.md`.
"""

TEMPLATES["$package/__init__.py"] = '''\
"""$distribution: registers the `$loss` loss with compressor.

compressor imports this module to list plugins and validate recipes, so it stays light: the loss
itself (and torch) is named by an import path and loads only when a recipe uses it.
"""

from __future__ import annotations

from pydantic import Field

from compressor import hookimpl
from compressor.records import LossPlugin
from compressor.schemas import StrictModel


class ${class_name}Options(StrictModel):
    """Options of `$loss`; a typo in a recipe is an error naming the field."""

    beta: float = Field(
        default=1.0,
        gt=0.0,
        description="Below this logit difference the loss is quadratic, above it linear.",
    )


@hookimpl
def compressor_register_losses() -> list[LossPlugin]:
    """Register the `$loss` loss."""
    return [
        LossPlugin(
            name="$loss",
            factory="$package.loss:$class_name.from_options",
            options=${class_name}Options,
            needs_teacher=True,
            description="Smooth-L1 (Huber) distance between student and teacher logits.",
        )
    ]
'''

TEMPLATES["$package/loss.py"] = '''\
"""The `$loss` loss: ``loss(student_logits, teacher_logits, targets) -> scalar``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class $class_name(nn.Module):
    """Smooth-L1 distance between logits: like ``mse_logits`` but robust to outlying logits.

    Args:
        beta: Below this absolute difference the loss is quadratic, above it linear.
    """

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    @classmethod
    def from_options(cls, options: Any) -> $class_name:
        """Build from the validated options (the factory named in ``__init__.py``)."""
        return cls(beta=options.beta)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if teacher is None:
            raise ValueError("$loss needs teacher logits")
        return F.smooth_l1_loss(student, teacher.detach(), beta=self.beta)
'''

TEMPLATES["tests/conftest.py"] = '''\
"""compressor.testing as a pytest plugin: tiny_bundle, tiny_model, compressor_registry."""

pytest_plugins = ["compressor.testing"]
'''

TEMPLATES["tests/test_$package.py"] = '''\
"""Contract checks of the `$loss` loss, found through the `compressor` entry point."""

from __future__ import annotations

import torch

from compressor.testing import check_loss


def test_registered_by_this_plugin(compressor_registry) -> None:
    record = compressor_registry.get("loss", "$loss")
    assert record.source.startswith("$package ")


def test_loss_contract() -> None:
    check_loss("$loss", {"beta": 0.5}, zero_when_equal=True)


def test_loss_is_linear_for_large_differences() -> None:
    from $package.loss import $class_name

    teacher = torch.zeros(2, 3)
    assert $class_name(beta=1.0)(teacher + 10.0, teacher).item() == 9.5
'''
