"""Test helpers for plugin authors: tiny models and data, and contract checks for each plugin kind.

Each ``check_*`` function builds the plugin the way a recipe would, runs it on something tiny,
and raises :class:`AssertionError` with a message that says which part of the contract failed
(see :mod:`compressor.records` for the contracts). They take about a second each on a laptop
CPU, so a plugin's test suite can call them for every option combination that matters::

    from compressor.testing import check_loss

    def test_cosine_loss():
        check_loss("cosine", zero_when_equal=True)   # looked up through the entry points

A check accepts the plugin in any of these forms:

- a registered name (``"cosine"``): looked up through the ``compressor`` entry points, so the
  test also proves that ``pip install -e .`` registered it;
- a record (:class:`~compressor.records.LossPlugin`, ...): what your hook returns;
- a factory (a class or function called with the options) or an already built object.

``options`` is a mapping validated by the record's schema, or an already validated pydantic
model. Used as a pytest plugin (``pytest_plugins = ["compressor.testing"]`` in a
``conftest.py``) it also provides the fixtures ``tiny_bundle``, ``tiny_model`` and
``compressor_registry``.

Import everything from here; the modules behind it are:

- :mod:`~compressor.testing.tiny`: :func:`tiny_cnn`, :func:`tiny_mlp`, :func:`tiny_data_bundle`
  and their shape, :data:`TINY_INPUT_SHAPE` and :data:`TINY_CLASSES`;
- :mod:`~compressor.testing.building`: a name, record, factory or object to the built plugin;
- :mod:`~compressor.testing.loss`, :mod:`~compressor.testing.exporter` (with the write watcher
  of :mod:`~compressor.testing.write_watch`), :mod:`~compressor.testing.pruner`,
  :mod:`~compressor.testing.dataset`, :mod:`~compressor.testing.stage` and
  :mod:`~compressor.testing.task`: one contract check each;
- :mod:`~compressor.testing.tiny_recipe`: :func:`run_tiny_recipe`, a whole recipe run in-process
  with the lifecycle hook calls each plugin under test received;
- :mod:`~compressor.testing.fixtures`: the pytest fixtures, imported here only when pytest is
  installed (the helpers work without it).
"""

from __future__ import annotations

from compressor.testing.dataset import check_dataset
from compressor.testing.exporter import check_exporter
from compressor.testing.loss import check_loss
from compressor.testing.pruner import check_pruner
from compressor.testing.stage import StageCheckResult, check_stage
from compressor.testing.task import check_task
from compressor.testing.tiny import TINY_CLASSES as TINY_CLASSES
from compressor.testing.tiny import TINY_INPUT_SHAPE as TINY_INPUT_SHAPE
from compressor.testing.tiny import tiny_cnn, tiny_data_bundle, tiny_mlp
from compressor.testing.tiny_recipe import TinyRun, run_tiny_recipe

__all__ = [
    "StageCheckResult",
    "TinyRun",
    "check_dataset",
    "check_exporter",
    "check_loss",
    "check_pruner",
    "check_stage",
    "check_task",
    "run_tiny_recipe",
    "tiny_cnn",
    "tiny_data_bundle",
    "tiny_mlp",
]

try:
    import pytest  # noqa: F401 - imported only to learn whether the fixtures can be defined
except ImportError:  # pragma: no cover - the helpers work without pytest
    pass
else:
    # pytest collects a plugin's fixtures from its module namespace: they must be names here.
    from compressor.testing.fixtures import compressor_registry as compressor_registry
    from compressor.testing.fixtures import tiny_bundle as tiny_bundle
    from compressor.testing.fixtures import tiny_model as tiny_model
