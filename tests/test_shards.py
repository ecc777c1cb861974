"""Sweeps split over machines: ``--shard i/N`` takes a deterministic part of the settings, and ``zoo merge``
brings the shards' rows together: 2 shards in two processes, merged, give the unsharded sweep's row keys; in
a sweep of several models, each model's worker measures its batch sizes of the shard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.errors import UserError
from zoo.harness.shards import parse_shard, take_shard
from zoo.results import read_rows
from zoo.results.merge import merge

REPO = Path(__file__).resolve().parents[1]


def test_shards_are_disjoint_cover_the_sweep_and_balance():
    items = [(m, bs) for m in "abcde" for bs in (1, 8)]
    parts = [take_shard(items, (i, 3)) for i in range(3)]
    assert sorted(x for p in parts for x in p) == sorted(items)
    assert sum(len(p) for p in parts) == len(items) and max(map(len, parts)) - min(map(len, parts)) <= 1
    assert take_shard(items, parse_shard("1/3")) == parts[1] and take_shard(items, None) == items


@pytest.mark.parametrize("bad", ["3/3", "-1/2", "1", "a/b", "1/0"])
def test_bad_shard_is_one_line(bad):
    with pytest.raises(UserError, match="--shard takes i/N"):
        parse_shard(bad)


# one model: the sweep runs in the bench process (no worker subprocess each), split by batch size
SWEEP = ["bench", "mlp", "--batch-size", "1,2,3,4", "--warmup", "1", "--min-iters", "2", "--min-duration", "0.01",
         "--rounds", "1"]


@pytest.mark.slow
def test_two_shards_merged_equal_the_unsharded_sweep(tmp_path, monkeypatch):
    from zoo.cli import main

    whole, merged = tmp_path / "whole", tmp_path / "merged"
    procs = []
    for i in range(2):  # the shards in two processes of their own, while the unsharded sweep runs here
        env = {**os.environ, "ZOO_RESULTS_DIR": str(tmp_path / f"shard{i}"), "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "zoo", *SWEEP, "--shard", f"{i}/2"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        monkeypatch.setenv("ZOO_RESULTS_DIR", str(whole))
        assert main(SWEEP) == 0
        errs = [p.communicate(timeout=600)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, err in zip(procs, errs):
        assert p.returncode == 0, err[-2000:]
    shard_keys = [{r["key"] for r in read_rows(tmp_path / f"shard{i}" / "speed.jsonl")} for i in range(2)]
    assert not shard_keys[0] & shard_keys[1] and all(shard_keys)
    res = merge([tmp_path / "shard0", tmp_path / "shard1"], merged)
    assert res.added == {"speed": 4}
    keys = lambda p: sorted(r["key"] for r in read_rows(p / "speed.jsonl"))
    assert keys(merged) == keys(whole) and len(keys(whole)) == 4
    again = merge([tmp_path / "shard0", tmp_path / "shard1"], merged)  # idempotent
    assert again.added == {} and again.present == 4 and keys(merged) == keys(whole)


def test_a_sharded_sweep_of_several_models_gives_each_worker_its_batch_sizes(tmp_path, monkeypatch):
    """``zoo bench`` of several models with ``--shard``: each worker gets its model's batch sizes of the shard,
    a model with none in the shard gets no worker, and the shards together are the sweep. The workers are
    recorded, not run (a sweep's real workers: test_speed); ``--isolate`` sends a shard left with one model
    to a worker too."""
    from zoo.cli import main
    from zoo.harness.speed import sweep

    runs = []
    monkeypatch.setattr(sweep, "_run_worker", lambda payload, path, env, timeout_s: (
        runs.append((payload["name"], tuple(payload["config"]["batch_sizes"]))) or ([], 0, "", 0.0)))
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path))
    shards = []
    for i in range(3):
        runs.clear()
        assert main(["bench", "mlp", "lstm_rows", "--batch-size", "1,2", "--isolate", "--shard", f"{i}/3"]) == 0
        shards.append(list(runs))
    assert shards == [[("mlp", (1,)), ("lstm_rows", (2,))], [("mlp", (2,))], [("lstm_rows", (1,))]]


def test_merge_refuses_a_damaged_source_before_appending(tmp_path):
    from helpers import eval_row

    from zoo.results import append_row

    good, bad, dest = tmp_path / "good", tmp_path / "bad", tmp_path / "dest"
    append_row(good / "eval.jsonl", eval_row("m", {"top1": 1.0}))
    bad.mkdir()
    (bad / "eval.jsonl").write_text('{"not": "a row"}\n')
    with pytest.raises(UserError):
        merge([good, bad], dest)
    assert not (dest / "eval.jsonl").exists()
    assert merge([good], dest).added == {"eval": 1}
