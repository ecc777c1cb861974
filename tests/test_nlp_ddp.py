"""Data parallel training of a text model: torchrun with 2 CPU processes (gloo) trains one epoch of a tiny
LSTM (61 items in batches of 16: the last one, 13, splits 7/6) and ends with the same weights as one
process on the same global batch (dropout off, so both runs draw no random masks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ddp_runs import one_and_two_processes, torchrun

from zoo.results import read_rows

ARGS = ["train", "lstm", "--task", "sst2", "--limit", "61", "--batch-size", "16", "--epochs", "1", "--val-limit", "8",
        "--set", "dropout=0", "--set", "hidden_size=32", "--set", "embed_dim=16", "--seed", "5"]


@pytest.mark.slow
@pytest.mark.skipif(torchrun() is None, reason="torchrun not installed")
def test_two_processes_give_the_weights_of_one(tmp_path, monkeypatch):
    a, b = one_and_two_processes(ARGS, tmp_path, monkeypatch)
    assert a.keys() == b.keys()
    rows = read_rows(tmp_path / "raw" / "train.jsonl")
    assert [r["settings"]["world_size"] for r in rows] == [1, 2]  # rank 0 alone writes
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    import zoo

    torch.manual_seed(5)  # sanity: training moved the weights away from the seed-5 initialization
    fresh = zoo.create_model("lstm", dropout=0, hidden_size=32, embed_dim=16).net.state_dict()
    assert any(not torch.equal(fresh[k], a[k]) for k in fresh)
