"""results/index.html: self-contained and deterministic, and it works in a real headless browser (Debian's
chromium, which .ci/run installs): it renders, sorting by items/s reorders the rows, filtering to random-init
hides the real-weight rows, and no script error is raised."""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from zoo.report import Table
from zoo.report.page import page, row_facets

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "results" / "index.html"


class _Rows(HTMLParser):
    """Rows of every <table class="zoo">: slug -> [(row attributes, cell texts)]; the <html> attributes."""

    def __init__(self):
        super().__init__()
        self.tables, self.root, self.body = {}, {}, {}
        self._slug, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.root = a
        elif tag == "body":
            self.body = a
        elif tag == "table" and "zoo" in (a.get("class") or ""):
            self._slug = a["data-slug"]
            self.tables[self._slug] = []
        elif tag == "tr" and self._slug and "data-i" in a:
            self._row = (a, [])
            self.tables[self._slug].append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row[1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._slug, self._row = None, None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Rows:
    p = _Rows()
    p.feed(text)
    return p


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump(query: str, tmp_path: Path) -> tuple[_Rows, str]:
    """The page's DOM after its scripts ran with ``query``, and chromium's log (console errors are in it)."""
    out = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", PAGE.as_uri() + query],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    return _parse(out.stdout), out.stderr


def _items_per_s(rows, header_index: int) -> list[float]:
    vals = []
    for _, cells in rows:
        try:
            vals.append(float(cells[header_index]))
        except ValueError:
            pass
    return vals


needs_chromium = pytest.mark.skipif(_chromium() is None, reason="chromium not installed (.ci/run installs it: "
                                    "apt-get install chromium)")


@pytest.mark.slow
@needs_chromium
def test_page_renders_sorts_and_filters_in_chromium(tmp_path):
    from zoo.report.leaderboard import COLUMNS

    col = COLUMNS.index("items/s")
    plain, log = _dump("", tmp_path)
    assert plain.body.get("data-ready") == "1" and "data-errors" not in plain.root
    assert "Uncaught" not in log and "CONSOLE" not in log
    board = plain.tables["leaderboard"]
    assert len(board) > 5 and all("hidden" not in a for a, _ in board)
    assert [int(a["data-i"]) for a, _ in board] == list(range(len(board)))  # as generated
    before = _items_per_s(board, col)

    dom, log = _dump("?sort=leaderboard:items/s:desc&weights=random-init", tmp_path)
    assert dom.body.get("data-ready") == "1" and "data-errors" not in dom.root and "Uncaught" not in log
    board = dom.tables["leaderboard"]
    after = _items_per_s(board, col)
    assert after == sorted(before, reverse=True) and after != before  # sorting reordered the rows
    shown = [a for a, _ in board if "hidden" not in a]
    hidden = [a for a, _ in board if "hidden" in a]
    assert shown and all(a["data-weights"] == "random-init" for a in shown)
    assert any(a["data-weights"] == "real" for a in hidden)  # real-weight rows are hidden


def test_page_is_self_contained_and_deterministic(tmp_path):
    png = tmp_path / "plots" / "x.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG fake")
    t = Table(slug="t", title="T", columns=["device", "task", "model", "speed weights", "items/s"],
              rows=[["cpu: AMD EPYC 2c avx2", "image-classification", "a", "random-init", 3.0],
                    ["cpu: AMD EPYC 2c avx2", "image-classification", "b", "sha256 0123…", 5.0]])
    a = page([(t, "speed")], {"plots/x.png": "speed"}, tmp_path, {}, "raw", lambda rel: "caption <b>")
    b = page([(t, "speed")], {"plots/x.png": "speed"}, tmp_path, {}, "raw", lambda rel: "caption <b>")
    assert a == b and a.startswith("<!DOCTYPE html><!-- generated by `zoo report`")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", a)  # nothing from the network
    assert "data:image/png;base64," in a and "caption &lt;b&gt;" in a and 'href="#t"' in a


def test_row_facets():
    cols = ["device", "task", "rank", "model", "dataset", "speed weights", "score weights"]
    f = row_facets(cols, ["cpu: AMD EPYC 2c isa unknown", "object-detection", "random-init", "yolov8n", "coco",
                          "random-init", "same"])
    assert f == {"task": "object-detection", "device": "cpu", "machine": "AMD EPYC 2c isa unknown",
                 "weights": "random-init", "dataset": "coco"}
    # timed with random-init weights, scored with trained ones: a real entry (dense speed does not depend on values)
    h = row_facets(cols, ["cpu: x", "text-classification", "2", "bilstm", "sst2", "random-init", "sha256 01… (differs)"])
    assert h["weights"] == "real"
    g = row_facets(["machine", "weights"], ["AMD EPYC 2c avx2", "sha256 0123…"])
    assert g["machine"] == "AMD EPYC 2c avx2" and g["device"] == "" and g["weights"] == "real"


def test_committed_page_is_there():
    assert PAGE.is_file() and "<table class=\"zoo\"" in PAGE.read_text(encoding="utf-8")


def test_a_figure_links_the_tables_and_raw_rows_it_comes_from(tmp_path):
    from zoo.report.page import _tables_of_figure

    tables = [Table(slug=s, title=s, columns=["a"], rows=[]) for s in ("study_learning_rate", "study_metrics")]
    assert [t.slug for t in _tables_of_figure("plots/studies_learning_rate.png", tables)] == ["study_learning_rate"]
    assert len(_tables_of_figure("plots/studies_confusion_matrix.png", tables)) == 2  # no shared word: all
    png = tmp_path / "plots" / "studies_learning_rate.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG fake")
    rows = {"studies": [{"kind": "study"}], "speed": [{"kind": "speed"}]}
    html = page([(t, "studies") for t in tables], {"plots/studies_learning_rate.png": "studies"}, tmp_path, rows,
                "raw", lambda rel: "lr")
    figure = html[html.index("<figure"):]
    assert 'href="#study_learning_rate"' in figure and 'href="raw/studies.jsonl"' in figure
    assert "raw/speed.jsonl" not in figure and 'href="#study_metrics"' not in figure
