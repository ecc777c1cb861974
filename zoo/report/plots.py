"""Shared plotting for `zoo report`: deterministic PNGs, a Pareto chart and a latency-distribution chart.

Deterministic means the same data gives the same bytes: figures are built on matplotlib's Agg canvas
(no pyplot state), under matplotlib's default style plus the fixed settings in ``STYLE`` (a user's
matplotlibrc is ignored), and saved with fixed dpi and metadata (no "Software" version string, no date;
a ``Comment`` chunk carrying the generated marker and a ``Title`` chunk the index uses as the caption).
Bytes can still differ between matplotlib/freetype versions, so ``zoo report --check`` compares plots
strictly only when the matplotlib version matches the one that made them (see zoo.report).

Topic modules making their own plots should do it as::

    from zoo.report.plots import new_figure, save_figure, style
    with style():
        fig, ax = new_figure()
        ...
        save_figure(fig, out_dir / "my_plot.png")
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from .base import GENERATED

DPI = 100
STYLE = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.formatter.use_locale": False,
    "path.simplify": False,
    "svg.hashsalt": "zoo",
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib defaults + STYLE for the duration (restored afterwards); ignores the user's matplotlibrc."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (7.0, 4.5),
               height_ratios: Sequence[float] | None = None):
    """A Figure on the Agg canvas and its axes (pyplot is never touched: no global figure state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, height_ratios=height_ratios)
    return fig, (axes[0, 0] if nrows == ncols == 1 else axes)


def figure_title(fig) -> str:
    """The suptitle, else the first axes title: the one-line caption stored in the PNG."""
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        return sup.get_text()
    for ax in fig.axes:
        if ax.get_title():
            return ax.get_title()
    return ""


def save_figure(fig, path: str | Path, title: str | None = None) -> Path:
    """Save a PNG with fixed dpi and metadata; the same figure gives the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = " ".join((title if title is not None else figure_title(fig)).split())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None, "Title": title})
    path.write_bytes(normalize_png(buf.getvalue()))
    return path


def png_title(path: str | Path) -> str:
    """The Title stored by save_figure ("" when absent or unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return str(im.info.get("Title", ""))
    except OSError:
        return ""


_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_META = (b"tEXt", b"iTXt", b"zTXt", b"tIME")


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_PNG_SIG):
        raise ValueError("not a PNG file")
    chunks, i = [], len(_PNG_SIG)
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        if len(body) != n:
            raise ValueError("truncated PNG")
        chunks.append((kind, body))
        i += 12 + n
        if kind == b"IEND":
            break
    return chunks


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def normalize_png(data: bytes) -> bytes:
    """The same image with only zoo's metadata: every text/time chunk is dropped (software versions,
    dates), the Title is kept, and a Comment chunk with the generated marker is added after IHDR. Makes a
    PNG from any plotting code carry the marker and no run-dependent bytes."""
    chunks = _png_chunks(data)
    title = ""
    for kind, body in chunks:
        if kind == b"tEXt" and body.startswith(b"Title\0"):
            title = body[6:].decode("latin-1")
        elif kind == b"iTXt" and body.startswith(b"Title\0"):
            title = body.split(b"\0", 5)[-1].decode("utf-8", "replace")
    meta = [(b"iTXt", b"Title\0\0\0\0\0" + title.encode("utf-8"))] if title else []
    meta.append((b"iTXt", b"Comment\0\0\0\0\0" + GENERATED.encode("utf-8")))
    out = [_PNG_SIG]
    for kind, body in chunks:
        if kind in _PNG_META:
            continue
        out.append(_png_chunk(kind, body))
        if kind == b"IHDR":
            out += [_png_chunk(k, b) for k, b in meta]
    return b"".join(out)


# --- Pareto chart -----------------------------------------------------------------------------------

def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (both maximized), by increasing x."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1], i))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))


# Offsets (points) tried in turn for a point's label: right, left, above, below, then further out.
_LABEL_OFFSETS = [(5, 3, "left"), (-5, 3, "right"), (5, -10, "left"), (-5, -10, "right"), (0, 9, "center"),
                  (0, -15, "center"), (5, 15, "left"), (-5, 15, "right"), (5, -22, "left"), (-5, -22, "right")]


def place_labels(ax, xy: Sequence[tuple[float, float]], labels: Sequence[str], fontsize: float = 7) -> None:
    """Label each point at the first offset (_LABEL_OFFSETS) whose text box stays inside the axes and overlaps
    no label placed before it; a label that fits nowhere gets the first offset. Call after the axis limits
    and scales are final."""
    fig = ax.figure
    fig.canvas.draw()  # the layout (constrained) and limits, so text boxes are where they will be saved
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    placed: list = []
    for (x, y), text in zip(xy, labels):
        chosen = None
        for dx, dy, ha in _LABEL_OFFSETS:
            t = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=fontsize)
            box = t.get_window_extent(renderer)
            fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1)
            if fits and not any(box.overlaps(b) for b in placed):
                chosen = (t, box)
                break
            t.remove()
        if chosen is None:
            dx, dy, ha = _LABEL_OFFSETS[0]
            t = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=fontsize)
            chosen = (t, t.get_window_extent(renderer))
        placed.append(chosen[1])


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of ``fig`` whose boxes overlap (as drawn): labels that hide each other."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    undrawn = set()  # tick labels of ticks outside the view: matplotlib keeps them, but does not draw them
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 * abs(hi - lo) <= tick.get_loc() <= hi + 1e-9 * abs(hi - lo):
                    undrawn.update((id(tick.label1), id(tick.label2)))
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in undrawn]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    out = []
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            if ba.width and bb.width and ba.overlaps(bb):
                out.append((a, b))
    return out


