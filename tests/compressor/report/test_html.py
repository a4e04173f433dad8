"""compressor.report.html: a self-contained page from the report's Markdown."""

from __future__ import annotations

import base64

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


def _rows(page: str) -> list[str]:
    return page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("</tr>")[:-1]


def test_an_escaped_pipe_in_a_code_span_stays_one_cell(tmp_path) -> None:
    table = "| stage | result |\n|---|---|\n| `a` | `x \\| y` and z \\| w |\n"
    (row,) = _rows(markdown_to_html(table, tmp_path, "t"))
    assert row.count("<td") == 2
    assert "<code>x | y</code> and z | w</td>" in row


def test_lists_emphasis_and_links_render(tmp_path) -> None:
    text = "1. first\n2. second\n\n*stress* and _this_, see [the docs](https://example.org/d).\n"
    page = markdown_to_html(text, tmp_path, "t")
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in page
    assert "<em>stress</em>" in page and "<em>this</em>" in page
    assert '<a href="https://example.org/d">the docs</a>' in page


def test_html_in_the_markdown_is_text_but_a_cell_line_break_is_a_break(tmp_path) -> None:
    table = "| a |\n|---|\n| <script>alert(1)</script> one<br>two |\n"
    page = markdown_to_html(table, tmp_path, "t")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "one<br />\ntwo</td>" in page


def test_plots_are_embedded_and_a_missing_one_is_named(tmp_path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    (tmp_path / "curves.png").write_bytes(png)
    page = markdown_to_html("![training curves](curves.png)\n\n![gone](gone.png)\n", tmp_path, "t")
    encoded = base64.b64encode(png).decode("ascii")
    assert f'<img alt="training curves" src="data:image/png;base64,{encoded}">' in page
    assert "<em>(missing plot gone.png)</em>" in page and 'src="gone.png"' not in page
