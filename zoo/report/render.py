"""Table -> markdown and CSV text, byte for byte the same for the same table.

Every generated markdown file starts with the GENERATED line (an HTML comment). A CSV is plain data: the
header row first, then one line per row, nothing else (``pandas.read_csv(path)`` and ``csv.reader`` read it
as is); its title, notes, references and provenance are in its markdown twin, which links it, and zoo
knows it generated the CSV from the manifest (results/.generated). Floats are formatted by ``fmt`` with the
table's ``digits``; None renders as "—" in markdown and as an empty cell in CSV; newlines are "\\n" only.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from .base import GENERATED, Table, fmt, markdown_view, provenance

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug or ""):
        raise ValueError(f"table slug {slug!r} must be lowercase letters, digits, '_' or '-'")
    return slug


def table_notes(table: Table) -> list[str]:
    """The table's own notes, then the standard provenance lines when the table names its source rows."""
    notes = list(table.notes)
    if table.sources is not None:
        notes += [f"source {line}" if i == 0 else line for i, line in enumerate(provenance(table.sources))]
    return notes


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


def _md_cell(x: Any, digits: int) -> str:
    return _one_line(fmt(x, digits)).replace("|", "\\|")


_NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?%?$")


def _is_number(x: Any) -> bool:
    """Numbers, and strings that are one (pre-formatted cells such as sig() output), align right."""
    if isinstance(x, str):
        return bool(_NUMBER_RE.match(x))
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# Every markdown table fits a 120-column terminal and GitHub without scrolling: at most MAX_COLUMNS columns, lines
# of at most MAX_WIDTH characters, cells of at most MAX_CELL (a longer one ends in "… [n]", its full text in
# footnote n). Columns that do not fit are named in a note; the CSV has them all.
MAX_WIDTH = 120
MAX_COLUMNS = 12
MAX_CELL = 32


def _shown_columns(table: Table, cells: list[list[str]], header: list[str],
                   sections: list[list[int]]) -> tuple[list[int], list[int]]:
    """(indices shown in the markdown, indices left to the CSV): the brief columns (default: all but the
    section ones), left to right, while every section's table stays within MAX_COLUMNS and MAX_WIDTH."""
    names = list(table.columns)
    brief, section_cols = markdown_view(table)
    for c in (brief or []) + section_cols:
        if c not in names:
            raise ValueError(f"table {table.slug!r}: no column {c!r} (brief/sections name columns)")
    wanted = [names.index(c) for c in brief] if brief is not None else list(range(len(names)))
    wanted = [j for j in wanted if names[j] not in section_cols]
    shown: list[int] = []
    widths = [1] * len(sections)  # each section's line so far: "|" plus " cell |" per column

    def width(j: int, idx: list[int]) -> int:
        return max([3, min(len(header[j]), MAX_CELL)] + [min(len(cells[i][j]), MAX_CELL) for i in idx]) + 3

    for j in wanted:
        add = [width(j, idx) for idx in sections]
        if len(shown) < MAX_COLUMNS and all(w + a <= MAX_WIDTH for w, a in zip(widths, add)):
            shown.append(j)
            widths = [w + a for w, a in zip(widths, add)]
    left = [j for j in range(len(names)) if j not in shown and names[j] not in section_cols]
    return shown, left


class _Footnotes:
    """Long cells -> "start… [n]", the same text always the same n, numbered in order of first use."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}

    def cell(self, text: str) -> str:
        if len(text) <= MAX_CELL:
            return text
        n = self.texts.setdefault(text, len(self.texts) + 1)
        marker = f"… [{n}]"
        return text[: MAX_CELL - len(marker)].rstrip() + marker

    def lines(self) -> list[str]:
        return [f"[{n}] {text}" for text, n in self.texts.items()]


def _grid(header: list[str], body: list[list[str]], numeric: list[bool]) -> list[str]:
    widths = [max([3, len(header[j])] + [len(r[j]) for r in body]) for j in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    return [line(header), rule] + [line(r) for r in body]


def _sections(table: Table, cells: list[list[str]]) -> list[tuple[str | None, list[int]]]:
    """(heading, row indices) per distinct value of the section columns, in row order; one untitled section
    when the table has no section columns."""
    section_cols = markdown_view(table)[1]
    if not section_cols:
        return [(None, list(range(len(cells))))]
    idx = [table.columns.index(c) for c in section_cols]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(cells):
        groups.setdefault(" · ".join(r[j] for j in idx), []).append(i)
    return list(groups.items())


def table_lines(table: Table, heading: str = "## {}") -> tuple[list[str], list[str], list[str]]:
    """(markdown lines of the table(s), one per section under ``heading``; the long cells' footnotes; the
    names of the columns left to the CSV), fitting MAX_WIDTH and MAX_COLUMNS."""
    check_slug(table.slug)
    ncol = len(table.columns)
    for i, r in enumerate(table.rows):
        if len(r) != ncol:
            raise ValueError(f"table {table.slug!r}: row {i} has {len(r)} cells, expected {ncol}")
    header = [_md_cell(c, table.digits) for c in table.columns]
    cells = [[_md_cell(x, table.digits) for x in r] for r in table.rows]
    numeric = [
        any(_is_number(r[j]) for r in table.rows) and all(r[j] is None or _is_number(r[j]) for r in table.rows)
        for j in range(ncol)
    ]
    sections = _sections(table, cells)
    shown, left = _shown_columns(table, cells, header, [idx for _, idx in sections])
    notes = _Footnotes()
    out: list[str] = []
    if ncol:
        for title, idx in sections:
            if title is not None:
                out += [heading.format(title), ""]
            body = [[notes.cell(cells[i][j]) for j in shown] for i in idx]
            out += _grid([notes.cell(header[j]) for j in shown], body, [numeric[j] for j in shown]) + [""]
        if not cells:
            out += ["_No rows yet._", ""]
        out.pop()
    return out, notes.lines(), [_one_line(table.columns[j]) for j in left]


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured markdown page: generated marker, title, table(s) that fit 120 columns (numeric
    columns right-aligned, padded so the source reads as a grid; one per section), long cells' footnotes,
    notes and references."""
    lines, long_cells, left = table_lines(table)
    out = [f"<!-- {GENERATED} -->", f"# {_one_line(table.title)}", ""] + lines
    if long_cells:
        out += ["", "Long cells in full:", ""] + [f"- {_one_line(n)}" for n in long_cells]
    notes = table_notes(table)
    if left:
        notes.append(f"more columns in [{table.slug}.csv]({table.slug}.csv): " + ", ".join(left))
    if notes:
        out += ["", "Notes:", ""] + [f"- {_one_line(n)}" for n in notes]
    if table.references:
        out += ["", "References:", ""] + [f"- {_one_line(r)}" for r in table.references]
    out += ["", f"CSV: [{table.slug}.csv]({table.slug}.csv) (the same rows, plain: header first; the notes above are "
            "its provenance)", ""]
    return "\n".join(out)


def _csv_cell(x: Any, digits: int) -> str:
    return "" if x is None else _one_line(fmt(x, digits))


def to_csv(table: Table) -> str:
    """CSV twin of the table: the header row, then the rows; no comment lines (provenance: the markdown)."""
    check_slug(table.slug)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([_one_line(c) for c in table.columns])
    for r in table.rows:
        w.writerow([_csv_cell(x, table.digits) for x in r])
    return buf.getvalue()
