"""``report.html``: ``report.md`` as one self-contained page.

The Markdown the report writes uses a small subset (headings, paragraphs, bullet lists, pipe
tables, images, ``code`` and **bold**), so it is converted here rather than with a Markdown
library. Images are embedded as base64 PNG data URIs: the page has no external asset and can be
mailed or attached to a ticket as one file.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")

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


def inline(text: str) -> str:
    """Escape ``text`` and render its ``code`` spans and **bold** runs."""
    escaped = html.escape(text, quote=False)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return _BOLD.sub(r"<strong>\1</strong>", escaped)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def image_tag(alt: str, src: str, base: Path) -> str:
    """An ``<img>`` with the PNG at ``base / src`` embedded; a note when the file is missing."""
    file = base / src
    if not file.is_file():
        return f"<p><em>(missing plot {html.escape(src)})</em></p>"
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


#: Cells up to this long are one figure ("21.667 ms", "5.11 M") and must not break across lines;
#: longer ones are sentences (a stage's result) and wrap.
FIGURE_CHARS = 24


def _td(cell: str) -> str:
    kind = ' class="figure"' if len(cell) <= FIGURE_CHARS else ""
    return f"<td{kind}>{inline(cell)}</td>"


def markdown_to_html(markdown: str, base: Path, title: str) -> str:
    """Convert the report's Markdown to a complete HTML page.

    Args:
        markdown: ``report.md``'s text.
        base: The folder image paths are relative to (the run folder).
        title: The page title.
    """
    body: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line:
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
            i += 1
        elif (match := _IMAGE.match(line.strip())) is not None:
            body.append(image_tag(match["alt"], match["src"], base))
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            header, data = (
                rows[0],
                [r for r in rows[1:] if not all(set(c) <= {"-", ":"} for c in r)],
            )
            head = "".join(f"<th>{inline(c)}</th>" for c in header)
            body.append(f'<div class="table"><table><thead><tr>{head}')
            body.append("</tr></thead><tbody>")
            body += ["<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in data]
            body.append("</tbody></table></div>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:].strip())}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
        else:
            paragraph = [line.strip()]  # taken whatever it starts with, so the loop always moves
            i += 1
            while (
                i < len(lines)
                and lines[i].strip()
                and not lines[i].startswith(("#", "|", "- ", "!["))
            ):
                paragraph.append(lines[i].strip())
                i += 1
            body.append(f"<p>{inline(' '.join(paragraph))}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
