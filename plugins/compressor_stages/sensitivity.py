"""The ``sensitivity`` stage: how the task's metric falls with the pruning ratio, before
fine-tuning.

Run it on a trained model to choose a ratio: for every ratio (and, with ``per_layer``, for
every prunable layer alone) it prunes a copy, measures the validation metric (accuracy, mAP),
parameters and MACs, and writes ``<stage>.json``, ``<stage>.md`` and a ``<stage>.png`` plot.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from torch import nn

from compressor.atomic import write_text
from compressor.context import StageContext
from compressor.errors import UsageError
from compressor.model.pruning import PruneSettings, prune_model
from compressor.training import WeightedLoss
from compressor_stages.prune import gradient_probe, layers_left_whole


def _layers(model: nn.Module, ignored: list[nn.Module]) -> list[tuple[str, nn.Module]]:
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear | nn.Conv2d) and module not in ignored
    ]


class SensitivityStage:
    """Accuracy without fine-tuning at each pruning ratio, for the whole model or per layer."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def _point(
        self,
        ctx: StageContext,
        model: nn.Module,
        criterion: Any,
        settings: PruneSettings,
        ignored_paths: list[str],
    ) -> dict[str, float]:
        data = ctx.data
        pruned = copy.deepcopy(model)
        ignored = layers_left_whole(ctx, pruned, ignored_paths)
        if settings.ratio_dict:
            # ratio_dict holds modules of the original; map them onto the copy by path.
            paths = {m: n for n, m in model.named_modules()}
            copies = dict(pruned.named_modules())
            settings.ratio_dict = {copies[paths[m]]: r for m, r in settings.ratio_dict.items()}
        gradients = None
        if criterion.needs_gradients:
            # No teacher here: the task's supervised loss (cross-entropy) ranks the channels.
            name = ctx.task.default_loss
            loss = ctx.run.registry.get("loss", name)
            labels_only = [WeightedLoss(name, 1.0, loss.build(loss.options()), needs_teacher=False)]
            gradients = gradient_probe(ctx, labels_only, pruned, self.options.calibration_batches)
        report = prune_model(
            pruned,
            importance=criterion.importance(),
            example_inputs=data.example_inputs(2).to(ctx.device),
            ignored_layers=ignored,
            settings=settings,
            gradient_fn=gradients,
        )
        return {
            ctx.figure("val"): ctx.evaluate(pruned, "val"),
            "params_fraction": report.params_fraction,
            "macs_fraction": report.macs_fraction,
        }

    def run(self, ctx: StageContext) -> None:
        """Sweep the ratios, log the table, write JSON, Markdown and PNG."""
        opts = self.options
        model = ctx.input("model").model.to(ctx.device).eval()
        criterion = ctx.build_pruner(opts.pruner)
        problem = criterion.check_model(model) if hasattr(criterion, "check_model") else None
        if problem:
            raise UsageError(f"stages.{ctx.info.name}.pruner.name: {problem}")
        baseline = ctx.evaluate(model, "val")
        val = ctx.figure("val")
        layers = _layers(model, layers_left_whole(ctx, model, opts.ignored))
        targets: list[tuple[str, nn.Module | None]] = [("model", None)]
        if opts.per_layer:
            targets += layers
        rows: list[dict[str, Any]] = []
        with ctx.progress(len(targets) * len(opts.ratios), ctx.info.name) as bar:
            for scope, layer in targets:
                for ratio in opts.ratios:
                    if layer is None:
                        settings = PruneSettings(ratio=ratio)
                    else:
                        settings = PruneSettings(ratio=0.0, ratio_dict={layer: ratio})
                    point = self._point(ctx, model, criterion, settings, opts.ignored)
                    rows.append({"scope": scope, "ratio": ratio, **point})
                    bar.advance(1, scope=scope, ratio=ratio, **{ctx.task.progress_name: point[val]})
        ctx.log(pruner=opts.pruner.name, **{f"baseline_{val}": baseline}, rows=rows)
        self._write(ctx, baseline, rows)

    def _write(self, ctx: StageContext, baseline: float, rows: list[dict[str, Any]]) -> None:
        stem = ctx.run_dir / ctx.info.name
        val, label = ctx.figure("val"), ctx.task.metric.label
        write_text(
            stem.with_suffix(".json"),
            json.dumps({f"baseline_{val}": baseline, "rows": rows}, indent=2) + "\n",
        )
        lines = [
            f"# Pruning sensitivity ({self.options.pruner.name}, no fine-tuning)",
            "",
            f"Validation {label} before pruning: {100 * baseline:.2f}%",
            "",
            f"| scope | ratio | val {label} | Δ points | params kept | MACs kept |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{r['scope']}` | {r['ratio']:.2f} | {100 * r[val]:.2f}% | "
            f"{100 * (r[val] - baseline):+.2f} | {100 * r['params_fraction']:.1f}% | "
            f"{100 * r['macs_fraction']:.1f}% |"
            for r in rows
        ]
        write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")

        # A Figure outside pyplot: the process's matplotlib backend stays the user's.
        from compressor.report.plots import new_figure, save_png

        figure = new_figure((6.4, 4.0))
        axis = figure.subplots()
        for scope in dict.fromkeys(r["scope"] for r in rows):
            points = [r for r in rows if r["scope"] == scope]
            axis.plot(
                [p["ratio"] for p in points],
                [100 * p[val] for p in points],
                marker="o",
                linewidth=2.5 if scope == "model" else 1.0,
                label="whole model" if scope == "model" else scope,
            )
        axis.axhline(100 * baseline, color="grey", linestyle="--", linewidth=1, label="unpruned")
        axis.set_xlabel("pruning ratio (fraction of channels removed)")
        axis.set_ylabel(f"validation {label} (%)")
        axis.set_title(f"Pruning sensitivity: {self.options.pruner.name}, before fine-tuning")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
        save_png(figure, stem.with_suffix(".png"), dpi=110)
