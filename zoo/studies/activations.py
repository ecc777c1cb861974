"""Study 1 — activations: sigmoid, tanh, ReLU and GELU in the same deep MLP.

Claim tested: saturating activations (sigmoid, tanh) make gradients vanish in deep networks, so they train
slower than ReLU/GELU. Same MLP (depth x width), same plain SGD, same epochs and seeds; only the activation
changes. Two weight inits: "auto" (He init for relu/gelu, Glorot for sigmoid/tanh, as each is usually
paired) and "torch" (PyTorch's default, the same for all four). Measured: test accuracy after the last epoch, epochs until validation accuracy first reaches the
target, and the gradient norm of the first layer's weight over the first steps (the vanishing gradient
made visible).
"""

from __future__ import annotations

from torch.nn import functional as F

from ..harness.train import TrainConfig, train
from .common import accuracy, build, digits, first_reaching, record

TITLE = "Activations in a deep MLP"
ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu")
SCALES = {
    "full": dict(depth=6, width=64, epochs=30, lr=0.1, batch_size=32, target=0.9, early_steps=20,
                 inits=("auto", "torch")),
    "tiny": dict(depth=6, width=32, epochs=5, lr=0.1, batch_size=32, target=0.9, early_steps=10, inits=("auto",)),
}


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    out = []
    for init, act, seed in ((i, a, s) for i in c["inits"] for a in ACTIVATIONS for s in seeds):
        model = build("mlp", seed, activation=act, depth=c["depth"], width=c["width"], init=init)
        cfg = TrainConfig(optimizer="sgd", lr=c["lr"], batch_size=c["batch_size"], epochs=c["epochs"], seed=seed)
        r = train(model, data.train.pair, cfg, loss_fn=F.cross_entropy, val_data=data.val.pair, log_grad_norm=True,
                  record_steps=True, progress=False, desc=f"activations {act}")
        val_acc = [h["val_accuracy"] for h in r["history"]]
        early = [s["grad_norm_first"] for s in r["steps_log"][: c["early_steps"]]]
        out.append(record(
            {"activation": act, "init": init, "depth": c["depth"], "width": c["width"], "optimizer": "sgd", "lr": c["lr"],
             "batch_size": c["batch_size"], "epochs": c["epochs"], "target_val_accuracy": c["target"],
             "early_steps": c["early_steps"]},
            seed,
            {"test_accuracy": accuracy(model, data.test), "final_train_loss": r["final_train_loss"],
             "epochs_to_target": first_reaching(val_acc, c["target"], below=False),
             "grad_norm_first_early": sum(early) / len(early), "diverged": r["diverged"],
             "train_s": r["wall_s"]},
            {"train_loss": [h["train_loss"] for h in r["history"]], "val_accuracy": val_acc},
        ))
    return out
