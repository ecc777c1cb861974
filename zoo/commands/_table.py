"""Plain-text tables for the terminal (rich when the output is a terminal, aligned text otherwise)."""

from __future__ import annotations

import sys
from typing import Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> None:
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    if sys.stdout.isatty():
        # deferred: rich takes ~0.1 s to import and only a terminal needs it
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        for h in headers:
            t.add_column(h)
        for r in cells:
            t.add_row(*r)
        Console().print(t)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if title:
        print(title)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
