"""Study 7 — local minima: "gradient descent always reaches the global minimum" is false.

The same small non-convex problem from many random initializations: XOR (4 points) with a 2-2-1 network
of sigmoid hidden units and a logistic output (binary cross-entropy), trained by full-batch gradient
descent with the same learning rate and number of steps (all initializations trained at once, vectorized:
see ``train_batched``). The global minimum has loss 0 (approached as
weights grow); runs that end with a loss far above it and XOR unsolved are stuck in a local minimum or on a
plateau. Measured per initialization: final loss, and whether all 4 points are classified right.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn
from torch.nn import functional as F

from ..harness.train import set_seed
from .common import record

TITLE = "Local minima: many initializations, one non-convex problem"
X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
SCALES = {
    "full": dict(inits=100, steps=3000, lr=2.0, hidden=2, init_std=1.0),
    "tiny": dict(inits=12, steps=600, lr=2.0, hidden=2, init_std=1.0),
}
XOR_SHA256 = hashlib.sha256(X.numpy().tobytes() + Y.numpy().tobytes()).hexdigest()
SOLVED_BELOW = 0.1  # final mean BCE below this with all 4 points right counts as reaching the global basin


def xor_net(seed: int, hidden: int = 2, init_std: float = 1.0) -> nn.Module:
    set_seed(seed)
    net = nn.Sequential(nn.Linear(2, hidden), nn.Sigmoid(), nn.Linear(hidden, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, init_std)
    return net


def train_batched(nets: list[nn.Module], steps: int, lr: float) -> list[float]:
    """Full-batch gradient descent on XOR for many 2-H-1 nets at once; returns each net's final loss.

    The nets' parameters are stacked along a leading "init" axis and the per-net mean BCE losses summed:
    each net's gradient is then exactly its own (the nets share nothing), so this is ``len(nets)``
    independent runs of plain gradient descent, vectorized. tests/test_studies.py checks it against
    ``zoo.harness.train.train`` on one net.
    """
    w1 = torch.stack([n[0].weight.detach().T for n in nets]).requires_grad_()  # (K, 2, H)
    b1 = torch.stack([n[0].bias.detach() for n in nets]).unsqueeze(1).requires_grad_()  # (K, 1, H)
    w2 = torch.stack([n[2].weight.detach().T for n in nets]).requires_grad_()  # (K, H, 1)
    b2 = torch.stack([n[2].bias.detach() for n in nets]).unsqueeze(1).requires_grad_()  # (K, 1, 1)
    params = [w1, b1, w2, b2]
    opt = torch.optim.SGD(params, lr=lr)
    x = X.expand(len(nets), *X.shape)
    y = Y.expand(len(nets), *Y.shape)

    def losses() -> torch.Tensor:
        logits = torch.sigmoid(x @ w1 + b1) @ w2 + b2
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(dim=(1, 2))

    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        losses().sum().backward()
        opt.step()
    with torch.no_grad():
        for k, n in enumerate(nets):
            n[0].weight.copy_(w1[k].T)
            n[0].bias.copy_(b1[k, 0])
            n[2].weight.copy_(w2[k].T)
            n[2].bias.copy_(b2[k, 0])
        return losses().tolist()


def run(seeds, scale: str = "full") -> list[dict]:
    """``seeds`` offsets the initializations: init i uses seed 1000 * seeds[0] + i (``inits`` of them)."""
    c = SCALES[scale]
    base = 1000 * (seeds[0] if seeds else 0)
    ids = [base + i for i in range(c["inits"])]
    nets = [xor_net(s, c["hidden"], c["init_std"]) for s in ids]
    final = train_batched(nets, c["steps"], c["lr"])
    out = []
    for seed, net, loss in zip(ids, nets, final):
        with torch.no_grad():
            correct = int(((net(X) > 0).float() == Y).sum())
        out.append(record(
            {"problem": "XOR, 2-2-1 sigmoid MLP, BCE", "optimizer": "sgd (full batch)", "lr": c["lr"],
             "steps": c["steps"], "hidden": c["hidden"], "init": f"normal(0, {c['init_std']})",
             "solved_below": SOLVED_BELOW},
            seed,
            {"final_loss": loss, "correct_of_4": correct, "solved": loss < SOLVED_BELOW and correct == 4},
            model="xor-2-2-1", dataset="XOR (4 points)", dataset_sha256=XOR_SHA256,
        ))
    return out
