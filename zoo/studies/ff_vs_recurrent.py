"""Study 2 — feed-forward vs recurrent: an MLP and an LSTM, with and without an order to exploit.

Claim tested: recurrent networks suit inputs whose order carries information; feed-forward networks do not
use order at all. Both models classify the same digits in two forms:
  "rows in order": each image read top to bottom, a sequence of 8 rows of 8 pixels (order carries the
  shape, and the LSTM reads it as a sequence);
  "pixels permuted": the 64 pixels shuffled by one fixed random permutation (the same for every image), so
  the rows the LSTM reads are no longer image rows.
An MLP is indifferent to a fixed permutation of its inputs (it is the same function class); the LSTM is
not.
The same on real sentences, SST-2 (data/sst2, train 6,920 / test 1,821): a bag-of-words model (mean of
word embeddings -> MLP; order-blind by construction) and a word-level LSTM, on sentences as written and on
the same sentences with their words shuffled (one fixed shuffle per sentence, train and test alike).
Measured: test accuracy, parameter count, training time (s, one thread).
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn
from torch.nn import functional as F

from ..datasets.text import dataset_sha256, read_split
from ..harness.train import TrainConfig, set_seed, train
from .common import Split, accuracy, build, digits, n_params, record

TITLE = "Feed-forward vs recurrent"
PERMUTATION_SEED = 1234
TASKS = ("digits: rows in order", "digits: pixels permuted")
MODELS = {"mlp": dict(depth=2, width=64, activation="relu", init="auto"), "lstm_rows": dict(hidden=64)}
SCALES = {
    "full": dict(epochs=20, lr=0.01, batch_size=32, sst2_epochs=4, sst2_lr=2e-3, sst2_items=None),
    "tiny": dict(epochs=4, lr=0.01, batch_size=32, sst2_epochs=1, sst2_lr=2e-3, sst2_items=512),
}


def _permuted(split: Split, perm: torch.Tensor) -> Split:
    return Split(split.x[:, perm], split.y)


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    perm = torch.randperm(data.train.x.shape[1], generator=torch.Generator().manual_seed(PERMUTATION_SEED))
    out = []
    for task in TASKS:
        tr, va, te = data.train, data.val, data.test
        if task == "digits: pixels permuted":
            tr, va, te = (_permuted(s, perm) for s in (tr, va, te))
        for name, overrides in MODELS.items():
            for seed in seeds:
                model = build(name, seed, **overrides)
                cfg = TrainConfig(optimizer="adam", lr=c["lr"], batch_size=c["batch_size"], epochs=c["epochs"],
                                  seed=seed)
                r = train(model, tr.pair, cfg, loss_fn=F.cross_entropy, val_data=va.pair, progress=False,
                          desc=f"{name} {task}")
                out.append(record(
                    {"task": task, "arch": name, **overrides, "optimizer": "adam", "lr": c["lr"],
                     "batch_size": c["batch_size"], "epochs": c["epochs"], "permutation_seed": PERMUTATION_SEED},
                    seed,
                    {"test_accuracy": accuracy(model, te), "params": n_params(model), "train_s": r["wall_s"],
                     "final_train_loss": r["final_train_loss"]},
                    {"val_accuracy": [h["val_accuracy"] for h in r["history"]]},
                    model=name,
                ))
    return out + run_sst2(seeds, c)


# --- SST-2: words in order vs words shuffled ------------------------------------------------------------

SST2_SHUFFLE_SEED = 4321
SST2_MIN_COUNT = 2  # vocabulary: training-split tokens seen at least this often; others -> <unk>


class BagOfWords(nn.Module):
    """Mean of word embeddings (padding excluded) -> MLP: blind to word order by construction."""

    def __init__(self, vocab: int, dim: int = 64, hidden: int = 64):
        super().__init__()
        self.emb = nn.EmbeddingBag(vocab, dim, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.emb(ids))


class TokenLSTM(nn.Module):
    """Word embeddings -> LSTM, left to right; the state after the last real token -> classes."""

    def __init__(self, vocab: int, dim: int = 64, hidden: int = 64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.emb(ids[:, : int(lengths.max())]))  # right-padded: trim to the batch's longest
        return self.head(out[torch.arange(len(ids)), lengths - 1])


def _encode(sentences, vocab: dict[str, int], shuffle: bool) -> tuple[torch.Tensor, torch.Tensor]:
    rows = []
    for i, s in enumerate(sentences):
        ids = [vocab.get(w, 1) for w in s.split()]
        if shuffle:  # one fixed shuffle per sentence, the same in every run
            g = torch.Generator().manual_seed(SST2_SHUFFLE_SEED * 100_003 + i)
            ids = [ids[j] for j in torch.randperm(len(ids), generator=g).tolist()]
        rows.append(ids)
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, lengths


def sst2_tensors(shuffle: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """SST-2 train/test as (token ids, lengths, labels); words shuffled within each sentence when ``shuffle``."""
    train_cols, test_cols = read_split("sst2", "train"), read_split("sst2", "test")
    counts = Counter(w for s in train_cols["sentence"] for w in s.split())
    vocab = {w: i + 2 for i, w in enumerate(sorted(w for w, c in counts.items() if c >= SST2_MIN_COUNT))}
    out = {}
    for name, cols in (("train", train_cols), ("test", test_cols)):
        ids, lengths = _encode(cols["sentence"], vocab, shuffle)
        out[name] = (ids, lengths, torch.tensor(cols["label"]))
    out["vocab_size"] = len(vocab) + 2
    return out


def _sst2_step(model, batch):
    ids, lengths, y = batch
    return F.cross_entropy(model(ids, lengths), y)


@torch.no_grad()
def _sst2_accuracy(model, data) -> float:
    model.eval()
    ids, lengths, y = data
    pred = torch.cat([model(ids[i:i + 512], lengths[i:i + 512]).argmax(1) for i in range(0, len(y), 512)])
    return float((pred == y).float().mean())


def run_sst2(seeds, c: dict) -> list[dict]:
    sha = dataset_sha256("sst2", "train") + "+" + dataset_sha256("sst2", "test")
    out = []
    for task, shuffle in (("SST-2: words in order", False), ("SST-2: words shuffled", True)):
        data = sst2_tensors(shuffle)
        train_data = data["train"] if c["sst2_items"] is None else tuple(t[: c["sst2_items"]] for t in data["train"])
        for name, cls in (("bow_mlp", BagOfWords), ("lstm_tokens", TokenLSTM)):
            for seed in seeds:
                set_seed(seed)
                model = cls(data["vocab_size"])
                cfg = TrainConfig(optimizer="adam", lr=c["sst2_lr"], batch_size=c["batch_size"],
                                  epochs=c["sst2_epochs"], seed=seed)
                r = train(model, train_data, cfg, step_fn=_sst2_step, progress=False, desc=f"{name} {task}")
                out.append(record(
                    {"task": task, "arch": name, "dim": 64, "hidden": 64, "optimizer": "adam", "lr": c["sst2_lr"],
                     "batch_size": c["batch_size"], "epochs": c["sst2_epochs"], "shuffle_seed": SST2_SHUFFLE_SEED,
                     "vocab_min_count": SST2_MIN_COUNT, "train_items": len(train_data[0])},
                    seed,
                    {"test_accuracy": _sst2_accuracy(model, data["test"]), "params": n_params(model),
                     "train_s": r["wall_s"], "final_train_loss": r["final_train_loss"]},
                    model=name, dataset="SST-2 sentence level (data/sst2: train 6,920 / test 1,821)",
                    dataset_sha256=sha,
                ))
    return out
