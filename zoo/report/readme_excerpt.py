"""The leaderboard excerpt in the project README, kept equal to the rows by `zoo report`.

The README carries a block between two marker lines::

    <!-- zoo report: leaderboard excerpt -->
    ...
    <!-- zoo report: end of leaderboard excerpt -->

`zoo report` replaces what lies between them with the scored rows of the leaderboard (rank 1..N per task
and device), so the numbers in the README's tour are as generated as results/ itself; `zoo report --check`
fails when the block differs. A README without the markers is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import leaderboard
from .base import fmt

START = "<!-- zoo report: leaderboard excerpt -->"
END = "<!-- zoo report: end of leaderboard excerpt -->"
COLUMNS = ["device", "task", "rank", "model", "scenario", "batch", "score metric", "score", "dataset",
           "items/s", "p50 ms", "params M", "GFLOPs/item", "score weights"]
PER_TASK = 2  # rows kept per (device, task)


def excerpt(rows: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown for the block: the best-ranked scored leaderboard rows of each device and task."""
    (board,) = leaderboard.tables(rows)
    idx = {c: board.columns.index(c) for c in COLUMNS}
    kept = [r for r in board.rows if isinstance(r[idx["rank"]], int) and r[idx["rank"]] <= PER_TASK]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in kept:
        lines.append("| " + " | ".join(_cell(r[idx[c]]) for c in COLUMNS) + " |")
    if not kept:
        lines.append("| " + " | ".join(["—"] * len(COLUMNS)) + " |")
    return "\n".join(lines) + "\n\nFull table, with latency percentiles, memory, % of peak and every setting: " \
        "[results/leaderboard.md](results/leaderboard.md).\n"


def _cell(x: Any) -> str:
    return fmt(x, 2).replace("|", "\\|") if x is not None else "—"


def splice(text: str, block: str) -> str | None:
    """``text`` with the lines between the markers replaced by ``block``; None when there are no markers."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return None
    head = text[: start + len(START)]
    return f"{head}\n{block}{text[end:]}"


def updated_readme(readme: Path, rows: dict[str, list[dict[str, Any]]]) -> str | None:
    """The README's text with its excerpt brought up to date, or None when nothing changes (also: no
    README, or one without markers). ``zoo report`` writes it together with results/, all or nothing."""
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    new = splice(text, excerpt(rows))
    return None if new is None or new == text else new
