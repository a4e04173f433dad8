"""The report's PNG plots, drawn from ``metrics.json`` alone with matplotlib's Agg renderer.

Figures are :class:`matplotlib.figure.Figure` objects on their own Agg canvas, never pyplot's:
drawing them changes neither the process's matplotlib backend nor pyplot's list of open
figures, so a notebook or program that embeds compressor keeps its own. :func:`new_figure` and
:func:`save_png` are what a plugin drawing its own plot should use too.

- ``<stage>_accuracy_vs_latency.png``: every benchmarked file, accuracy against batch-1 p50
  latency, with the Pareto front (no other file is both faster and more accurate) marked;
- ``<stage>_sizes.png``: file size per artifact (log axis when sizes spread over 20x);
- ``training_curves.png``: loss and validation accuracy per epoch of every stage that trained
  (long runs also get a moving average).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.atomic import atomic_path
from compressor.report.metric import Headline, run_headline, stage_headline

#: Above this ratio between the largest and the smallest file, the size plot's axis is logarithmic.
LOG_SIZE_SPREAD = 20.0
#: Training curves longer than this are drawn faint, with a moving average on top.
SMOOTH_ABOVE_EPOCHS = 60
#: Colours by precision, so INT8 files stand out from FP32 ones in every plot.
COLORS = {"fp32": "#1f77b4", "int8": "#d62728"}


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names of the points no other point beats on both axes, by ascending latency.

    Args:
        points: name -> ``(latency, accuracy)``; lower latency and higher accuracy are better.

    Example:
        >>> pareto_front({"a": (1.0, 0.9), "b": (2.0, 0.95), "c": (3.0, 0.93)})
        ['a', 'b']
    """
    front = []
    for name, (lat, acc) in points.items():
        dominated = any(
            (o_lat <= lat and o_acc >= acc) and (o_lat < lat or o_acc > acc)
            for other, (o_lat, o_acc) in points.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][0])


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` of ``figsize`` inches on an Agg canvas, outside pyplot.

    Example:
        >>> figure = new_figure((6.4, 4.0))
        >>> axis = figure.subplots()
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)  # attaches itself: text extents and savefig need a renderer
    return figure


def save_png(figure: Any, path: Path, dpi: int = 100) -> Path:
    """Lay ``figure`` out and write it to ``path`` as PNG, atomically; returns ``path``."""
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return path


def _save(figure: Any, path: Path) -> Path:
    return save_png(figure, path)


def separate_labels(figure: Any, labels: list[Any]) -> None:
    """Move annotations down, a line at a time, until none overlaps one placed before it.

    A model and its INT8 copy often sit almost on the same point (same accuracy, close
    latency), and their names would print over each other. Labels are placed in the given
    order; only the later of two overlapping labels moves.

    Args:
        figure: The matplotlib figure, laid out as it will be saved.
        labels: ``Annotation`` objects whose text offset is in points (``textcoords="offset points"``).
    """
    renderer = figure.canvas.get_renderer()
    placed: list[Any] = []
    for label in labels:
        for _ in range(2 * len(labels)):  # bounded: a crowd of labels may not fit
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            x, y = label.xyann
            label.xyann = (x, y - label.get_fontsize() - 2)
        placed.append(label.get_window_extent(renderer))


def _benchmarked(stage: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {
        name: m
        for name, m in stage.get("models", {}).items()
        if m.get(key) is not None and m.get("latency_ms", {}).get("p50") is not None
    }


def plot_accuracy_latency(stage: dict[str, Any], path: Path) -> Path | None:
    """The task's metric (accuracy, mAP) vs headline p50 latency of every file of a benchmark
    stage, with the Pareto front; ``None`` if none."""
    metric = stage_headline(stage)
    models = _benchmarked(stage, metric.key)
    if not models:
        return None
    points = {n: (m["latency_ms"]["p50"], 100.0 * m[metric.key]) for n, m in models.items()}
    front = pareto_front(points)
    figure = new_figure((6.4, 4.2))
    ax = figure.subplots()
    labels = []
    for name, (lat, acc) in sorted(points.items(), key=lambda item: (-item[1][1], item[1][0])):
        precision = models[name].get("precision", "fp32")
        on_front = name in front
        ax.scatter(
            [lat],
            [acc],
            s=90 if on_front else 50,
            color=COLORS.get(precision, "#7f7f7f"),
            edgecolors="black" if on_front else "none",
            linewidths=1.2,
            zorder=3,
        )
        labels.append(
            ax.annotate(name, (lat, acc), textcoords="offset points", xytext=(6, 4), fontsize=8)
        )
    if len(front) > 1:
        xs = [points[n][0] for n in front]
        ys = [points[n][1] for n in front]
        ax.step(xs, ys, where="post", color="black", linestyle="--", linewidth=1, zorder=2)
    ax.plot([], [], "k--", label="Pareto front (outlined)")
    for precision, color in COLORS.items():
        if any(m.get("precision", "fp32") == precision for m in models.values()):
            ax.scatter([], [], color=color, label=precision.upper())
    batch = next(iter(models.values())).get("latency_batch", 1)
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency at batch {batch} (ms, onnxruntime, log scale)")
    ax.set_ylabel(f"test {metric.label} (%)")
    ax.set_title(f"{metric.label} vs latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    separate_labels(figure, labels)
    return _save(figure, path)


def plot_sizes(stage: dict[str, Any], path: Path) -> Path | None:
    """Horizontal bars: file size of every file of a benchmark stage; ``None`` if none."""
    models = {n: m for n, m in stage.get("models", {}).items() if m.get("file_bytes")}
    if not models:
        return None
    names = list(models)
    kib = [models[n]["file_bytes"] / 1024.0 for n in names]
    colors = [COLORS.get(models[n].get("precision", "fp32"), "#7f7f7f") for n in names]
    figure = new_figure((6.4, 0.5 * len(names) + 1.2))
    ax = figure.subplots()
    # A student is often hundreds of times smaller than its teacher: on a linear axis its bar
    # is a hairline, so a wide spread gets a log axis with bars rising from below the smallest.
    log = max(kib) > LOG_SIZE_SPREAD * min(kib)
    base = min(kib) / 3 if log else 0.0
    bars = ax.barh(names, [k - base for k in kib], left=base, color=colors)
    ax.invert_yaxis()  # the table's order, top to bottom
    for bar, value in zip(bars, kib, strict=True):
        ax.annotate(
            f"{value:,.1f} KiB",
            (value, bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_title("size per artifact")
    if log:
        ax.set_xscale("log")
        ax.set_xlim(base, max(kib) * 4)
        ax.set_xlabel("file size (KiB, log scale)")
    else:
        ax.set_xlim(0, max(kib) * 1.3)
        ax.set_xlabel("file size (KiB)")
    return _save(figure, path)


def moving_average(values: list[float | None], window: int) -> list[float | None]:
    """Trailing mean of the last ``window`` values present; ``None`` stays ``None``.

    Example:
        >>> moving_average([1.0, 3.0, None, 5.0, 7.0], 2)
        [1.0, 2.0, None, 4.0, 6.0]
    """
    present: list[float] = []
    smoothed: list[float | None] = []
    for value in values:
        if value is None:
            smoothed.append(None)
            continue
        present.append(value)
        recent = present[-window:]
        smoothed.append(sum(recent) / len(recent))
    return smoothed


def plot_training_curves(
    stages: dict[str, Any], path: Path, metric: Headline | None = None
) -> Path | None:
    """Loss and the validation metric (``metric``: accuracy by default) per epoch, one line
    per training stage; ``None`` if none."""
    metric = metric or Headline()
    val = f"val_{metric.key}"
    histories = {n: s["history"] for n, s in stages.items() if s.get("history")}
    if not histories:
        return None
    from matplotlib.ticker import MaxNLocator

    figure = new_figure((9.6, 3.8))
    loss_ax, acc_ax = figure.subplots(1, 2)
    for name, history in histories.items():
        epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
        losses = [h.get("loss") for h in history]
        accs = [None if h.get(val) is None else 100.0 * h[val] for h in history]
        # Hundreds of noisy epochs drawn point by point hide the trend: a long stage is drawn
        # faint, with the trend (a trailing mean over a thirtieth of the run) on top.
        window = max(2, len(history) // 30) if len(history) > SMOOTH_ABOVE_EPOCHS else 0
        for ax, values in ((loss_ax, losses), (acc_ax, accs)):
            if not window:
                ax.plot(epochs, values, marker=".", label=name)
                continue
            (raw,) = ax.plot(epochs, values, linewidth=0.6, alpha=0.3)
            trend = moving_average(values, window)
            ax.plot(epochs, trend, color=raw.get_color(), label=f"{name} (mean of {window} epochs)")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_yscale("log")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel(f"validation {metric.label} (%)")
    for ax, title in ((loss_ax, "training loss"), (acc_ax, f"validation {metric.label}")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(figure, path)


def write_plots(run_dir: Path, metrics: dict[str, Any]) -> dict[str, list[Path]]:
    """Draw every plot the metrics allow into ``run_dir``.

    Returns:
        Section -> the PNG files drawn for it: a benchmark stage's name, or ``training``.
    """
    run_dir = Path(run_dir)
    stages = metrics.get("stages", {})
    drawn: dict[str, list[Path]] = {}
    for name, stage in stages.items():
        if stage.get("type") != "benchmark":
            continue
        files = [
            plot_accuracy_latency(stage, run_dir / f"{name}_accuracy_vs_latency.png"),
            plot_sizes(stage, run_dir / f"{name}_sizes.png"),
        ]
        drawn[name] = [f for f in files if f is not None]
    curves = plot_training_curves(stages, run_dir / "training_curves.png", run_headline(metrics))
    if curves is not None:
        drawn["training"] = [curves]
    return drawn
