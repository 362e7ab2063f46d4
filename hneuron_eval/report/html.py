"""One self-contained, deterministic HTML page per leaderboard: sortable and filterable offline, readable without JS."""

from __future__ import annotations

import math
from html import escape
from urllib.parse import urlsplit

Cell = str | float | int | dict | None

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.95em; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; text-align: left; }
th { position: sticky; top: 0; background: #f4f4f4; }
th button { font: inherit; font-weight: bold; border: 0; padding: 0; background: none; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
.num, th[data-type="number"] { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
.sig-up { color: #1a7f37; font-weight: bold; }
.sig-down { color: #c62828; font-weight: bold; }
.na { color: #999; }
figure { margin: 2em 0; }
figure img { max-width: 100%; }
"""

# Sorts the body rows by one column (missing keys last in both directions, ties in the given order)
# and hides the rows whose cells do not contain the filter text.
_SCRIPT = """
(() => {
  const table = document.getElementById("leaderboard");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const texts = rows.map((row) => Array.from(row.cells, (cell) => cell.textContent.toLowerCase()).join("\\n"));
  const filter = document.getElementById("filter");
  const count = document.getElementById("count");
  const collator = new Intl.Collator(undefined, { numeric: true });

  function sortBy(th) {
    const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (const other of th.parentNode.cells) other.setAttribute("aria-sort", "none");
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    const numeric = th.dataset.type === "number";
    const keyed = rows.map((row, index) => {
      const sort = row.cells[th.cellIndex].dataset.sort;
      return { row, index, key: sort === "" ? null : numeric ? Number(sort) : sort };
    });
    keyed.sort((a, b) => {
      if (a.key === null || b.key === null) return (a.key === null) - (b.key === null) || a.index - b.index;
      return dir * (numeric ? a.key - b.key : collator.compare(a.key, b.key)) || a.index - b.index;
    });
    body.append(...keyed.map((item) => item.row));
  }

  function applyFilter() {
    const query = filter.value.toLowerCase();
    let shown = 0;
    rows.forEach((row, index) => {
      row.hidden = !texts[index].includes(query);
      shown += !row.hidden;
    });
    count.textContent = `${shown} of ${rows.length} rows`;
  }

  for (const th of table.tHead.rows[0].cells) th.addEventListener("click", () => sortBy(th));
  filter.addEventListener("input", applyFilter);
  applyFilter();
})();
"""


def _number_key(value: str | float | int) -> str:
    """``repr`` of the value as a float, or '' (sorts last) when it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return repr(number) if math.isfinite(number) else ""


def _cell(value: Cell, numeric: bool) -> tuple[str, str, str]:
    """The shown text, the ``data-sort`` key ('' sorts last) and the CSS class of one cell."""
    if isinstance(value, dict):
        text, css = str(value["text"]), str(value.get("class", ""))
        sort = value.get("sort", text)
    elif value is None:
        text, css, sort = "n/a", "na", None
    else:
        text, css, sort = str(value), "", value
    if sort is None:
        return text, "", css
    return text, _number_key(sort) if numeric else str(sort), css


def _th(column: dict) -> str:
    key, kind = escape(column["key"]), column.get("type", "text")
    tooltip = f' title="{escape(column["title"])}"' if column.get("title") else ""
    return (f'<th data-key="{key}" data-type="{kind}"{tooltip} aria-sort="none">'
            f'<button type="button">{escape(column["label"])}</button></th>')


def _td(column: dict, value: Cell) -> str:
    numeric = column.get("type") == "number"
    text, sort, css = _cell(value, numeric)
    classes = " ".join(filter(None, ["num" if numeric else "", css]))
    class_attr = f' class="{escape(classes)}"' if classes else ""
    return f'<td data-key="{escape(column["key"])}" data-sort="{escape(sort)}"{class_attr}>{escape(text)}</td>'


def _figure(plot: dict) -> str:
    src, caption = str(plot["src"]), escape(str(plot.get("caption", "")))
    parts = urlsplit(src)
    if parts.scheme or parts.netloc:
        raise ValueError(f"plot src must be a relative path (the page loads nothing from the network): {src!r}")
    return f'<figure><img src="{escape(src)}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def render_html(
    title: str, columns: list[dict], rows: list[dict], intro: str = "", plots: list[dict] | None = None
) -> str:
    """The leaderboard as one HTML5 document with inline CSS and JS; same inputs give the same bytes.

    ``columns``: ``{"key", "label", "type": "text"|"number", "title" (tooltip, optional)}`` in display order.
    ``rows``: column key -> plain value (shown with ``str``, ``None`` as "n/a") or ``{"text", "sort", "class"}``.
    A cell sorts by its ``sort`` if given, else by its value (number columns: as a number, else last).
    Missing and ``None`` keys sort last in both directions. ``plots``: ``{"src": relative path, "caption"}``.
    """
    for column in columns:
        if column.get("type", "text") not in ("text", "number"):
            raise ValueError(f"column {column['key']!r}: type must be 'text' or 'number', not {column['type']!r}")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        *([f"<p>{escape(intro)}</p>"] if intro else []),
        '<p><label for="filter">Filter rows:</label> <input id="filter" type="search" autocomplete="off"></p>',
        f'<p id="count" aria-live="polite">{len(rows)} of {len(rows)} rows</p>',
        '<table id="leaderboard">',
        f"<thead><tr>{''.join(_th(column) for column in columns)}</tr></thead>",
        "<tbody>",
        *(f"<tr>{''.join(_td(column, row.get(column['key'])) for column in columns)}</tr>" for row in rows),
        "</tbody>",
        "</table>",
        *(_figure(plot) for plot in plots or []),
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])
