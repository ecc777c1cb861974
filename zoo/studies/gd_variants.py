"""Study 5 — gradient-descent variants: stochastic (batch 1), mini-batch (32, 128) and full batch.

Claim tested: stochastic updates are noisy but many; full-batch updates are exact but few; mini-batches sit
between. Same MLP, plain SGD at one learning rate, same seeds. Two budgets:
  equal epochs: every variant sees the training set the same number of times;
  equal wall time: every variant trains for the same seconds (one thread; timing excludes the loss
  evaluations made for the curves).
Measured: training loss over the whole training split (evaluated, not the running batch loss) after each
budget, samples/s, optimizer steps, and the loss curves against epochs and against seconds.
"""

from __future__ import annotations

from torch.nn import functional as F

from ..harness.train import TrainConfig, train
from .common import build, digits, mean_loss, record

TITLE = "Gradient-descent variants"
VARIANTS = (("stochastic", 1), ("mini-batch 32", 32), ("mini-batch 128", 128), ("full batch", None))
SCALES = {
    "full": dict(lr=0.05, epochs=10, seconds=3.0, points_per_epoch=4, time_points=15, width=64, depth=2),
    "tiny": dict(lr=0.05, epochs=2, seconds=0.3, points_per_epoch=2, time_points=4, width=32, depth=1),
}


def _curve_recorder(model, split, every_steps: int = 0, every_s: float = 0.0):
    """A train() callback that evaluates the full training loss every N steps or every T seconds of training."""
    points: list[dict] = []
    state = {"next_t": every_s}

    def cb(info: dict) -> None:
        due = (every_steps and info["step"] % every_steps == 0) or (every_s and info["wall_s"] >= state["next_t"])
        if due:
            points.append({"step": info["step"], "wall_s": info["wall_s"], "loss": mean_loss(model, split)})
            model.train()
            if every_s:
                while state["next_t"] <= info["wall_s"]:
                    state["next_t"] += every_s

    return points, cb


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    n = len(data.train)
    out = []
    for name, bs in VARIANTS:
        steps_per_epoch = -(-n // (bs or n))
        for seed in seeds:
            cfg = {"variant": name, "batch_size": bs or n, "optimizer": "sgd", "lr": c["lr"], "epochs": c["epochs"],
                   "seconds": c["seconds"], "depth": c["depth"], "width": c["width"], "activation": "relu"}
            # equal epochs
            model = build("mlp", seed, activation="relu", depth=c["depth"], width=c["width"], init="auto")
            every = max(1, steps_per_epoch // c["points_per_epoch"])
            pts, cb = _curve_recorder(model, data.train, every_steps=every)
            start = mean_loss(model, data.train)
            tc = TrainConfig(optimizer="sgd", lr=c["lr"], batch_size=bs, epochs=c["epochs"], seed=seed)
            r = train(model, data.train.pair, tc, loss_fn=F.cross_entropy, callbacks=[cb], progress=False, desc=name)
            for p in pts:
                p["epoch"] = p["step"] / steps_per_epoch
            loss_epochs = mean_loss(model, data.train)
            if not pts or pts[-1]["step"] != r["steps"]:
                pts.append({"step": r["steps"], "wall_s": r["wall_s"], "loss": loss_epochs, "epoch": r["steps"] / steps_per_epoch})
            # equal wall time
            model = build("mlp", seed, activation="relu", depth=c["depth"], width=c["width"], init="auto")
            tpts, tcb = _curve_recorder(model, data.train, every_s=c["seconds"] / c["time_points"])
            tc = tc.replace(epochs=10**6, max_minutes=c["seconds"] / 60)
            rt = train(model, data.train.pair, tc, loss_fn=F.cross_entropy, callbacks=[tcb], progress=False, desc=name)
            loss_time = mean_loss(model, data.train)
            if not tpts or tpts[-1]["step"] != rt["steps"]:
                tpts.append({"step": rt["steps"], "wall_s": rt["wall_s"], "loss": loss_time})
            out.append(record(
                cfg, seed,
                {"loss_equal_epochs": loss_epochs, "loss_equal_time": loss_time, "initial_loss": start,
                 "samples_per_s": rt["items_per_s"], "steps_equal_epochs": r["steps"], "steps_equal_time": rt["steps"],
                 "epochs_equal_time": rt["items_seen"] / n, "train_s_equal_epochs": r["wall_s"],
                 "diverged": r["diverged"] or rt["diverged"]},
                {"by_epoch": [[0.0, start]] + [[p["epoch"], p["loss"]] for p in pts],
                 "by_time": [[0.0, start]] + [[p["wall_s"], p["loss"]] for p in tpts]},
            ))
    return out
