"""Report plots: readable labels, visible bars and visible trends, checked on the drawn figures;
drawn without pyplot, so the process's matplotlib backend and logging stay the user's."""

from __future__ import annotations

from typing import Any

from compressor.report import plots
from compressor.report.plots import moving_average, new_figure, pareto_front, separate_labels
from tests.root_logger import state_after


def _drawn_figure(monkeypatch, plot: Any, *args: Any) -> Any:
    """Call a plot function and return its figure instead of saving it."""
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda figure, path: kept.setdefault("figure", figure))
    plot(*args)
    return kept["figure"]


def _labelled(points: list[tuple[str, float, float]]) -> tuple[object, list]:
    figure = new_figure((6.4, 4.2))
    ax = figure.subplots()
    ax.set_xscale("log")
    ax.set_xlim(0.005, 0.2)
    ax.set_ylim(98.0, 99.5)
    labels = [
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
        for name, x, y in points
    ]
    figure.tight_layout()
    return figure, labels


def _boxes(figure, labels) -> list:
    renderer = figure.canvas.get_renderer()
    return [label.get_window_extent(renderer) for label in labels]


def test_a_model_and_its_int8_copy_get_separate_labels() -> None:
    # The quickstart's student and student.int8 sit at the same accuracy, 10% apart in latency.
    figure, labels = _labelled(
        [
            ("student.onnx", 0.0060, 98.33),
            ("student.int8.onnx", 0.0066, 98.33),
            ("other.onnx", 0.0063, 98.33),
        ]
    )
    before = _boxes(figure, labels)
    assert before[0].overlaps(before[1])
    separate_labels(figure, labels)
    after = _boxes(figure, labels)
    for i, box in enumerate(after):
        assert not any(box.overlaps(other) for other in after[:i]), [
            label.xyann for label in labels
        ]
    assert labels[0].xyann == (6, 4)  # the first label stays where it was


def test_labels_far_apart_do_not_move() -> None:
    figure, labels = _labelled([("teacher.onnx", 0.1, 99.2), ("student.onnx", 0.006, 98.3)])
    separate_labels(figure, labels)
    assert [label.xyann for label in labels] == [(6, 4), (6, 4)]


def _size_figure(monkeypatch, tmp_path, sizes: dict[str, int]):
    stage = {
        "models": {name: {"file_bytes": size, "precision": "fp32"} for name, size in sizes.items()}
    }
    return _drawn_figure(monkeypatch, plots.plot_sizes, stage, tmp_path / "sizes.png")


def _bar_pixels(figure) -> list[float]:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    return [patch.get_window_extent(renderer).width for patch in figure.axes[0].patches]


def test_a_student_hundreds_of_times_smaller_still_has_a_visible_bar(monkeypatch, tmp_path) -> None:
    # The quickstart's files: 2,197 KiB teacher, 20.7 KiB student, 9.6 KiB INT8 student.
    sizes = {"teacher.onnx": 2_250_000, "student.onnx": 21_200, "student.int8.onnx": 9_900}
    figure = _size_figure(monkeypatch, tmp_path, sizes)
    assert figure.axes[0].get_xscale() == "log"
    widths = _bar_pixels(figure)
    assert min(widths) > 20, widths  # on a linear axis the INT8 bar was under 2 pixels
    assert widths[0] > widths[1] > widths[2]


def test_sizes_of_one_order_keep_a_linear_axis(monkeypatch, tmp_path) -> None:
    figure = _size_figure(monkeypatch, tmp_path, {"a.onnx": 40_000, "b.onnx": 10_000})
    assert figure.axes[0].get_xscale() == "linear"
    widths = _bar_pixels(figure)
    assert 3.5 < widths[0] / widths[1] < 4.5  # linear: bar lengths keep the sizes' ratio


def test_moving_average_skips_missing_values() -> None:
    assert moving_average([1.0, 3.0, None, 5.0, 7.0], 2) == [1.0, 2.0, None, 4.0, 6.0]
    assert moving_average([4.0, 2.0], 10) == [4.0, 3.0]


def _curves_figure(monkeypatch, tmp_path, epochs: int):
    # A loss that alternates between two values: its trend is flat at their mean.
    history = [
        {"epoch": e + 1, "loss": 0.2 if e % 2 else 0.6, "val_accuracy": 0.9} for e in range(epochs)
    ]
    stages = {"distill": {"history": history}}
    return _drawn_figure(monkeypatch, plots.plot_training_curves, stages, tmp_path / "curves.png")


def test_long_runs_get_a_trend_line_over_faint_epochs(monkeypatch, tmp_path) -> None:
    figure = _curves_figure(monkeypatch, tmp_path, 600)
    loss_ax = figure.axes[0]
    raw, trend = loss_ax.get_lines()
    assert raw.get_alpha() < 0.5 and raw.get_marker() in ("None", None, "")
    assert trend.get_label() == "distill (mean of 20 epochs)"
    assert all(abs(y - 0.4) < 1e-9 for y in trend.get_ydata()[20:])  # the alternation is gone


def test_short_runs_keep_every_epoch_as_a_point(monkeypatch, tmp_path) -> None:
    figure = _curves_figure(monkeypatch, tmp_path, 12)
    (line,) = figure.axes[0].get_lines()
    assert line.get_marker() == "." and line.get_label() == "distill"


def test_pareto_front() -> None:
    points = {"a": (1.0, 0.90), "b": (2.0, 0.95), "c": (3.0, 0.93), "d": (1.0, 0.85)}
    assert pareto_front(points) == ["a", "b"]


def test_drawing_the_report_leaves_matplotlib_and_logging_as_they_were(tmp_path) -> None:
    # A backend other than Agg, as a notebook's would be: drawing the report must keep it.
    left = state_after(
        f"""
        from compressor.report import write_report
        from tests.compressor.report.conftest import METRICS
        write_report({str(tmp_path)!r}, METRICS)
        """
    )
    assert left == {"pyplot": False, "backend": "svg", "root": [30, 0]}
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "training_curves.png" in pngs and len(pngs) >= 3, pngs
