"""compressor.report.html: a self-contained page from the report's Markdown."""

from __future__ import annotations

from compressor.report.html import markdown_to_html


def test_html_escapes_and_survives_odd_lines(tmp_path) -> None:
    page = markdown_to_html("# a <b>\n\n![broken](\ntext & more\n- item `x<y`\n", tmp_path, "t")
    assert "<h1>a &lt;b&gt;</h1>" in page and "text &amp; more" in page
    assert "<li>item <code>x&lt;y</code></li>" in page


def test_html_figures_do_not_wrap_but_sentences_do(tmp_path) -> None:
    result = "test accuracy 98.33% (PyTorch); 9.61 k parameters; 63,946 samples/s"
    table = f"| stage | time | result |\n|---|---|---|\n| `teacher` | 21.667 ms | {result} |\n"
    page = markdown_to_html(table, tmp_path, "t")
    assert '<td class="figure">21.667 ms</td>' in page
    assert '<td class="figure"><code>teacher</code></td>' in page
    assert f"<td>{result}</td>" in page
    assert '<div class="table"><table>' in page and "</table></div>" in page
