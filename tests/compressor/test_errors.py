"""Error formatting: choices sorted, the closest one suggested."""

from __future__ import annotations

from compressor.errors import RecipeError, format_choices


def test_format_choices_suggests_the_closest() -> None:
    assert format_choices("kdd", ["mse_logits", "kd", "ce"]) == (
        "did you mean 'kd'? valid choices: ce, kd, mse_logits"
    )
    assert format_choices("zzz", ["a", "b"]) == "valid choices: a, b"
    assert format_choices("x", []) == "there are no valid choices registered"


def test_recipe_error_is_one_line_with_source() -> None:
    error = RecipeError("stages.distill.epochs", "invalid value -1", value=-1).with_source("r.yaml")
    assert str(error) == "r.yaml: stages.distill.epochs: invalid value -1"
    assert error.exit_code == 2
