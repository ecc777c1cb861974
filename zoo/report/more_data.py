"""Misconception 4 (``zoo study more_data``): the table and the plot, from the study's latest run.

Every figure is the mean ± sample standard deviation over seeds of the rows' metrics; the plot also shows
every seed's point, so the spread is visible. What a cell is (frozen Lite0 features, a logistic-regression
head per cell) is said in the notes, from the rows' settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..spec import weights_label
from .base import Table, rows_of_kind
from .plots import new_figure, style
from .studies import _groups, _notes, _s, _save, _values, latest_runs, pm

STUDY = "more_data"
EXPERIMENTS = ("learning_curve", "label_noise", "augmentation")
DATA = ("data: data/cifar10 (CIFAR-10 test images, 32x32 JPEG): train 4,000 (400 per class) / held-out 1,000 "
        "(100 per class), see data/cifar10/README.md")
LABELS = {"learning_curve": "learning curve", "label_noise": "label noise", "augmentation": "augmentation"}


def _run(rows: dict[str, list[dict]]) -> list[dict] | None:
    return latest_runs(rows_of_kind(rows, "study")).get(STUDY)


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    run = _run(rows)
    if not run:
        return []
    body = []
    for (exp, n, noise, aug), g in _groups(run, lambda r: (_s(r, "experiment"), _s(r, "n_train"), _s(r, "noise"),
                                                            _s(r, "augment"))):
        body.append([LABELS.get(exp, exp), n, f"{100 * noise:.0f} %", f"on ({_s(g[0], 'views')} views)" if aug else "off",
                     pm(_values(g, "heldout_top1"), 2), pm(_values(g, "train_top1_given_labels"), 2),
                     pm(_values(g, "train_top1_true_labels"), 2), len(g)])
    r0 = run[0]
    notes = [n.replace("weights: random-init (trained here)", f"weights: {weights_label(r0.get('weights'))} "
                       "(EfficientNet-Lite0, ImageNet-1k, frozen)") for n in _notes(run, _method_notes(r0), DATA)]
    return [Table(
        slug="study_more_data", title="Misconception 4: more data is not always better (CIFAR-10, EfficientNet-Lite0)",
        columns=["experiment", "training images", "labels flipped", "augmentation", "held-out top-1 (%)",
                 "train top-1, given labels (%)", "train top-1, true labels (%)", "seeds"],
        rows=body,
        notes=notes,
        sources=run,
    )]


def _method_notes(r0: dict) -> list[str]:
    return [
        f"method: {_s(r0, 'method')}: EfficientNet-Lite0 with its real ImageNet weights, backbone frozen; the "
        f"head's 1,280 input features computed once per image at {_s(r0, 'image_size')} px (the 32x32 image "
        f"resized whole); per cell a {_s(r0, 'head')} head is fitted on the cell's training features and scored "
        f"top-1 on the {_s(r0, 'heldout_n')} held-out images. Not end-to-end fine-tuning of every cell "
        "(too much CPU here): it measures the data side of the claim with the probe of `zoo train --linear-probe`",
        "training images: a stratified subset (n / 10 per class) drawn with the seed; labels flipped: that share "
        "of the subset's labels replaced by a different class drawn uniformly (seeded); a seed changes only the "
        "subset and the flips, so at 4,000 images with no noise every seed sees the same data (spread 0)",
        f"augmentation on: the head is fitted on each image's clean features plus {_s(r0, 'views') or 'its'} "
        f"random views (timm create_transform(is_training=True): random-resized crop 60-100 %, flip), drawn once "
        f"with seed {_s(r0, 'view_seed')} (features of augmented views, not a network trained on them)",
        f"feature extraction took {_s(r0, 'features_s'):.0f} s of the study's wall time" if _s(r0, "features_s")
        else "feature extraction time: not recorded",
    ]


def plots(rows: dict[str, list[dict]], out_dir: Path) -> list[Path]:
    run = _run(rows)
    if not run:
        return []
    with style():
        fig, axes = new_figure(1, 3, size=(14.0, 4.2))
        _curve(axes[0, 0], [r for r in run if _s(r, "experiment") == "learning_curve"])
        _noise(axes[0, 1], [r for r in run if _s(r, "experiment") == "label_noise"])
        _augment(axes[0, 2], [r for r in run if _s(r, "experiment") == "augmentation"])
        from matplotlib.ticker import NullFormatter  # deferred: heavy

        for ax in axes[0]:  # log axes: label the sizes measured (the 2..9 minor labels ran into each other)
            if ax.get_xscale() == "log":
                xs = sorted({float(x) for line in ax.get_lines() for x in line.get_xdata()})
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
                ax.xaxis.set_minor_formatter(NullFormatter())
        fig.suptitle("Misconception 4: more data is not always better — Lite0 frozen features + linear head, "
                     "CIFAR-10 held-out top-1 (dots: seeds, line: mean)")
        return [_save(fig, run, Path(out_dir) / "studies_more_data.png")]


def _points(ax, x: float, vals: list[Any], color: str) -> float | None:
    v = [float(a) for a in vals if a is not None]
    ax.scatter([x] * len(v), v, s=12, alpha=0.6, color=color)
    return sum(v) / len(v) if v else None


def _curve(ax, rows: list[dict]) -> None:
    xs, means = [], []
    for n, g in _groups(rows, lambda r: _s(r, "n_train")):
        xs.append(n)
        means.append(_points(ax, n, _values(g, "heldout_top1"), "C0"))
    ax.plot(xs, means, color="C0", marker="o")
    ax.set(xscale="log", xlabel="training images (log scale)", ylabel="held-out top-1 (%)", title="learning curve")


def _noise(ax, rows: list[dict]) -> None:
    for i, (n, g) in enumerate(_groups(rows, lambda r: _s(r, "n_train"))):
        xs, means = [], []
        for noise, h in _groups(g, lambda r: _s(r, "noise")):
            xs.append(100 * noise)
            means.append(_points(ax, 100 * noise, _values(h, "heldout_top1"), f"C{i + 1}"))
        ax.plot(xs, means, color=f"C{i + 1}", marker="o", label=f"{n} images")
    ax.set(xlabel="labels flipped (%)", ylabel="held-out top-1 (%)", title="label noise")
    ax.legend(fontsize=8)


def _augment(ax, rows: list[dict]) -> None:
    for j, (aug, g) in enumerate(_groups(rows, lambda r: bool(_s(r, "augment")))):
        xs, means = [], []
        for n, h in _groups(g, lambda r: _s(r, "n_train")):
            xs.append(n)
            means.append(_points(ax, n, _values(h, "heldout_top1"), f"C{j + 4}"))
        ax.plot(xs, means, color=f"C{j + 4}", marker="o", label="augmented views" if aug else "clean only")
    ax.set(xscale="log", xlabel="training images (log scale)", ylabel="held-out top-1 (%)", title="augmentation")
    ax.legend(fontsize=8)
