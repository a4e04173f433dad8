"""compressor.testing.building: a plugin that cannot be found says why, and what to do."""

from __future__ import annotations

import pytest

from compressor.testing import check_loss


def test_an_unknown_name_suggests_installing_the_plugin() -> None:
    with pytest.raises(AssertionError, match="unknown loss 'cosinus'.*pip install -e"):
        check_loss("cosinus")


def test_a_broken_plugin_is_named_with_why_it_did_not_load(install_fake_plugin) -> None:
    # Installed but broken (a misspelled hook): "is it installed?" would mislead its author.
    install_fake_plugin(
        "fake_typo",
        "from compressor import hookimpl\n\n@hookimpl\ndef compressor_register_lossez():\n"
        "    return []\n",
    )
    with pytest.raises(AssertionError) as error:
        check_loss("cosine_typo")
    message = str(error.value)
    assert "why: fake_typo: unknown hook 'compressor_register_lossez'" in message
    assert "pip install" not in message


def test_a_mapping_for_a_bare_factory_is_refused_saying_what_to_pass() -> None:
    with pytest.raises(AssertionError, match="pass the options as a validated model"):
        check_loss(lambda options: None, {"temperature": 2.0})
