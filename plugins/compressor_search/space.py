"""The space as optuna sees it: families, the knobs each one has, and the first points tried.

A candidate is a :class:`Candidate`: a family and the values of the knobs that apply to it.
The teacher family keeps the trained teacher's weights and is pruned (``prune_ratio``,
``criterion``, ``round_to``); every other family is built fresh at a ``width`` (and a ``depth``
where its builder has a per-layer list) and distilled. ``quantization`` and ``epochs`` apply to
all. Numeric knobs are optuna float and int distributions; ``round_to`` is sampled as its
power-of-two exponent, so it stays numeric and always a power of two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from compressor.errors import RecipeError
from compressor.schemas import ModelRef
from compressor_search.options import STUDENT, TEACHER, SearchOptions, Space

#: Builders whose depth is the length of one option's list: that option's name.
DEPTH_OPTIONS = {"seed_mlp": "hidden", "seed_cnn": "channels"}


@dataclass(frozen=True)
class Family:
    """One family of candidates.

    Attributes:
        label: Its name in the study (``teacher``, ``student``, ``seed_cnn``, ``seed_cnn#2``).
        ref: The model entry a fresh family is built from (``None`` for the teacher).
        depth_option: The option whose list sets the depth, for builders that have one.
    """

    label: str
    ref: ModelRef | None = None
    depth_option: str | None = None

    @property
    def pruned(self) -> bool:
        """Whether candidates of this family are the trained teacher, pruned."""
        return self.ref is None

    @property
    def base_depth(self) -> int | None:
        """The length of the depth option's list in the family's own entry."""
        if self.ref is None or self.depth_option is None:
            return None
        return len(self.ref.options.get(self.depth_option) or [])

    def options_at(self, depth: int | None) -> dict[str, Any]:
        """The entry's options with the depth list cut or extended to ``depth`` entries."""
        assert self.ref is not None
        options = dict(self.ref.options)
        if depth is None or self.depth_option is None:
            return options
        layers = list(options.get(self.depth_option) or [])
        if layers:
            options[self.depth_option] = (layers + [layers[-1]] * depth)[:depth]
        return options


@dataclass(frozen=True)
class Candidate:
    """One point of the space: a family and its knobs (unused ones keep their defaults)."""

    family: str
    width: float = 1.0
    depth: int | None = None
    prune_ratio: float = 0.0
    criterion: str | None = None
    round_to: int = 1
    quantization: str = "fp32"
    epochs: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """A few words: ``student w0.42 d2 static 20ep`` or ``teacher -70% fpgm /8 fp32 20ep``."""
        if self.criterion is not None:
            shape = f"-{100 * self.prune_ratio:.0f}% {self.criterion}"
            shape += f" /{self.round_to}" if self.round_to > 1 else ""
        elif self.depth == 0:
            shape = "d0"  # no layer of the list left to narrow
        else:
            shape = f"w{self.width:.2f}" + (f" d{self.depth}" if self.depth is not None else "")
        return f"{self.family} {shape} {self.quantization} {self.epochs}ep"

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the study's attributes and ``metrics.json``."""
        values = asdict(self)
        values.pop("extra")
        return values


def resolve_families(opts: SearchOptions, field: str) -> list[Family]:
    """The families the space names, with labels unique in the study.

    Raises:
        RecipeError: ``student`` without a ``model:``, or a family named twice.
    """
    given = opts.space.families
    if given is None:
        given = [TEACHER, STUDENT] if opts.model is not None else [TEACHER]
    families: list[Family] = []
    for i, entry in enumerate(given):
        where = f"{field}.space.families[{i}]"
        if entry == TEACHER:
            family = Family(TEACHER)
        elif entry == STUDENT or isinstance(entry, ModelRef):
            ref = opts.model if entry == STUDENT else entry
            if ref is None:
                raise RecipeError(
                    where, "'student' is the stage's model:, which is not given", value=entry
                )
            assert isinstance(ref, ModelRef)
            label = STUDENT if entry == STUDENT else ref.name
            if isinstance(entry, ModelRef):
                label = _unique(label, {f.label for f in families})
            family = Family(label, ref, DEPTH_OPTIONS.get(ref.name))
        else:
            raise RecipeError(
                where, "not a family", value=entry, choices=[TEACHER, STUDENT, "a model entry"]
            )
        if any(f.label == family.label for f in families):
            raise RecipeError(where, f"family {family.label!r} is named twice", value=entry)
        families.append(family)
    return families


def _unique(label: str, taken: set[str]) -> str:
    """``label``, or ``label#2``, ``label#3``... when a family of that name came before."""
    found, number = label, 2
    while found in taken:
        found, number = f"{label}#{number}", number + 1
    return found


def _exponents(space: Space) -> tuple[int, int]:
    return int(math.log2(space.round_to.low)), int(math.log2(space.round_to.high))


def suggest(trial: Any, space: Space, families: list[Family]) -> Candidate:
    """Ask optuna's ``trial`` for a candidate: the family first, then its knobs."""
    by_label = {f.label: f for f in families}
    label = trial.suggest_categorical("family", [f.label for f in families])
    family = by_label[label]
    values: dict[str, Any] = {"family": label}
    if family.pruned:
        ratio = space.prune_ratio
        values["prune_ratio"] = trial.suggest_float("prune_ratio", ratio.low, ratio.high)
        values["criterion"] = trial.suggest_categorical("criterion", list(space.criteria))
        low, high = _exponents(space)
        values["round_to"] = 2 ** trial.suggest_int("log2_round_to", low, high)
    else:
        width = space.width
        values["width"] = trial.suggest_float("width", width.low, width.high, log=width.log)
        if family.depth_option is not None and space.depth is not None:
            values["depth"] = trial.suggest_int("depth", space.depth.low, space.depth.high)
    values["quantization"] = trial.suggest_categorical("quantization", list(space.quantization))
    values["epochs"] = trial.suggest_int("epochs", space.epochs.low, space.epochs.high)
    return Candidate(**values)


def candidate_of(params: dict[str, Any]) -> Candidate:
    """The candidate a trial's parameters describe (what :func:`suggest` returned for them)."""
    values = {k: v for k, v in params.items() if k in Candidate.__dataclass_fields__}
    if "log2_round_to" in params:
        values["round_to"] = 2 ** int(params["log2_round_to"])
    return Candidate(**values)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def seed_points(opts: SearchOptions, families: list[Family]) -> list[dict[str, Any]]:
    """Known-good points tried first: the recipe's student at full, half and quarter width,
    and the teacher half and three-quarters pruned; each within the space.

    Returns:
        optuna parameter dicts for ``enqueue_trial``, in the order they are tried.
    """
    space = opts.space
    mode = "fp32" if "fp32" in space.quantization else space.quantization[0]
    epochs = (space.epochs.low + space.epochs.high) // 2
    common = {"quantization": mode, "epochs": epochs}
    points: list[dict[str, Any]] = []
    fresh = [f for f in families if not f.pruned]
    for family in fresh[:1]:
        for width in (1.0, 0.5, 0.25):
            point = {
                "family": family.label,
                "width": _clamp(width, space.width.low, space.width.high),
            }
            if family.depth_option is not None and space.depth is not None:
                depth = family.base_depth or space.depth.low
                point["depth"] = int(_clamp(depth, space.depth.low, space.depth.high))
            points.append({**point, **common})
    if any(f.pruned for f in families):
        low, _ = _exponents(space)
        for ratio in (0.5, 0.75):
            points.append(
                {
                    "family": TEACHER,
                    "prune_ratio": _clamp(ratio, space.prune_ratio.low, space.prune_ratio.high),
                    "criterion": space.criteria[0],
                    "log2_round_to": low,
                    **common,
                }
            )
    unique: list[dict[str, Any]] = []
    for point in points:
        if point not in unique:
            unique.append(point)
    return unique
