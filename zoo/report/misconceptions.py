"""Tables and plots of the article's misconceptions 3 and 5 (``zoo study bigger_better`` / ``faithfulness``, and the
committed eval and speed rows).

Misconception 3, bigger is better: (a) size, cost, latency and accuracy of the image classifiers with real or
trained weights, joined from the rows already measured (eval: the latest real-weight row per model and data
set; speed: the latest ok batch-1 fp32 eager row per model); (b) the width sweep of the bigger_better study.
Misconception 5, networks are black boxes: the deletion test of the faithfulness study.
Every figure is computed here from the rows; nothing is typed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..registry import get_spec
from ..results import machine_identity
from ..spec import RANDOM_INIT, weights_label
from .base import Table, _machine_label, fmt, interval_text, rows_of_kind, sig, wilson
from .plots import new_figure, place_labels, save_figure, style
from .studies import latest_runs, mean_std, pm

METHOD_NAMES = {"gradcam": "Grad-CAM", "saliency": "saliency", "ig": "integrated gradients", "random": "random pixels"}


def _s(r: dict, k: str) -> Any:
    return r.get("settings", {}).get(k)


def _m(r: dict, k: str) -> Any:
    return r.get("metrics", {}).get(k)


def _groups(rows: Sequence[dict], key: Callable[[dict], Any]) -> list[tuple[Any, list[dict]]]:
    out: dict[Any, list[dict]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return list(out.items())


# --- misconception 3 (a): size, cost, latency, accuracy from existing rows ----------------------------------

def real_weight_evals(rows: dict[str, list[dict]]) -> list[dict]:
    """The latest image-classification eval row per (model, data set, weights) with real or trained weights,
    scored in fp32 eager (rows through another backend or precision are left out)."""
    latest: dict[tuple, dict] = {}
    for r in rows_of_kind(rows, "eval"):
        if r.get("task") != "image-classification" or r.get("weights") in (None, RANDOM_INIT) or r.get("error"):
            continue
        if r.get("backend") or _s(r, "backend") not in (None, "eager") or _s(r, "dtype") not in (None, "float32"):
            continue  # scored through another backend or precision (zoo eval --backend): not the model itself
        key = (r["model"], r.get("dataset"), r.get("weights"))
        if key not in latest or str(r.get("time", "")) >= str(latest[key].get("time", "")):
            latest[key] = r
    return sorted(latest.values(), key=lambda r: (str(r.get("dataset")), _cost(r["model"], {})[1] or 0, r["model"]))


def batch1_speed(rows: dict[str, list[dict]]) -> dict[str, dict]:
    """model -> its latest ok SingleStream (batch 1) speed row in fp32 eager (the same backend for every model)."""
    out: dict[str, dict] = {}
    for r in rows_of_kind(rows, "speed"):
        if r.get("status", "ok") != "ok" or _s(r, "batch_size") != 1:
            continue
        if not str(r.get("backend_used") or "").startswith("eager+fp32"):
            continue
        if r["model"] not in out or str(r.get("time", "")) >= str(out[r["model"]].get("time", "")):
            out[r["model"]] = r
    return out


def _cost(model: str, speed: dict[str, dict]) -> tuple[int | None, float | None]:
    """(params, GFLOPs per image) from the speed row when there is one, else the spec (cost.json)."""
    r = speed.get(model)
    if r is not None and _m(r, "params") is not None:
        return _m(r, "params"), _m(r, "gflops_per_item")
    try:
        spec = get_spec(model)
    except Exception:  # a model no longer registered: its row still shows, without cost
        return None, None
    return spec.params, (spec.flops / 1e9 if spec.flops else None)


def _size_rows(evals: list[dict], speed: dict[str, dict]) -> list[list[Any]]:
    body = []
    for data, g in _groups(evals, lambda r: r.get("dataset")):
        base = g[0]
        bp, bf = _cost(base["model"], speed)
        bl = _m(speed[base["model"]], "p50_ms") if base["model"] in speed else None
        for r in g:
            params, gflops = _cost(r["model"], speed)
            sp = speed.get(r["model"])
            lat = _m(sp, "p50_ms") if sp else None
            body.append([
                r["model"], data, weights_label(r.get("weights")), sig(params / 1e6 if params else None),
                sig(gflops), lat, _m(r, "top1"), _interval(r), _m(r, "top5"), r.get("n"),
                _ratio(params, bp), _ratio(gflops, bf), _ratio(lat, bl),
                None if _m(r, "top1") is None or _m(base, "top1") is None else _m(r, "top1") - _m(base, "top1"),
                machine_identity(sp.get("machine")) if sp else "not measured: `zoo bench " + r["model"] + "`",
            ])
    return body


def _interval(r: dict) -> str | None:
    return interval_text(_m(r, "top1"), r.get("n"))


def _ratio(x, base) -> str | None:
    return None if x is None or not base else f"{x / base:.2f}x"


def size_table(rows: dict[str, list[dict]]) -> Table | None:
    evals = real_weight_evals(rows)
    if not evals:
        return None
    speed = batch1_speed(rows)
    machines = sorted({_machine_label(speed[r["model"]].get("machine")) for r in evals if r["model"] in speed})
    return Table(
        slug="misconception3_size_vs_accuracy", title="Misconception 3: bigger vs better (real weights, same data)",
        columns=["model", "data", "weights", "params (M)", "GFLOPs / image", "latency p50 (ms, batch 1)", "top-1 (%)",
                 "top-1 95 % interval", "top-5 (%)", "images", "params vs smallest", "FLOPs vs smallest", "latency vs smallest",
                 "top-1 vs smallest (points)", "latency measured on"],
        rows=_size_rows(evals, speed), digits=1,
        notes=[
            "accuracy: the latest `zoo eval` row per model and data set with real or trained weights (random-init "
            "rows left out); 'smallest' = the model with the fewest FLOPs on the same data",
            "latency: the latest ok SingleStream row of `zoo bench` per model, batch 1, fp32 eager, CPU (the same "
            "backend for every model); a fine-tuned model's latency is its architecture's (same network, new head)",
            "params and FLOPs (GFLOPs = 2 x multiply-accumulates per image) from the speed row, else the spec "
            "(zoo/models/cost.json)",
            "latency machines: " + ("; ".join(machines) if machines else "none measured yet"),
            "data imagenet_sample_dev: 200 ImageNet photos (one per 5th class): each photo is 0.5 points of top-1; "
            "95 % interval: Wilson score interval of top-1 over the images scored (overlapping intervals: the "
            "difference is within what the sample can tell apart)",
        ],
        sources=evals + [speed[r["model"]] for r in evals if r["model"] in speed],
    )


# --- misconception 3 (b): the width sweep -------------------------------------------------------------------

def width_table(run: list[dict]) -> Table:
    body = []
    for (items, width), g in _groups(run, lambda r: (_s(r, "train_items"), _s(r, "width"))):
        body.append([items, width, int(_m(g[0], "params")), pm([_m(r, "train_accuracy") for r in g], 1, 100.0),
                     pm([_m(r, "test_accuracy") for r in g], 1, 100.0), pm([_m(r, "gap") for r in g], 1, 100.0),
                     pm([_m(r, "test_loss") for r in g], 3), pm([_m(r, "best_test_accuracy") for r in g], 1, 100.0),
                     pm([_m(r, "train_s") for r in g], 2)])
    r0 = run[0]
    return Table(
        slug="misconception3_width", title="Misconception 3: width vs over-fitting on a small training set (digits)",
        columns=["training images", "hidden width", "params", "train accuracy (%)", "held-out accuracy (%)",
                 "train - held-out (points)", "held-out loss", "best epoch's held-out accuracy (%)", "training time (s)"],
        rows=body,
        notes=[
            "data: scikit-learn digits (UCI optdigits 8x8); training: a fixed subset of the training split (seed "
            f"{_s(r0, 'subset_seed')}); held out: the 360-image test split; inputs = pixel counts / 16",
            f"model: MLP, {_s(r0, 'depth')} hidden ReLU layer (He init); Adam lr {_s(r0, 'lr')}, batch "
            f"{_s(r0, 'batch_size')}, {_s(r0, 'epochs')} epochs, no early stopping, no regularization",
            f"mean ± sample std over seeds {', '.join(str(s) for s in sorted({_s(r, 'seed') for r in run}))}; "
            f"run {r0.get('run_id')}, study wall time {fmt(r0.get('study_wall_s'), 1)} s, one thread",
            "best epoch's held-out accuracy: the highest over epochs (what early stopping on held-out data could "
            "have kept); it is not a fair test score, shown to size the cost of training on",
            f"command: `{r0.get('command')}`",
        ],
        sources=run,
    )


# --- misconception 5: faithfulness ----------------------------------------------------------------------------

def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (binomial, p = 1/2) of ``wins`` against ``losses`` (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(max(wins, losses), n + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def _paired(method_rows: list[dict], random_rows: list[dict]) -> tuple[float | None, float | None]:
    """(% of images whose drop under the method exceeds their mean drop under the random draws, the sign
    test's p-value of that split)."""
    if not method_rows or not random_rows:
        return None, None
    d = method_rows[0]["curves"]["drop"]
    draws = [r["curves"]["drop"] for r in random_rows]
    mean_rand = [sum(x) / len(x) for x in zip(*draws)]
    wins = sum(a > b for a, b in zip(d, mean_rand))
    losses = sum(a < b for a, b in zip(d, mean_rand))
    return 100.0 * wins / len(d), sign_test(wins, losses)


def faithfulness_table(run: list[dict]) -> Table:
    body = []
    rand = {k: g for k, g in _groups([r for r in run if _s(r, "method") == "random"], lambda r: _s(r, "k_pct"))}
    for (k, method), g in _groups(run, lambda r: (_s(r, "k_pct"), _s(r, "method"))):
        rd, _, _ = mean_std([_m(r, "mean_drop") for r in rand.get(k, [])])
        drop, _, _ = mean_std([_m(r, "mean_drop") for r in g])
        is_random = method == "random"
        share, p = (None, None) if is_random else _paired(g, rand.get(k, []))
        body.append([k, METHOD_NAMES.get(method, method), pm([_m(r, "mean_score") for r in g], 3),
                     pm([_m(r, "mean_drop") for r in g], 3), pm([_m(r, "top1") for r in g], 1),
                     None if is_random or rd is None else drop - rd,
                     None if share is None else fmt(share, 1), None if p is None else f"{p:.2g}",
                     "—" if is_random or rd is None else ("yes" if drop > rd else "no")])
    body.sort(key=lambda row: (row[0], list(METHOD_NAMES.values()).index(row[1]) if row[1] in METHOD_NAMES.values() else 9))
    r0 = run[0]
    return Table(
        slug="misconception5_faithfulness", title="Misconception 5: are attribution maps faithful? (deletion test)",
        columns=["deleted (% of pixels)", "pixels chosen by", "true-class probability after", "drop from intact",
                 "top-1 after (%)", "drop minus random's", "images hurt more than by random (%)",
                 "sign test p", "faithful (drop > random's)"],
        rows=body, digits=3,
        notes=[
            f"{r0.get('model')} with weights {weights_label(r0.get('weights'))} on {_m(r0, 'n_images')} photos "
            f"({r0.get('dataset')}); intact: true-class probability {fmt(_m(r0, 'intact_score'), 3)}, top-1 "
            f"{fmt(_m(r0, 'intact_top1'), 1)} %",
            f"maps for the true class: Grad-CAM on {_s(r0, 'gradcam_layer')} (captum LayerGradCam, upsampled to "
            f"{_s(r0, 'input_px')} px), saliency = |d logit / d pixel| max over channels (captum Saliency); random: "
            f"the same number of pixels drawn uniformly, one draw per seed (mean ± std over "
            f"{len({_s(r, 'seed') for r in run if _s(r, 'method') == 'random'})} draws)",
            f"deleted pixels are replaced by a blurred copy of the photo ({_s(r0, 'fill')}); map ties broken by a "
            f"fixed random order (seed {_s(r0, 'tie_seed')})",
            "faithful: deleting the map's top pixels lowers the true-class probability more than deleting as many "
            "random pixels; 'images hurt more': per photo, the method's drop against the mean of the random draws; "
            "sign test p: two-sided exact binomial test of that per-photo split (ties left out) against 50/50",
            f"run {r0.get('run_id')}, study wall time {fmt(r0.get('study_wall_s'), 1)} s, one thread; command: "
            f"`{r0.get('command')}`",
        ],
        sources=run,
    )


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    runs = latest_runs(rows_of_kind(rows, "study"))
    out = [t for t in (size_table(rows),) if t is not None]
    if "bigger_better" in runs:
        out.append(width_table(runs["bigger_better"]))
    if "faithfulness" in runs:
        out.append(faithfulness_table(runs["faithfulness"]))
    return out


# --- plots -----------------------------------------------------------------------------------------------------

def _save(fig, rows: Sequence[dict], path: Path) -> Path:
    machines = sorted({_machine_label(r.get("machine")) for r in rows})
    # a figure-level x label: the layout makes room for it (a free fig.text overlapped the axes' labels)
    fig.supxlabel("device: " + "; ".join(machines), x=0.995, ha="right", fontsize=6.5, color="0.35")
    return save_figure(fig, path)


def plot_size(rows: dict[str, list[dict]], out_dir: Path) -> Path | None:
    evals = real_weight_evals(rows)
    if not evals:
        return None
    speed = batch1_speed(rows)
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    labels: dict[int, list[tuple[float, float, str]]] = {0: [], 1: []}
    for i, (data, g) in enumerate(_groups(evals, lambda r: r.get("dataset"))):
        for ax, x_of in ((axes[0, 0], lambda r: _cost(r["model"], speed)[1]),
                         (axes[0, 1], lambda r: _m(speed[r["model"]], "p50_ms") if r["model"] in speed else None)):
            pts = [(x_of(r), _m(r, "top1"), r["model"], wilson(_m(r, "top1"), r.get("n")) or (_m(r, "top1"),) * 2)
                   for r in g if x_of(r) is not None]
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], fmt="o-", color=f"C{i}", capsize=3,
                        yerr=[[p[1] - p[3][0] for p in pts], [p[3][1] - p[1] for p in pts]],
                        label=f"{data} (95 % interval)")
            labels[0 if ax is axes[0, 0] else 1] += [(x, y, name) for x, y, name, _ in pts]
    axes[0, 0].set(xlabel="GFLOPs per image", ylabel="top-1 (%)", title="accuracy vs compute")
    axes[0, 1].set(xlabel="latency p50, batch 1, fp32 eager (ms)", ylabel="top-1 (%)", title="accuracy vs latency")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Misconception 3: bigger vs better (real weights, same data)")
    for k, ax in enumerate((axes[0, 0], axes[0, 1])):
        ax.margins(x=0.3, y=0.1)
        place_labels(ax, [(x, y) for x, y, _ in labels[k]], [name for _, _, name in labels[k]])
    return _save(fig, [speed[r["model"]] for r in evals if r["model"] in speed] or evals,
                 out_dir / "misconceptions_size_vs_accuracy.png")


