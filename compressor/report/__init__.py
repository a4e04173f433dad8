"""``report.md``, its plots and ``report.html``: the run's figures as tables people can read.

Built only from ``metrics.json``, so a report can be rebuilt from a finished run folder
(``compressor report RUN_DIR``).

- :mod:`compressor.report.markdown`: :func:`render`, the whole ``report.md``;
  :mod:`compressor.report.benchmark` its benchmark sections.
- :mod:`compressor.report.format`: how counts, bytes, percentages, ratios, times and spreads
  are written.
- :mod:`compressor.report.plots` and :mod:`compressor.report.html`: the PNG plots and the
  self-contained page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.atomic import write_text
from compressor.report.markdown import render

__all__ = ["render", "write_report"]


def write_report(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``report.md``, its PNG plots and a self-contained ``report.html`` into ``run_dir``.

    Everything is drawn from ``metrics`` alone (``compressor report RUN_DIR`` rebuilds it from
    ``metrics.json``), and every file is written atomically.

    Args:
        run_dir: The run folder.
        metrics: The run's ``metrics.json``.

    Returns:
        The path of ``report.md``.
    """
    from compressor.report.html import markdown_to_html
    from compressor.report.plots import write_plots

    run_dir = Path(run_dir)
    drawn = write_plots(run_dir, metrics)
    plots = {section: [p.name for p in files] for section, files in drawn.items()}
    text = render(metrics, plots)
    path = write_text(run_dir / "report.md", text)
    title = f"compressor run: {metrics.get('recipe', '?')}"
    write_text(run_dir / "report.html", markdown_to_html(text, run_dir, title))
    return path
