"""compressor.testing.building: a plugin that cannot be found says how to make it findable."""

from __future__ import annotations

import pytest

from compressor.testing import check_loss


def test_an_unknown_name_suggests_installing_the_plugin() -> None:
    with pytest.raises(AssertionError, match="unknown loss 'cosinus'.*pip install -e"):
        check_loss("cosinus")
