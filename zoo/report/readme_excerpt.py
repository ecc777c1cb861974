"""The leaderboard excerpt in the project README, kept equal to the rows by `zoo report`.

The README carries a block between two marker lines::

    <!-- zoo report: leaderboard excerpt -->
    ...
    <!-- zoo report: end of leaderboard excerpt -->

`zoo report` replaces what lies between them with the scored rows of the leaderboard (rank 1..N per task,
device and data), so the numbers in the README's tour are as generated as results/ itself; `zoo report --check`
fails when the block differs. A README without the markers is left alone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from . import leaderboard
from .render import table_lines

START = "<!-- zoo report: leaderboard excerpt -->"
END = "<!-- zoo report: end of leaderboard excerpt -->"
COLUMNS = ["rank", "model", "score", "95% CI", "items/s", "ms/item", "setting"]
PER_TASK = 2  # rows kept per (task, device, data)


def excerpt(rows: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown for the block: the best-ranked scored leaderboard rows of each task, device and data set,
    one small table each under a bold heading that says what was scored (a sample says so)."""
    (board,) = leaderboard.tables(rows)
    rank = board.columns.index("rank")
    kept = [r for r in board.rows if isinstance(r[rank], int) and r[rank] <= PER_TASK]
    table = replace(board, rows=kept, brief=COLUMNS)
    lines, long_cells, _ = table_lines(table, heading="**{}**")
    if not kept:
        lines = ["_No scored and timed models yet._"]
    foot = [f"- {c}" for c in long_cells]
    return "\n".join(lines + ([""] + foot if foot else [])) + "\n\nScores with a 95 % Wilson interval where the " \
        "score is a share of items; items/s and ms/item (median latency per item) on the machine named above; " \
        "setting key and every other column: [results/leaderboard.md](results/leaderboard.md).\n"


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