def plot_width(run: list[dict], out_dir: Path) -> Path:
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    for i, (items, g) in enumerate(_groups(run, lambda r: _s(r, "train_items"))):
        by_w = _groups(g, lambda r: _s(r, "width"))
        widths = [w for w, _ in by_w]
        for key, ls, label in (("train_accuracy", "--", "train"), ("test_accuracy", "-", "held-out")):
            ms = [mean_std([_m(r, key) for r in rs]) for _, rs in by_w]
            axes[0, 0].errorbar(widths, [m[0] for m in ms], yerr=[m[1] for m in ms], fmt=ls, marker=".",
                                color=f"C{i}", capsize=2, label=f"{label}, {items} training images")
        ms = [mean_std([_m(r, "test_loss") for r in rs]) for _, rs in by_w]
        axes[0, 1].errorbar(widths, [m[0] for m in ms], yerr=[m[1] for m in ms], marker=".", color=f"C{i}",
                            capsize=2, label=f"{items} training images")
    axes[0, 0].set(xscale="log", xlabel="hidden width (log)", ylabel="accuracy (mean ± std over seeds)",
                   title="train vs held-out accuracy")
    axes[0, 1].set(xscale="log", xlabel="hidden width (log)", ylabel="held-out cross-entropy", title="held-out loss")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].legend(fontsize=7)
    fig.suptitle("Misconception 3: width vs over-fitting (MLP, digits, small training sets)")
    return _save(fig, run, out_dir / "misconceptions_width.png")


