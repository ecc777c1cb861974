"""Every plot `zoo report` makes is readable: a sane size, and no two texts (labels, ticks, titles, legend
entries) overlap where matplotlib can tell. Renders the plots of the committed raw rows."""

from pathlib import Path

import pytest

from zoo.report import topic_modules
from zoo.report.plots import DPI, new_figure, overlapping_texts, place_labels, style

ROOT = Path(__file__).resolve().parents[1]
MAX_PX = 1400  # a side longer than this does not fit a screen


def _render_all(tmp_path, monkeypatch):
    import matplotlib.figure
    import numpy as np
    from PIL import Image

    from zoo.results import read_all

    seen = []

    def check(fig, target, *a, **k):
        w, h = (fig.get_size_inches() * DPI).round()
        seen.append((fig, int(w), int(h), overlapping_texts(fig)))  # draws the figure
        # the PNG of that drawing, not drawn a second time (`zoo report --check` compares the real files)
        Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).save(target, format="png")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", check)
    rows = read_all(ROOT / "results" / "raw")
    for mod in topic_modules():
        if callable(getattr(mod, "plots", None)):
            mod.plots(rows, tmp_path / mod.__name__)
    return seen


@pytest.mark.slow
def test_every_committed_plot_is_readable(tmp_path, monkeypatch):
    seen = _render_all(tmp_path, monkeypatch)
    assert len(seen) > 10
    problems = []
    for fig, w, h, overlaps in seen:
        title = fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()
        if max(w, h) > MAX_PX:
            problems.append(f"{title!r}: {w}x{h} px")
        problems += [f"{title!r}: {a!r} overlaps {b!r}" for a, b in overlaps]
    assert problems == []


def test_overlap_check_finds_overlapping_labels_and_placement_avoids_them():
    with style():
        fig, ax = new_figure()
        ax.plot([0, 1, 10], [0, 1, 10], "o")
        ax.annotate("a long label", (1, 1), xytext=(3, 3), textcoords="offset points")
        ax.annotate("another long label", (1.01, 1.01), xytext=(3, 3), textcoords="offset points")
        assert overlapping_texts(fig)
        fig, ax = new_figure()
        pts = [(1, 1), (1.01, 1.01), (1.02, 1.0)]
        ax.plot([0, 10], [0, 10], "o")
        ax.plot(*zip(*pts), "o")
        place_labels(ax, pts, ["a long label", "another long label", "a third long label"])
        assert overlapping_texts(fig) == []
