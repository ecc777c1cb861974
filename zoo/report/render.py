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

from .base import GENERATED, Table, fmt, provenance

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


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured markdown page: generated marker, title, table (numeric columns right-aligned,
    padded so the source reads as a grid), notes and references."""
    check_slug(table.slug)
    ncol = len(table.columns)
    for i, r in enumerate(table.rows):
        if len(r) != ncol:
            raise ValueError(f"table {table.slug!r}: row {i} has {len(r)} cells, expected {ncol}")
    header = [_md_cell(c, table.digits) for c in table.columns]
    body = [[_md_cell(x, table.digits) for x in r] for r in table.rows]
    numeric = [
        any(_is_number(r[j]) for r in table.rows) and all(r[j] is None or _is_number(r[j]) for r in table.rows)
        for j in range(ncol)
    ]
    widths = [max([3, len(header[j])] + [len(r[j]) for r in body]) for j in range(ncol)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    out = [f"<!-- {GENERATED} -->", f"# {_one_line(table.title)}", ""]
    if ncol:
        out += [line(header), rule] + [line(r) for r in body]
        if not body:
            out += ["", "_No rows yet._"]
    notes = table_notes(table)
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
