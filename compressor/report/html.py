"""``report.html``: ``report.md`` as one self-contained page.

The Markdown is rendered by markdown-it-py (CommonMark, with GitHub's pipe tables), so the page
shows what a Markdown viewer shows for ``report.md``: a table cell holding an escaped ``\\|``
stays one cell, numbered lists, emphasis and links render. Three rules are compressor's own:
images are embedded as base64 PNG data URIs (the page has no external asset and can be mailed
or attached to a ticket as one file), short cells are figures that must not wrap, and a
``<br>`` (how :func:`compressor.report.format.markdown_table` writes a line break inside a cell)
is a line break. Any other HTML in the Markdown is shown as text: the report's cells hold error
messages, and a page built from them must not run or style anything they contain.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
td.figure { white-space: nowrap; }
.table { overflow-x: auto; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
h1, h2, h3 { margin-top: 1.6rem; }
"""

#: Cells up to this long are one figure ("21.667 ms", "5.11 M") and must not break across lines;
#: longer ones are sentences (a stage's result) and wrap.
FIGURE_CHARS = 24

#: The one HTML tag a cell may hold: a line break (see the module docstring).
LINE_BREAK = "<br>"


def image_tag(alt: str, src: str, base: Path) -> str:
    """An ``<img>`` with the PNG at ``base / src`` embedded; a note when the file is missing."""
    file = base / src
    if not file.is_file():
        return f"<em>(missing plot {html.escape(src)})</em>"
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _line_break(state: StateInline, silent: bool) -> bool:
    """Inline rule: a literal ``<br>`` is a hard line break (raw HTML is otherwise text)."""
    if not state.src.startswith(LINE_BREAK, state.pos):
        return False
    if not silent:
        state.push("hardbreak", "br", 0)
    state.pos += len(LINE_BREAK)
    return True


def _converter(base: Path) -> MarkdownIt:
    """A CommonMark renderer with pipe tables, raw HTML off, and the report's three rules."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.inline.ruler.before("html_inline", "line_break", _line_break)

    def image(
        self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        token = tokens[idx]
        alt = self.renderInlineAsText(token.children or [], options, env)
        return image_tag(alt, str(token.attrGet("src") or ""), base)

    def td_open(
        self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        cell = tokens[idx + 1]  # the inline token holding the cell's Markdown
        if cell.type == "inline" and len(cell.content) <= FIGURE_CHARS:
            tokens[idx].attrSet("class", "figure")
        return self.renderToken(tokens, idx, options, env)

    def table_open(self: RendererHTML, *args: Any) -> str:
        return '<div class="table"><table>\n'

    def table_close(self: RendererHTML, *args: Any) -> str:
        return "</table></div>\n"

    for rule in (image, td_open, table_open, table_close):
        md.add_render_rule(rule.__name__, rule)
    return md


def markdown_to_html(markdown: str, base: Path, title: str) -> str:
    """Convert the report's Markdown to a complete HTML page.

    Args:
        markdown: ``report.md``'s text.
        base: The folder image paths are relative to (the run folder).
        title: The page title.

    Returns:
        The page: one file, its plots embedded.
    """
    body = _converter(Path(base)).render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + body
        + "</body></html>\n"
    )
