"""The ``prune`` stage: structural pruning, then fine-tuning by distillation from a teacher."""

from __future__ import annotations

import copy
import difflib
from typing import Any

import torch
from torch import nn

from compressor.context import StageContext
from compressor.errors import StageFailure, UsageError
from compressor.training import evaluate
from compressor_stages.model_output import count_parameters, publish_model, train_in_stage


def find_classifier(model: nn.Module, num_classes: int) -> nn.Module | None:
    """The last Linear (or 1x1 conv) layer producing ``num_classes`` outputs: never pruned."""
    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.out_features == num_classes:
            found = module
        elif isinstance(module, nn.Conv2d) and module.out_channels == num_classes:
            found = module
    return found


def resolve_modules(model: nn.Module, paths: list[str], field: str) -> list[nn.Module]:
    """Look up module paths; an unknown path is an error listing the closest names."""
    modules = dict(model.named_modules())
    found = []
    for path in paths:
        if path not in modules:
            names = [n for n in modules if n]
            close = difflib.get_close_matches(path, names, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UsageError(
                f"{field}: no module {path!r} in the model; {hint} module paths: "
                + ", ".join(names[:30])
                + (" ..." if len(names) > 30 else "")
            )
        found.append(modules[path])
    return found


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass at the batch size of ``example``."""
    import torch_pruning as tp

    macs, _ = tp.utils.count_ops_and_params(model, example)
    return int(macs)


class PruneStage:
    """Prune a copy of the input model, then fine-tune it with a teacher."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Prune, measure before/after, fine-tune, save and publish."""
        opts = self.options
        source = ctx.input("model")
        teacher_artifact = ctx.input("teacher")
        data = ctx.data
        original: nn.Module = source.model
        model = copy.deepcopy(original).to(ctx.device).eval()

        ignored = resolve_modules(model, opts.ignored, f"stages.{ctx.info.name}.ignored")
        classifier = find_classifier(model, data.num_classes)
        if classifier is not None:
            ignored.append(classifier)

        example = data.example_inputs(2).to(ctx.device)
        before = {
            "params": count_parameters(model),
            "macs": count_macs(model, example[:1]),
            "val_accuracy": evaluate(model, data.val, ctx.eval_batch_size, ctx.device),
        }
        pruner = ctx.build_pruner(opts.pruner)
        try:
            model = pruner.prune(model, example, ignored)
        except UsageError:
            raise
        except Exception as exc:
            raise StageFailure(
                f"stage {ctx.info.name!r}: {opts.pruner.name} could not prune the model "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        pruned = {
            "params": count_parameters(model),
            "macs": count_macs(model, example[:1]),
            "val_accuracy": evaluate(model, data.val, ctx.eval_batch_size, ctx.device),
        }
        if pruned["params"] >= before["params"] and opts.pruner.parsed.model_dump().get("ratio", 1) > 0:
            raise StageFailure(
                f"stage {ctx.info.name!r}: nothing was pruned; the model has no prunable layer "
                "outside the ignored ones"
            )

        fit_result = None
        finetune = opts.finetune
        if finetune.epochs > 0:
            teacher = teacher_artifact.model if teacher_artifact is not None else original
            fit_result = train_in_stage(
                ctx,
                model,
                losses=finetune.losses,
                epochs=finetune.epochs,
                optimizer=finetune.optimizer,
                teachers=[teacher],
                label=f"{ctx.info.name} (fine-tune)",
            )
        ctx.log(
            pruner=opts.pruner.name,
            before=before,
            pruned=pruned,
            params_ratio=before["params"] / max(pruned["params"], 1),
            macs_ratio=before["macs"] / max(pruned["macs"], 1),
            fine_tuned_from=teacher_artifact.name if teacher_artifact is not None else source.name,
        )
        publish_model(ctx, model, source.spec, fit_result)