def plot_faithfulness(run: list[dict], out_dir: Path) -> Path:
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    for i, (method, g) in enumerate(_groups(run, lambda r: _s(r, "method"))):
        by_k = _groups(g, lambda r: _s(r, "k_pct"))
        ks = [k for k, _ in by_k]
        for ax, key in ((axes[0, 0], "mean_score"), (axes[0, 1], "top1")):
            ms = [mean_std([_m(r, key) for r in rs]) for _, rs in by_k]
            ax.errorbar(ks, [m[0] for m in ms], yerr=[m[1] for m in ms], marker="o", color=f"C{i}", capsize=3,
                        label=METHOD_NAMES.get(method, method))
    r0 = run[0]
    axes[0, 0].axhline(_m(r0, "intact_score"), color="0.5", ls=":", label="intact photo")
    axes[0, 1].axhline(_m(r0, "intact_top1"), color="0.5", ls=":", label="intact photo")
    axes[0, 0].set(xlabel="pixels deleted (%)", ylabel="true-class probability (mean over photos)",
                   title="score after deleting the top-k % pixels")
    axes[0, 1].set(xlabel="pixels deleted (%)", ylabel="top-1 accuracy (%)", title="accuracy after deletion")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Misconception 5: deletion test, {r0.get('model')} on {_m(r0, 'n_images')} ImageNet photos")
    return _save(fig, run, out_dir / "misconceptions_faithfulness.png")


def plots(rows: dict[str, list[dict]], out_dir: Path) -> list[Path]:
    runs = latest_runs(rows_of_kind(rows, "study"))
    out_dir = Path(out_dir)
    with style():
        made = [plot_size(rows, out_dir)]
        if "bigger_better" in runs:
            made.append(plot_width(runs["bigger_better"], out_dir))
        if "faithfulness" in runs:
            made.append(plot_faithfulness(runs["faithfulness"], out_dir))
    return [p for p in made if p is not None]
