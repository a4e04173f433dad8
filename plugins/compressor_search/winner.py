"""The winner as a recipe anyone can run again (``winner.yaml``), and its files.

The recipe repeats the run's data and the stages that made the teacher, then makes the winner
the way the built-in stages would: a ``distill`` stage for a fresh family (its model entry at
the winner's width and depth), a ``prune`` stage for the pruned teacher (criterion, ratio,
``round_to``, BatchNorm recalibration, fine-tuning); then ``export``, ``quantize`` in the
winner's mode, and a ``benchmark`` at the budget's batch and threads.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from compressor.atomic import atomic_path, write_text
from compressor_search.space import Candidate

if TYPE_CHECKING:
    from compressor.context import StageContext
    from compressor_search.options import SearchOptions
    from compressor_search.space import Family

#: The artifact the winner's recipe makes.
WINNER = "winner"


def resolved_recipe(ctx: StageContext) -> dict[str, Any]:
    """The run's recipe with every default filled in (``recipe.yaml`` when the run wrote it)."""
    path = ctx.run_dir / "recipe.yaml"
    if path.is_file():
        loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return loaded
    dumped: dict[str, Any] = ctx.run.recipe.model_dump(mode="json", exclude_none=True)
    return dumped


def _student_stage(
    opts: SearchOptions, family: Family, candidate: Candidate, teacher: str
) -> dict[str, Any]:
    """The stage that makes the winner from the teacher, as the search made it."""
    losses = [term.model_dump(mode="json", exclude_defaults=True) for term in opts.losses]
    optimizer = opts.optimizer.model_dump(mode="json")
    if family.pruned:
        stage: dict[str, Any] = {
            "name": WINNER,
            "type": "prune",
            "inputs": {"model": teacher, "teacher": teacher},
            "outputs": {"model": WINNER},
            "pruner": {"name": candidate.criterion},
            "ratio": round(candidate.prune_ratio, 6),
            "recalibrate_bn": {"batches": opts.screening.bn_batches},
            "finetune": {"epochs": candidate.epochs, "losses": losses, "optimizer": optimizer},
        }
        if candidate.round_to > 1:
            stage["round_to"] = candidate.round_to
        return stage
    assert family.ref is not None
    model: dict[str, Any] = {"name": family.ref.name, "options": family.options_at(candidate.depth)}
    if candidate.width < 1.0 and candidate.depth != 0:
        model["width"] = round(candidate.width, 6)
    stage = {
        "name": WINNER,
        "type": "distill",
        "inputs": {"teacher": teacher},
        "outputs": {"model": WINNER},
        "model": model,
        "epochs": max(candidate.epochs, 1),
        "losses": losses,
        "optimizer": optimizer,
    }
    if opts.augment is not None:
        stage["augment"] = opts.augment.model_dump(mode="json")
    return stage


def winner_recipe(
    ctx: StageContext, opts: SearchOptions, family: Family, candidate: Candidate
) -> dict[str, Any]:
    """The recipe that makes and benchmarks the winner again."""
    resolved = resolved_recipe(ctx)
    teacher = ctx.info.inputs["teacher"]
    assert isinstance(teacher, str)
    stages = list(resolved.get("stages", [])[: ctx.info.index])
    stages.append(_student_stage(opts, family, candidate, teacher))
    stages.append(
        {
            "name": f"{WINNER}_export",
            "type": "export",
            "inputs": {"models": [WINNER]},
            "exporter": opts.exporter.model_dump(mode="json"),
        }
    )
    files = [f"{WINNER}.onnx"]
    if candidate.quantization != "fp32":
        quantize: dict[str, Any] = {
            "name": f"{WINNER}_quantize",
            "type": "quantize",
            "inputs": {"models": [f"{WINNER}.onnx"]},
            "mode": candidate.quantization,
        }
        if candidate.quantization == "static":
            quantize.update(per_channel=True, activations="uint8")
            quantize["calibration_batches"] = opts.screening.calibration_batches
        stages.append(quantize)
        files.append(f"{WINNER}.int8.onnx")
    budget = opts.budget
    stages.append(
        {
            "name": f"{WINNER}_benchmark",
            "type": "benchmark",
            "inputs": {"models": files},
            "batch_sizes": [budget.batch],
            "threads": [budget.threads],
        }
    )
    keep = ("version", "seed", "device", "precision", "data")
    recipe = {k: resolved[k] for k in keep if k in resolved}
    recipe["name"] = f"{resolved.get('name', 'search')}-winner"
    recipe["description"] = (
        f"The winner of stage {ctx.info.name!r} ({candidate.describe()}), made again from the "
        "teacher with the built-in stages: compressor run winner.yaml"
    )
    return {
        "version": recipe.pop("version", 1),
        "name": recipe.pop("name"),
        **recipe,
        "stages": stages,
    }


def write_winner(
    ctx: StageContext,
    opts: SearchOptions,
    family: Family,
    candidate: Candidate,
    deployed: Path,
) -> list[str]:
    """Write ``winner.yaml`` and copies of the winner's deployed files into the stage folder.

    Returns:
        The files written, relative to the run folder.
    """
    folder = ctx.run_dir / ctx.info.name
    folder.mkdir(parents=True, exist_ok=True)
    recipe = winner_recipe(ctx, opts, family, candidate)
    written = [write_text(folder / "winner.yaml", yaml.safe_dump(recipe, sort_keys=False))]
    sources = [deployed]
    if deployed.name.endswith(".int8.onnx"):
        sources.insert(0, deployed.with_name(deployed.name.replace(".int8.onnx", ".onnx")))
    for source in sources:
        suffix = ".int8.onnx" if source.name.endswith(".int8.onnx") else ".onnx"
        target = folder / f"{WINNER}{suffix}"
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        written.append(target)
    return [str(Path(p).relative_to(ctx.run_dir)) for p in written]
