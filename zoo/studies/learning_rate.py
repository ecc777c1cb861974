"""Study 3 — learning rate vs convergence, plain SGD.

Claim tested: a small learning rate converges slowly, a moderate one steadily, a large one fast but may
overshoot or diverge. Same MLP, plain SGD (no momentum), mini-batch 32, same epochs and seeds; only the
learning rate changes. Measured: optimizer steps and seconds (one thread) until the training loss, as a
running mean over one epoch's worth of steps, first reaches the target; the final epoch's training loss;
divergence as detected by the training loop (non-finite loss, or a running loss above 10x the first); and
instability: epochs whose mean training loss rose more than 10 % over the previous epoch's.
"""

from __future__ import annotations

from torch.nn import functional as F

from ..harness.train import TrainConfig, train
from .common import accuracy, build, digits, record

TITLE = "Learning rate vs convergence (plain SGD)"
RATES = (0.001, 0.01, 0.1, 1.0, 10.0)
RISE = 1.1  # an epoch whose mean loss is 10 % above the previous epoch's counts as a rise (instability)
SCALES = {
    "full": dict(epochs=20, batch_size=32, target_loss=0.5, width=64, depth=2),
    "tiny": dict(epochs=8, batch_size=32, target_loss=0.5, width=64, depth=2),
}


def _running(losses: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(losses):
        acc += v
        if i >= window:
            acc -= losses[i - window]
        out.append(acc / min(i + 1, window))
    return out


def loss_rises(epoch_losses: list[float], rise: float = RISE) -> int:
    """How many epochs ended with a mean training loss above ``rise`` x the previous epoch's."""
    return sum(1 for a, b in zip(epoch_losses, epoch_losses[1:]) if b > rise * a)


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    out = []
    for lr in RATES:
        for seed in seeds:
            model = build("mlp", seed, activation="relu", depth=c["depth"], width=c["width"], init="auto")
            cfg = TrainConfig(optimizer="sgd", lr=lr, batch_size=c["batch_size"], epochs=c["epochs"], seed=seed)
            r = train(model, data.train.pair, cfg, loss_fn=F.cross_entropy, record_steps=True, progress=False,
                      desc=f"lr {lr}")
            steps = r["steps_log"]
            window = -(-len(data.train) // c["batch_size"])  # steps per epoch
            run_loss = _running([s["loss"] for s in steps], window)
            hit = next((i for i, v in enumerate(run_loss) if v <= c["target_loss"]), None)
            epoch_losses = [h["train_loss"] for h in r["history"]]
            out.append(record(
                {"lr": lr, "optimizer": "sgd", "batch_size": c["batch_size"], "epochs": c["epochs"],
                 "target_loss": c["target_loss"], "depth": c["depth"], "width": c["width"], "activation": "relu"},
                seed,
                {"steps_to_target": steps[hit]["step"] if hit is not None else None,
                 "seconds_to_target": steps[hit]["wall_s"] if hit is not None else None,
                 "final_train_loss": epoch_losses[-1] if epoch_losses and not r["diverged"] else None,
                 "diverged": r["diverged"], "diverged_step": r["diverged_step"],
                 "loss_rises": None if r["diverged"] else loss_rises(epoch_losses),
                 "unstable": None if r["diverged"] else loss_rises(epoch_losses) > 0,
                 "test_accuracy": None if r["diverged"] else accuracy(model, data.test),
                 "steps": r["steps"], "train_s": r["wall_s"]},
                {"epoch_train_loss": epoch_losses, "step_loss_running": run_loss[:: max(1, window // 4)]},
            ))
    return out
