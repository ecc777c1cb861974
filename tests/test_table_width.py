"""Every committed markdown table fits a 120-column terminal (and GitHub without scrolling): at most 12
columns, lines of at most 120 characters, no cell over 60; the same for the README's leaderboard excerpt."""

from pathlib import Path

import pytest

from zoo.report import Table
from zoo.report.readme_excerpt import END, START
from zoo.report.render import MAX_CELL, MAX_COLUMNS, MAX_WIDTH, to_csv, to_markdown

ROOT = Path(__file__).resolve().parents[1]
CELL_LIMIT = 60


def table_problems(text: str) -> list[str]:
    """One line per table line of ``text`` that is too wide, has too many columns or too long a cell."""
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.replace("\\|", "\0").strip().strip("|").split("|")]
        if len(line) > MAX_WIDTH:
            out.append(f"line {i}: {len(line)} characters")
        if len(cells) > MAX_COLUMNS:
            out.append(f"line {i}: {len(cells)} columns")
        long = [c for c in cells if len(c) > CELL_LIMIT]
        if long:
            out.append(f"line {i}: a cell of {len(long[0])} characters")
    return out


def _excerpt(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    return text[text.index(START): text.index(END)]


COMMITTED = sorted((ROOT / "results").glob("*.md"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_tables_fit_120_columns(path):
    assert table_problems(path.read_text(encoding="utf-8")) == []


def test_readme_excerpt_fits_120_columns():
    excerpt = _excerpt(ROOT / "README.md")
    assert "|" in excerpt and table_problems(excerpt) == []


def test_the_check_finds_a_wide_table():
    wide = "| " + " | ".join(f"column {i}" for i in range(14)) + " |"
    assert len(table_problems(wide)) == 2  # too wide and too many columns
    assert table_problems("| " + "x" * 70 + " |") == ["line 1: a cell of 70 characters"]


def test_renderer_fits_a_wide_table_and_keeps_everything_in_the_csv():
    long = "a settings text " * 8
    t = Table(slug="wide", title="wide", columns=[f"c{i}" for i in range(20)],
              rows=[[long] + [f"value {i}" for i in range(19)], ["short"] + [1.5] * 19])
    md, csv = to_markdown(t), to_csv(t)
    assert table_problems(md) == []
    assert long.strip() in md  # the long cell in full, as a footnote
    assert "… [1]" in md and "more columns in [wide.csv](wide.csv): " in md
    assert all(f"value {i}" in csv for i in range(19)) and csv.count(long.strip()) == 1
    assert MAX_CELL <= CELL_LIMIT


def test_sections_split_a_table_under_headings():
    t = Table(slug="s", title="s", columns=["task", "model", "score"],
              rows=[["a", "m1", 1.0], ["a", "m2", 2.0], ["b", "m3", 3.0]], sections=["task"], brief=["model", "score"])
    md = to_markdown(t)
    assert "## a\n" in md and "## b\n" in md and "| task" not in md
    assert to_csv(t).splitlines()[0] == "task,model,score"


def test_committed_leaderboard_is_per_task_and_sorted_by_score():
    text = (ROOT / "results" / "leaderboard.md").read_text(encoding="utf-8")
    sections = text.split("\n## ")[1:]
    assert sections and all(" · cpu: " in s.splitlines()[0] or " · cuda: " in s.splitlines()[0] for s in sections)
    for s in sections:
        lines = [ln for ln in s.splitlines() if ln.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        assert {"score", "items/s", "ms/item"} <= set(header)  # speed beside the score
        i = header.index("score")
        scores = [c.strip() for ln in lines[2:] for c in [ln.strip("|").split("|")[i]]]
        ranked = [float(c) for c in scores if c != "—"]
        if "random-init" not in s:  # random-init entries are listed after the ranked ones
            assert ranked == sorted(ranked, reverse=True), s.splitlines()[0]
