"""A training that does not learn, said while it runs: loss flat at chance, accuracy at chance.

A first run that stalls wastes the whole schedule before anyone looks: a user's MLP student on
unnormalized log-spectrograms sat at loss 2.303 = log(10) and 10% accuracy for all 30 epochs,
and nothing said so. :func:`stall_warning` looks at the first epochs' history: when the
validation metric is still at chance and the loss has barely moved, it says so and what usually
causes it. It judges tasks whose models output class logits (chance is ``1 / num_classes``);
others are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: Epochs a training gets before it is judged.
JUDGED_AFTER = 3
#: "At chance": the validation metric below this many times chance.
CHANCE_MARGIN = 1.5
#: "Barely moved": the loss fell by less than this fraction since the first epoch.
FLAT = 0.02


def stall_warning(
    history: Sequence[dict[str, Any]], num_classes: int, key: str = "val_accuracy"
) -> str | None:
    """Why the training looks stalled after :data:`JUDGED_AFTER` epochs, or ``None``.

    Args:
        history: One entry per epoch so far (``loss`` and ``key``), the loop's history.
        num_classes: The classes chance is one in.
        key: The history's validation metric.

    Returns:
        The warning, with the loss, ``log(num_classes)`` when the loss is at it, and what to
        change; ``None`` when the training learns, or is not yet (or no longer) judged.
    """
    if len(history) != JUDGED_AFTER or num_classes < 2:
        return None
    chance = 1.0 / num_classes
    metric = history[-1].get(key)
    first, last = float(history[0]["loss"]), float(history[-1]["loss"])
    if metric is None or metric > CHANCE_MARGIN * chance or not math.isfinite(last):
        return None
    if first > 0 and (first - last) / first >= FLAT:
        return None
    uniform = math.log(num_classes)
    at_uniform = (
        f", which is log({num_classes}) = {uniform:.3f}: the model predicts every class alike"
        if abs(last - uniform) <= 0.05 * uniform
        else ""
    )
    return (
        f"after {JUDGED_AFTER} epochs the loss is still {last:.4g}{at_uniform}, and validation "
        f"scores {metric:.1%} (chance is {chance:.1%}): the model is not learning. Usual "
        "causes: inputs far from zero mean and unit variance (set data.preprocess mean: auto "
        "and std: auto; for audio, a front-end with normalize: true), a learning rate far too "
        "high or too low (optimizer: {lr: ...}), or a model too small or too deep for its "
        "inputs"
    )
