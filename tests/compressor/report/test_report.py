"""compressor.report.write_report and ``compressor report``: every file rebuilt from metrics alone."""

from __future__ import annotations

import copy
import json
import re

from compressor import cli
from compressor.report import write_report
from tests.compressor.report.conftest import METRICS


def test_report_files_are_rebuilt_from_metrics_alone(tmp_path) -> None:
    write_report(tmp_path, copy.deepcopy(METRICS))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "benchmark_accuracy_vs_latency.png",
        "benchmark_sizes.png",
        "report.html",
        "report.md",
        "training_curves.png",
    ]
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    # Self-contained: no link, script or stylesheet outside the file.
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page
    assert "<strong>1.5× slower</strong>" in page and "<th>model</th>" in page
    markdown = (tmp_path / "report.md").read_text()
    assert "![training curves](training_curves.png)" in markdown


def test_cli_report_rebuilds_a_run_folder(tmp_path, capsys) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    assert cli.main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists() and "wrote" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "metrics.json: not found" in err and "\n" not in err
