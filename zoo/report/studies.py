"""Tables and plots of the gradient-descent studies (``zoo study``), from the "study" rows (results/raw/studies.jsonl).

Each study's table comes from its latest run (the rows sharing the newest ``run_id``); figures are the
mean ± sample standard deviation over seeds, with the number of seeds. Nothing is typed in: every cell is
computed here from the rows' ``metrics``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..results import machine_identity
from .base import Table, _machine_label, fmt, rows_of_kind
from .plots import new_figure, save_figure, style

ACTIVATION_ORDER = ("sigmoid", "tanh", "relu", "gelu")
ORDER = ("activations", "ff_vs_recurrent", "learning_rate", "metrics", "gd_variants", "regularization",
         "local_minima")
DATA_NOTE = ("data: scikit-learn digits (UCI optdigits, 1,797 8x8 images, 10 classes), stratified split with "
             "seed 0 into train 1,078 / validation 359 / test 360; inputs = pixel counts / 16")


# --- helpers -----------------------------------------------------------------------------------------------

def latest_runs(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """study name -> the rows of its newest run (by row time, then run_id), in file order."""
    by_study: dict[str, dict[str, list[dict]]] = {}
    for r in rows:
        if r.get("kind") == "study" and r.get("study") and r.get("run_id"):
            by_study.setdefault(r["study"], {}).setdefault(r["run_id"], []).append(r)
    out = {}
    for name, runs in by_study.items():
        newest = max(runs, key=lambda rid: (max(str(x.get("time", "")) for x in runs[rid]), rid))
        out[name] = runs[newest]
    return out


def _values(rows: Sequence[dict], key: str) -> list[Any]:
    return [r.get("metrics", {}).get(key) for r in rows]


def _finite(vals: Sequence[Any]) -> list[float]:
    return [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def mean_std(vals: Sequence[Any]) -> tuple[float | None, float | None, int]:
    v = _finite(vals)
    if not v:
        return None, None, 0
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s, len(v)


def pm(vals: Sequence[Any], digits: int = 3, scale: float = 1.0) -> str | None:
    """"mean ± std" over the finite values (the value alone when there is one; None when there are none);
    "(k of n)" when some are missing."""
    m, s, k = mean_std(vals)
    if m is None:
        return None
    text = f"{fmt(m * scale, digits)} ± {fmt(s * scale, digits)}" if k > 1 else fmt(m * scale, digits)
    return text if k == len(vals) else f"{text} ({k} of {len(vals)})"


def count(vals: Sequence[Any]) -> str:
    return f"{sum(1 for v in vals if v is True)}/{len(vals)}"


def _groups(rows: Sequence[dict], key: Callable[[dict], Any]) -> list[tuple[Any, list[dict]]]:
    """Rows grouped by ``key`` in order of first appearance (rows come in file order: deterministic)."""
    groups: dict[Any, list[dict]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return list(groups.items())


def _s(r: dict, k: str) -> Any:
    return r.get("settings", {}).get(k)


def _notes(rows: Sequence[dict], extra: Sequence[str] = (), data: str = DATA_NOTE) -> list[str]:
    r0 = rows[0]
    seeds = sorted({_s(r, "seed") for r in rows})
    seed_text = (f"{len(seeds)} initializations (seeds {seeds[0]}–{seeds[-1]})" if len(seeds) > 6
                 else f"seeds {', '.join(map(str, seeds))} (mean ± sample std over seeds)")
    m = r0.get("machine", {})
    return [
        data,
        seed_text,
        f"hardware: {machine_identity(m)}; CPU, torch threads = {_s(r0, 'threads')}",
        f"weights: random-init (trained here); scale: {_s(r0, 'scale')}; run {r0.get('run_id')}, "
        f"{r0.get('time', '')[:16]} UTC, study wall time {fmt(r0.get('study_wall_s'), 1)} s",
        *extra,
        f"command: `{r0.get('command', 'zoo study ' + str(r0.get('study')))}`",
    ]


# --- tables ------------------------------------------------------------------------------------------------

def _activations(rows: list[dict]) -> Table:
    r0 = rows[0]
    target = _s(r0, "target_val_accuracy")
    body = []
    for (init, act), g in _groups(rows, lambda r: (_s(r, "init"), _s(r, "activation"))):
        e = _values(g, "epochs_to_target")
        body.append([act, init, pm(_values(g, "test_accuracy")), pm(_values(g, "final_train_loss")),
                     pm(e, 1) if any(v is not None for v in e) else f"not reached ({_s(g[0], 'epochs')} epochs)",
                     f"{sum(v is not None for v in e)}/{len(e)}", pm(_values(g, "grad_norm_first_early"), 5)])
    return Table(
        slug="study_activations", title="Study 1: activations in a deep MLP",
        columns=["activation", "init", "test accuracy", "final train loss", f"epochs to val acc ≥ {target}",
                 "seeds reaching it", f"first-layer grad norm (first {_s(r0, 'early_steps')} steps)"],
        rows=body,
        notes=_notes(rows, [
            f"model: MLP, {_s(r0, 'depth')} hidden layers x {_s(r0, 'width')} units; plain SGD lr {_s(r0, 'lr')}, "
            f"batch {_s(r0, 'batch_size')}, {_s(r0, 'epochs')} epochs; only the activation (and its init) changes",
            "init auto: He (kaiming_normal) for relu/gelu, Glorot (xavier_normal, torch gain) for sigmoid/tanh; "
            "init torch: PyTorch's default Linear init for all",
            "grad norm: L2 norm of the first Linear weight's gradient, mean over the first steps",
        ]),
        sources=rows,
    )


def _ff_vs_recurrent(rows: list[dict]) -> Table:
    r0 = rows[0]
    body = []
    for (task, arch), g in _groups(rows, lambda r: (_s(r, "task"), _s(r, "arch"))):
        params = _values(g, "params")
        body.append([task, arch, pm(_values(g, "test_accuracy")), int(params[0]), pm(_values(g, "train_s"), 2)])
    return Table(
        slug="study_ff_vs_recurrent", title="Study 2: feed-forward vs recurrent",
        columns=["data and input order", "model", "test accuracy", "params", "training time (s)"],
        rows=body,
        notes=_notes(rows, [
            "digits, rows in order: the LSTM reads each image as 8 steps of 8 pixels (top to bottom); "
            f"pixels permuted: one fixed random permutation (seed {_s(r0, 'permutation_seed')}) of the 64 pixels "
            "for every image, so the LSTM's 'rows' are no longer image rows",
            f"digits models: mlp 2 hidden layers x 64, ReLU; lstm_rows LSTM hidden 64 -> linear; Adam lr {_s(r0, 'lr')}, "
            f"batch {_s(r0, 'batch_size')}, {_s(r0, 'epochs')} epochs; training time excludes validation",
            *_sst2_notes(rows),
        ]),
        sources=rows,
    )


def _sst2_notes(rows: list[dict]) -> list[str]:
    sst = [r for r in rows if str(_s(r, "task")).startswith("SST-2")]
    if not sst:
        return []
    r = sst[0]
    return [
        f"SST-2: data/sst2 (Socher et al. 2013; Kim 2014 splits), trained on {_s(r, 'train_items')} training "
        "sentences, tested on the 1,821-sentence test split; vocabulary: training tokens seen at least "
        f"{_s(r, 'vocab_min_count')} times; words shuffled: one fixed shuffle per sentence (seed "
        f"{_s(r, 'shuffle_seed')}), train and test alike",
        f"SST-2 models: bow_mlp = mean of 64-d word embeddings -> MLP 64 (order-blind); lstm_tokens = 64-d "
        f"embeddings -> LSTM 64 -> linear; Adam lr {_s(r, 'lr')}, batch {_s(r, 'batch_size')}, {_s(r, 'epochs')} epochs, "
        "no early stopping",
    ]


def _learning_rate(rows: list[dict]) -> Table:
    r0 = rows[0]
    body = []
    for lr, g in _groups(rows, lambda r: _s(r, "lr")):
        st = _values(g, "steps_to_target")
        body.append([f"{lr:g}", pm(st, 0) if any(v is not None for v in st) else "not reached",
                     pm(_values(g, "seconds_to_target"), 3), pm(_values(g, "final_train_loss")),
                     pm(_values(g, "test_accuracy")), count(_values(g, "diverged")), count(_values(g, "unstable")),
                     pm(_values(g, "loss_rises"), 1)])
    return Table(
        slug="study_learning_rate", title="Study 3: learning rate vs convergence (plain SGD)",
        columns=["learning rate", f"steps to train loss ≤ {_s(r0, 'target_loss')}", "seconds to it",
                 "final train loss", "test accuracy", "diverged (seeds)", "unstable (seeds)",
                 "epochs with rising loss"],
        rows=body,
        notes=_notes(rows, [
            f"model: MLP {_s(r0, 'depth')} x {_s(r0, 'width')} ReLU (He init); plain SGD (no momentum), batch "
            f"{_s(r0, 'batch_size')}, {_s(r0, 'epochs')} epochs",
            "steps to target: first optimizer step at which the running mean of the batch loss over one epoch's "
            "worth of steps is at or below the target; seconds: training time to that step (one thread)",
            "diverged: the training loop stopped the run (non-finite loss, or running loss above 10x the first); "
            "unstable: at least one epoch whose mean training loss rose more than 10 % over the previous epoch's "
            "(counted in the last column)",
            "final train loss and test accuracy are over the seeds that did not diverge",
        ]),
        sources=rows,
    )


def _metrics(rows: list[dict]) -> list[Table]:
    r0 = rows[0]
    summary = [[name, pm(_values(rows, key), 4)] for name, key in
               (("accuracy", "accuracy"), ("precision (macro)", "precision_macro"), ("recall (macro)", "recall_macro"),
                ("F1 (macro)", "f1_macro"))]
    per_class = []
    for k in sorted({k for r in rows for k in r["metrics"].get("per_class", {})}, key=int):
        pcs = [r["metrics"]["per_class"][k] for r in rows]
        per_class.append([int(k), pm([p["precision"] for p in pcs]), pm([p["recall"] for p in pcs]),
                          pm([p["f1"] for p in pcs]), int(pcs[0]["support"])])
    notes = _notes(rows, [
        f"model: MLP {_s(r0, 'depth')} x {_s(r0, 'width')} ReLU; Adam lr {_s(r0, 'lr')}, batch {_s(r0, 'batch_size')}, "
        f"up to {_s(r0, 'max_epochs')} epochs with early stopping on validation loss (patience {_s(r0, 'patience')}, "
        "best epoch restored)",
        "metrics: sklearn.metrics accuracy_score and precision_recall_fscore_support (macro = unweighted mean "
        "over the 10 classes) on the test split; confusion matrix plot: plots/studies_confusion_matrix.png",
    ])
    return [
        Table(slug="study_metrics", title="Study 4: classification metrics (test split)",
              columns=["metric", "value"], rows=summary, notes=notes, sources=rows),
        Table(slug="study_metrics_per_class", title="Study 4: per-class precision, recall and F1 (test split)",
              columns=["class", "precision", "recall", "F1", "support"], rows=per_class, notes=notes, sources=rows),
    ]


def _gd_variants(rows: list[dict]) -> Table:
    r0 = rows[0]
    body = []
    for name, g in _groups(rows, lambda r: _s(r, "variant")):
        body.append([name, _s(g[0], "batch_size"), pm(_values(g, "loss_equal_epochs")),
                     int(_values(g, "steps_equal_epochs")[0]), pm(_values(g, "loss_equal_time")),
                     pm(_values(g, "epochs_equal_time"), 1), pm(_values(g, "samples_per_s"), 0)])
    return Table(
        slug="study_gd_variants", title="Study 5: gradient-descent variants",
        columns=["variant", "batch", f"train loss after {_s(r0, 'epochs')} epochs", "steps in those epochs",
                 f"train loss after {fmt(_s(r0, 'seconds'), 1)} s", "epochs in that time", "samples/s"],
        rows=body,
        notes=_notes(rows, [
            f"model: MLP {_s(r0, 'depth')} x {_s(r0, 'width')} ReLU (He init); plain SGD lr {_s(r0, 'lr')} for every "
            "variant",
            "train loss: mean cross-entropy over the whole training split, evaluated after training (not the "
            "running batch loss); wall time counts training steps only (one thread), not these evaluations",
            "curves: plots/studies_gd_variants.png (loss against epochs and against seconds, all variants)",
        ]),
        sources=rows,
    )


def _regularization(rows: list[dict]) -> Table:
    r0 = rows[0]
    body = []
    for name, g in _groups(rows, lambda r: _s(r, "regularization")):
        s = g[0]["settings"]
        strength = ", ".join(f"{k}={s[k]}" for k in ("l1", "l2", "dropout") if k in s) or "—"
        body.append([name, strength, pm(_values(g, "train_accuracy")), pm(_values(g, "test_accuracy")),
                     pm(_values(g, "gap")), pm(_values(g, "sparsity"), 3, 100.0)])
    return Table(
        slug="study_regularization", title="Study 6: regularization",
        columns=["regularization", "strength", "train accuracy", "test accuracy", "train − test gap",
                 f"weights with |w| < {_s(r0, 'sparse_below')} (%)"],
        rows=body,
        notes=_notes(rows, [
            f"overfitting set-up: {_s(r0, 'train_items')} training images (a fixed subset), MLP {_s(r0, 'depth')} x "
            f"{_s(r0, 'width')} ReLU (He init), SGD momentum {_s(r0, 'momentum')} lr {_s(r0, 'lr')}, batch "
            f"{_s(r0, 'batch_size')}, {_s(r0, 'epochs')} epochs; test: the 360-image test split",
            "L1 / L2: explicit penalties added to the loss, l1 * sum|w| and l2 * sum w^2 over weight matrices "
            "(biases not penalized); dropout after every hidden activation",
        ]),
        sources=rows,
    )


def _local_minima(rows: list[dict]) -> Table:
    r0 = rows[0]
    losses = sorted(_finite(_values(rows, "final_loss")))
    solved = _values(rows, "solved")
    n = len(losses)

    def q(p: float) -> float:
        return losses[min(n - 1, int(p * (n - 1) + 0.5))]

    levels = Counter(round(v, 2) for v in losses)
    top = ", ".join(f"{k:.2f} ({c})" for k, c in sorted(levels.items(), key=lambda kv: (-kv[1], kv[0]))[:4])
    body = [
        ["initializations", n],
        ["solved (loss < {} and 4/4 right)".format(_s(r0, "solved_below")), count(solved)],
        ["final loss: min", losses[0]], ["final loss: median", q(0.5)], ["final loss: 90th percentile", q(0.9)],
        ["final loss: max", losses[-1]], ["final loss: mean ± std", pm(losses, 4)],
        ["most common final losses (count)", top],
    ]
    return Table(
        slug="study_local_minima", title="Study 7: one non-convex problem, many initializations",
        columns=["quantity", "value"], rows=body, digits=4,
        notes=_notes(rows, [
            f"problem: {_s(r0, 'problem')}; weights and biases drawn from {_s(r0, 'init')}; full-batch gradient "
            f"descent, lr {_s(r0, 'lr')}, {_s(r0, 'steps')} steps, the same for every initialization",
            "the global minimum is loss 0 (approached as weights grow); final losses far above it with XOR "
            "unsolved are local minima or plateaus gradient descent did not leave",
            "spread: plots/studies_local_minima.png",
        ], data="data: XOR, the 4 points of {0,1}^2 with label x1 xor x2"),
        sources=rows,
    )


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    runs = latest_runs(rows_of_kind(rows, "study"))
    out: list[Table] = []
    makers = {"activations": _activations, "ff_vs_recurrent": _ff_vs_recurrent, "learning_rate": _learning_rate,
              "metrics": _metrics, "gd_variants": _gd_variants, "regularization": _regularization,
              "local_minima": _local_minima}
    for name in ORDER:
        if name in runs:
            t = makers[name](runs[name])
            out.extend(t if isinstance(t, list) else [t])
    return out


# --- plots -------------------------------------------------------------------------------------------------

def _mean_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    n = min(len(c) for c in curves)
    return [sum(c[i] for c in curves) / len(curves) for i in range(n)]


def _save(fig, rows: Sequence[dict], path: Path) -> Path:
    """Save a study figure with the machine its rows ran on written in the bottom-right corner."""
    machines = sorted({_machine_label(r.get("machine")) for r in rows})
    # a figure-level x label: the layout makes room for it (a free fig.text overlapped the axes' labels)
    fig.supxlabel("device: " + "; ".join(machines), x=0.995, ha="right", fontsize=6.5, color="0.35")
    return save_figure(fig, path)


def _plot_activations(run: list[dict], out_dir: Path) -> Path:
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    for (init, act), g in _groups(run, lambda r: (_s(r, "init"), _s(r, "activation"))):
        ls = "-" if init == "auto" else ":"
        color = f"C{ACTIVATION_ORDER.index(act)}" if act in ACTIVATION_ORDER else None
        for ax, key in zip(axes[0], ("train_loss", "val_accuracy")):
            y = _mean_curve([r["curves"][key] for r in g])
            ax.plot(range(1, len(y) + 1), y, ls, color=color, label=f"{act} ({init} init)")
    axes[0, 0].set(xlabel="epoch", ylabel="train loss (mean over seeds)", title="Activations: training loss")
    axes[0, 1].set(xlabel="epoch", ylabel="validation accuracy", title="Activations: validation accuracy")
    axes[0, 1].legend(fontsize=7)
    fig.suptitle("Study 1: activations in a deep MLP (digits)")
    return _save(fig, run, out_dir / "studies_activations.png")


def _plot_ff_vs_recurrent(run: list[dict], out_dir: Path) -> Path:
    groups = _groups(run, lambda r: (_s(r, "task"), _s(r, "arch")))
    fig, axes = new_figure(1, 2, size=(11.0, 4.2))
    labels = [f"{task}\n{arch}" for (task, arch), _ in groups]
    for ax, key, ylabel in ((axes[0, 0], "test_accuracy", "test accuracy (mean ± std over seeds)"),
                            (axes[0, 1], "train_s", "training time (s, mean ± std over seeds)")):
        means = [mean_std(_values(g, key)) for _, g in groups]
        # horizontal bars: the two-line labels sit one under another instead of overlapping side by side
        ax.barh(range(len(groups)), [m[0] or 0.0 for m in means], xerr=[m[1] or 0.0 for m in means],
                color=[f"C{i % 2}" for i in range(len(groups))], capsize=3)
        ax.set_yticks(range(len(groups)), labels if ax is axes[0, 0] else [], fontsize=6.5)
        ax.invert_yaxis()
        ax.set(xlabel=ylabel)
    axes[0, 0].set(title="accuracy: order matters vs does not", xlim=(0, 1))
    axes[0, 1].set(title="training cost")
    fig.suptitle("Study 2: feed-forward vs recurrent, same data in order and shuffled")
    return _save(fig, run, out_dir / "studies_ff_vs_recurrent.png")


def _plot_regularization(run: list[dict], out_dir: Path) -> Path:
    groups = _groups(run, lambda r: _s(r, "regularization"))
    names = [str(name) for name, _ in groups]
    x = range(len(groups))
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    ax = axes[0, 0]
    for off, key, label, color in ((-0.2, "train_accuracy", "train", "C0"), (0.2, "test_accuracy", "test", "C1")):
        ms = [mean_std(_values(g, key)) for _, g in groups]
        ax.bar([i + off for i in x], [m[0] or 0.0 for m in ms], width=0.4, yerr=[m[1] or 0.0 for m in ms],
               color=color, capsize=3, label=label)
    ax.set_xticks(list(x), names, fontsize=7, rotation=20, ha="right")
    ax.set(ylabel="accuracy (mean ± std over seeds)", title="train vs test accuracy (the gap)", ylim=(0, 1.05))
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[0, 1]
    ms = [mean_std(_values(g, "sparsity")) for _, g in groups]
    ax.bar(list(x), [100 * (m[0] or 0.0) for m in ms], yerr=[100 * (m[1] or 0.0) for m in ms], color="C2",
           capsize=3)
    ax.set_xticks(list(x), names, fontsize=7, rotation=20, ha="right")
    r0 = run[0]
    ax.set(ylabel=f"weights with |w| < {_s(r0, 'sparse_below')} (%)", title="weight sparsity")
    fig.suptitle("Study 6: regularization (digits, small training set)")
    return _save(fig, run, out_dir / "studies_regularization.png")


def _plot_metrics(g: list[dict], out_dir: Path) -> Path:
    cm = [[sum(r["metrics"]["confusion"][i][j] for r in g) for j in range(10)] for i in range(10)]
    fig, ax = new_figure(size=(5.5, 5.0))
    im = ax.imshow(cm, cmap="Blues")
    ax.grid(False)
    for i in range(10):
        for j in range(10):
            if cm[i][j]:
                ax.text(j, i, str(cm[i][j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i][j] > 0.6 * max(map(max, cm)) else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted class", ylabel="true class",
           title=f"Study 4: confusion matrix, test split, summed over {len(g)} seeds")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, g, out_dir / "studies_confusion_matrix.png")


def _plot_learning_rate(run: list[dict], out_dir: Path) -> Path:
    fig, ax = new_figure()
    for i, (lr, g) in enumerate(_groups(run, lambda r: _s(r, "lr"))):
        curves = [r["curves"]["epoch_train_loss"] for r in g if not r["metrics"]["diverged"]]
        if curves:
            for k, c in enumerate(curves):
                ax.plot(range(1, len(c) + 1), c, marker=".", color=f"C{i}", lw=1, alpha=0.8,
                        label=f"lr {lr:g}" if k == 0 else None)
        else:
            ax.plot([], [], "x", color=f"C{i}", label=f"lr {lr:g}: diverged ({len(g)}/{len(g)} seeds)")
    ax.set(xlabel="epoch", ylabel="epoch mean train loss (one line per seed)", yscale="log",
           title="Study 3: learning rate vs convergence (plain SGD, digits)")
    ax.legend(fontsize=8)
    return _save(fig, run, out_dir / "studies_learning_rate.png")


def _plot_gd_variants(run: list[dict], out_dir: Path) -> Path:
    fig, axes = new_figure(1, 2, size=(10.0, 4.0))
    colors = {}
    for i, (name, g) in enumerate(_groups(run, lambda r: _s(r, "variant"))):
        colors[name] = f"C{i}"
        for j, r in enumerate(g):
            for ax, key in zip(axes[0], ("by_epoch", "by_time")):
                pts = r["curves"][key]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colors[name], alpha=0.8, lw=1,
                        label=name if j == 0 else None)
    axes[0, 0].set(xlabel="epochs", ylabel="train loss (whole split)", yscale="log", title="equal epochs")
    axes[0, 1].set(xlabel="training time (s, one thread)", ylabel="train loss (whole split)", yscale="log",
                   title="equal wall time")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Study 5: stochastic vs mini-batch vs full-batch gradient descent (one line per seed)")
    return _save(fig, run, out_dir / "studies_gd_variants.png")


def _plot_local_minima(g: list[dict], out_dir: Path) -> Path:
    fig, ax = new_figure(size=(7.0, 3.5))
    for solved, color, label in ((True, "C2", "solved"), (False, "C3", "not solved")):
        v = sorted(r["metrics"]["final_loss"] for r in g if bool(r["metrics"]["solved"]) is solved)
        ax.scatter(v, [1 if solved else 0] * len(v), s=14, alpha=0.5, color=color, label=f"{label} ({len(v)})")
    ax.set(xscale="log", xlabel="final loss (BCE, log scale)", yticks=[0, 1], yticklabels=["not solved", "solved"],
           ylim=(-0.6, 1.6), title=f"Study 7: XOR from {len(g)} initializations: spread of final losses")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, g, out_dir / "studies_local_minima.png")


_PLOTS: dict[str, Callable[[list[dict], Path], Path]] = {
    "activations": _plot_activations, "ff_vs_recurrent": _plot_ff_vs_recurrent,
    "regularization": _plot_regularization, "metrics": _plot_metrics, "learning_rate": _plot_learning_rate,
    "gd_variants": _plot_gd_variants, "local_minima": _plot_local_minima,
}


def plots(rows: dict[str, list[dict]], out_dir: Path) -> list[Path]:
    """One figure per study with a run, from its latest run."""
    runs = latest_runs(rows_of_kind(rows, "study"))
    with style():
        return [make(runs[name], Path(out_dir)) for name, make in _PLOTS.items() if name in runs]
