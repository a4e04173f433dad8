"""The pytest plugin: fixtures for a plugin's tests.

With ``pytest_plugins = ["compressor.testing"]`` in a ``conftest.py``, pytest finds these
fixtures in :mod:`compressor.testing`, which imports them from here. This module imports pytest,
so :mod:`compressor.testing` imports it only when pytest is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from torch import nn

from compressor.data import DataBundle
from compressor.testing.tiny import tiny_cnn, tiny_data_bundle

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry


@pytest.fixture(scope="session")
def tiny_bundle() -> DataBundle:
    """A random 4-class dataset of digit-shaped inputs (see :func:`tiny_data_bundle`)."""
    return tiny_data_bundle()


@pytest.fixture
def tiny_model() -> nn.Module:
    """A fresh :func:`tiny_cnn` for the tiny bundle."""
    return tiny_cnn()


@pytest.fixture(scope="session")
def compressor_registry() -> Registry:
    """Every installed plugin, loaded through the ``compressor`` entry points."""
    from compressor.plugin.registry import Registry

    return Registry.load()
