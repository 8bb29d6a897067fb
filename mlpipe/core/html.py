"""HTML reports (validation, gate, monitoring) from one small generator: a page of
sections, tables whose every cell is escaped, one stylesheet. Reports are read by people
in a browser, so values are shown as text and small tables, never as raw JSON."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse;margin:0.5em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left;"
    "vertical-align:top}th{background:#f4f4f4}"
    "td table{margin:0}td table td,td table th{font-size:12px;padding:2px 6px}"
    ".pass td:first-child,.ok td:first-child{color:#176c2c}"
    ".fail,.breach{background:#fde2e2}"
    ".fail td:first-child,.breach td:first-child{color:#a40000;font-weight:bold}"
    ".warn{background:#fff4d6}.skipped{color:#888}"
)


class Html(str):
    """Markup that is already safe: made by this module, never escaped again."""


def escape(value: Any) -> Html:
    """Any value as text that is safe inside HTML."""
    return Html(html.escape(str(value)))


def number(value: float) -> str:
    """A float for reading: four decimals, or four significant digits below one."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return format(round(value, 4), ".12g") if abs(value) >= 1 else f"{value:.4g}"


def text(value: Any) -> Html:
    """A cell's value as escaped text: numbers rounded for reading, None as empty."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    if isinstance(value, bool):
        return Html("yes" if value else "no")
    if isinstance(value, float):
        return Html(number(value))
    return escape(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    row_classes: Sequence[str | None] | None = None,
) -> Html:
    """A table; each cell is escaped unless it is ``Html`` (e.g. a nested table)."""
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = row_classes[i] if row_classes and i < len(row_classes) else None
        attr = f" class='{html.escape(css)}'" if css else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{text(c)}</td>" for c in row) + "</tr>")
    return Html(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def pairs(values: Mapping[str, Any], headers: Sequence[str] = ("", "")) -> Html:
    """A two-column table of names and values (a small dict, readable)."""
    return table(headers, [(name, value) for name, value in values.items()])


def heading(title: str, level: int = 2) -> Html:
    return Html(f"<h{level}>{text(title)}</h{level}>")


def paragraph(*parts: Any) -> Html:
    """A paragraph of text and ``Html`` parts (links, emphasis)."""
    return Html("<p>" + "".join(text(part) for part in parts) + "</p>")


def link(href: str, label: str) -> Html:
    return Html(f"<a href='{html.escape(href)}'>{text(label)}</a>")


def image(src: str, alt: str) -> Html:
    return Html(f"<img src='{html.escape(src)}' alt='{html.escape(alt)}'>")


def page(title: str, body: str | Iterable[str]) -> str:
    """A whole document: the title (escaped) as heading, then the body's markup (made with
    the functions above, or escaped by the caller)."""
    body = body if isinstance(body, str) else "".join(body)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{text(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{text(title)}</h1>{body}</body></html>\n"
    )