def log_if_decades(values: Sequence[float], span: float = 10.0) -> bool:
    """Whether an axis over ``values`` should be logarithmic: positive values spanning ``span``× or more."""
    pos = [v for v in values if v and v > 0]
    return bool(pos) and max(pos) / min(pos) >= span


def pareto_plot(
    points: Sequence[dict[str, Any]], path: str | Path, *, title: str, xlabel: str, ylabel: str
) -> Path:
    """Score vs throughput: ``points`` are dicts with ``x`` (items/s), ``y`` (score), ``label`` and optionally
    ``random_init`` (drawn hollow, "(random-init)" in its label). The x axis is logarithmic when the throughputs
    span a decade or more; the Pareto front is drawn as a line; labels are placed so that none overlap."""
    pts = sorted(points, key=lambda p: (p["x"], p["y"], p["label"]))
    with style():
        fig, ax = new_figure(size=(7.5, 5.0))
        xs, ys = [p["x"] for p in pts], [p["y"] for p in pts]
        front = pareto_front(list(zip(xs, ys)))
        on_front = set(front)
        rest = [i for i in range(len(pts)) if i not in on_front]
        hollow = {i for i, p in enumerate(pts) if p.get("random_init")}
        for group, color, label, z in ((rest, "tab:gray", "dominated (another model is faster and at least as good)", 3),
                                       (front, "tab:blue", "Pareto front (no model is both faster and better)", 4)):
            if group:
                ax.scatter([xs[i] for i in group], [ys[i] for i in group], s=30, zorder=z, label=label,
                           facecolors=["none" if i in hollow else color for i in group], edgecolors=color)
        if hollow:
            ax.scatter([], [], s=30, facecolors="none", edgecolors="tab:gray", label="hollow: random-init weights")
        if len(front) > 1:
            ax.plot([xs[i] for i in front], [ys[i] for i in front], color="tab:blue", lw=1, zorder=2)
        if log_if_decades(xs):
            ax.set_xscale("log")
        ax.margins(x=0.3, y=0.15)  # room for the labels of the outermost points
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if pts:
            ax.legend(loc="lower left", fontsize=7)
        place_labels(ax, list(zip(xs, ys)), [p["label"] + (" (random-init)" if p.get("random_init") else "")
                                              for p in pts])
        return save_figure(fig, path)


# --- latency distribution -----------------------------------------------------------------------------

MAX_HEIGHT_IN = 13.5  # at the report's DPI, a figure taller than ~1,400 px does not fit a screen


def latency_plot(panels: Sequence[dict[str, Any]], path: str | Path, *, title: str,
                 ylabel: str = "setting", xlabel: str = "latency per call (ms)") -> Path:
    """Latency per configuration, one panel per device.

    ``panels``: dicts with ``device`` (panel title) and ``series``: dicts with ``label`` and either
    ``samples`` (per-call latencies in ms: a box from p25 to p75 with whiskers p1 to p99) and/or percentiles
    ``p50``/``p90``/``p99`` (ms: markers on a line from p50 to p99). The x axis is latency in ms (``xlabel``
    says per call or per item; log when it spans a decade or more).
    """
    panels = list(panels)
    n = max(1, len(panels))
    heights = [max(1, len(p["series"])) for p in panels] or [1]
    from matplotlib.patches import Rectangle

    with style():
        per = min(0.2, (MAX_HEIGHT_IN - 0.9 - 1.0 * n) / sum(heights))  # inches a series; the figure fits a screen
        fig, axes = new_figure(n, 1, size=(8.0, 0.9 + per * sum(heights) + 1.0 * n),
                               height_ratios=[h + 3 for h in heights] if n > 1 else None)
        axes = [axes] if n == 1 else [row[0] for row in axes]
        for ax, panel in zip(axes, panels):
            series = panel["series"]
            values: list[float] = []
            boxed = False
            for k, s in enumerate(series):
                y = len(series) - 1 - k
                if s.get("samples"):  # box p25-p75, whiskers p1-p99, drawn by hand (stable across versions)
                    import numpy as np

                    q1, q25, q75, q99 = np.percentile(np.asarray(s["samples"], dtype=float), [1, 25, 75, 99])
                    ax.plot([q1, q99], [y, y], color="tab:gray", lw=1, zorder=1)
                    ax.add_patch(Rectangle((q25, y - 0.25), q75 - q25, 0.5, facecolor="tab:blue", alpha=0.25,
                                           edgecolor="tab:blue", zorder=2,
                                           label=None if boxed else "p25-p75, line p1-p99"))
                    boxed = True
                    values += [float(q1), float(q99)]
                pct = [(q, s.get(q)) for q in ("p50", "p90", "p99") if s.get(q) is not None]
                if pct:
                    ax.plot([pct[0][1], pct[-1][1]], [y, y], color="tab:gray", lw=1, zorder=1)
                for q, v in pct:
                    ax.scatter([v], [y], marker={"p50": "o", "p90": "s", "p99": "^"}[q], zorder=3,
                               color={"p50": "tab:blue", "p90": "tab:orange", "p99": "tab:red"}[q],
                               label=q if k == 0 else None, s=24)
                    values.append(v)
            ax.set_yticks(range(len(series)), [s["label"] for s in reversed(series)], fontsize=7)
            ax.set_ylim(-0.7, max(len(series), 1) - 0.3)
            if log_if_decades(values):
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(panel["device"], fontsize=8)
            if boxed or any(s.get(q) is not None for s in series for q in ("p50", "p90", "p99")):
                ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.suptitle(title)
        return save_figure(fig, path)
