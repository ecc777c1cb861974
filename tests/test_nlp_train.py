"""zoo train / zoo eval for text models: fresh-process CLI runs write rows; resume after a crash mid-epoch
gives the same weights; translation and QA train and evaluate end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from zoo import evaluate
from zoo.errors import UserError
from zoo.harness.train.text import text_config, train_text
from zoo.results import read_rows


def _zoo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=300)


@pytest.mark.slow
def test_cli_train_then_eval_writes_rows(results_dir, zoo_cache, capsys):
    """`zoo train` in a fresh process leaves a checkpoint in the cache and a row; `zoo eval` (the CLI's main, in
    this process: nothing of the training is in its memory) finds that checkpoint and writes a row tied to it."""
    r = _zoo("train", "lstm", "--task", "sst2", "--limit", "96", "--epochs", "1", "--val-limit", "32", "--batch-size", "32")
    assert r.returncode == 0, r.stderr
    assert "checkpoint:" in r.stdout
    ck = zoo_cache / "checkpoints" / "lstm-sst2"
    assert (ck / "model.safetensors").is_file() and (ck / "tokenizer.json").is_file()
    from zoo.cli import main

    assert main(["eval", "lstm", "--data", "sst2", "--limit", "40"]) == 0, capsys.readouterr().err
    assert "accuracy" in capsys.readouterr().out
    rows = read_rows(results_dir / "train.jsonl")
    assert [x["kind"] for x in rows] == ["train"]
    evals = read_rows(results_dir / "eval.jsonl")
    assert [x["kind"] for x in evals] == ["eval"] and evals[0]["task"] == "text-classification"
    train, ev = rows[0], evals[0]
    assert ev["weights"] == ev["checkpoint_sha256"] == train["checkpoint_sha256"]
    assert ev["dataset_sha256"] == "1da6e04ccd65c1ade32864afa62129b3b3d5df0f1b314961ec345af304274093"
    assert ev["n"] == 40 and 0 <= ev["metrics"]["accuracy"] <= 100 and ev["metrics"]["items_per_s"] > 0
    assert train["metrics"]["steps"] == 3 and ev["train"]["steps"] == 3
    assert train["command"] == "zoo train lstm --task sst2 --limit 96 --val-limit 32 --epochs 1"
    assert train["settings"]["optimizer"] == "adamw" and ev["train"]["config"] == {
        k: v for k, v in train["settings"].items() if k in ev["train"]["config"]}
    from zoo.report.nlp import tables

    apps, runs = tables({"train": [train], "eval": [ev]})
    assert apps.rows[0][:3] == ["Sentiment analysis", "RNN (LSTM)", "lstm"]
    assert apps.rows[0][6] == pytest.approx(ev["metrics"]["accuracy"]) and apps.rows[0][4] == 40
    assert len(runs.rows) == 1 and runs.rows[0][3] == 3
    assert tables({"eval": [ev], "train": [train]})[0].rows == apps.rows  # deterministic


@pytest.mark.slow
def test_cli_bad_input_is_one_line(results_dir, zoo_cache, tmp_path):
    r = _zoo("train", "lstm", "--task", "imdb")
    assert r.returncode == 2 and "unknown NLP task 'imdb'" in r.stderr and "Traceback" not in r.stderr, r.stderr
    from zoo.cli import build_parser
    from zoo.commands.train import run

    for args, msg in [
        (("train", "lstm", "--task", "multi30k"), "takes --task sst2"),
        (("train", "resnet50x", "--task", "sst2"), "unknown model"),
        (("train", "lstm", "--epochs", "0"), "--epochs must be at least 1"),
    ]:
        with pytest.raises(UserError, match=msg):
            run(build_parser().parse_args(list(args)))
    with pytest.raises(UserError, match="data wmt does not exist"):  # not a bundled set, so a path
        evaluate("lstm", "wmt", write=False)
    pred = tmp_path / "preds.jsonl"
    pred.write_text("keep me\n")
    r = _zoo("eval", "lstm", "--data", "sst2", "--limit", "4", "--predictions", str(pred))
    assert r.returncode == 2 and "already exists" in r.stderr
    assert pred.read_text() == "keep me\n" and not (results_dir / "eval.jsonl").exists()


class _Crash(Exception):
    pass


def test_resume_after_a_crash_mid_epoch_gives_the_same_weights(tmp_path, monkeypatch, results_dir):
    cfg = text_config("sst2", batch_size=16, epochs=2, checkpoint_every=2, seed=3)
    kw = dict(task="sst2", config=cfg, limit=64, val_limit=8, progress=False, write=False)
    full = train_text("gru", out=tmp_path / "full", **kw)
    from zoo.models.text.wrappers import TextClassifier

    real = TextClassifier.loss
    calls = {"n": 0}

    def crashing(self, inputs):
        calls["n"] += 1
        if calls["n"] == 7:  # step 7 of 8: epoch 2, batch 3; the last saved state is after step 6
            raise _Crash
        return real(self, inputs)

    monkeypatch.setattr(TextClassifier, "loss", crashing)
    with pytest.raises(_Crash):
        train_text("gru", out=tmp_path / "resumed", **kw)
    assert (tmp_path / "resumed.state" / "last.safetensors").is_file() and not (tmp_path / "resumed").exists()
    monkeypatch.setattr(TextClassifier, "loss", real)
    res = train_text("gru", out=tmp_path / "resumed", resume=True, **kw)
    assert res["step"] == full["step"] == 8
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    assert [h["train_loss"] for h in res["history"]] == pytest.approx([h["train_loss"] for h in full["history"]], abs=1e-6)


@pytest.mark.parametrize("name,task,extra", [
    ("rnn_attention", "multi30k", {"hidden_size": 64, "embed_dim": 32, "max_new_tokens": 12, "num_beams": 2}),
    ("transformer_mt", "multi30k", {"max_new_tokens": 12, "num_beams": 2}),
    ("transformer_qa", "squad", {}),
])
def test_translation_and_qa_train_and_evaluate(name, task, extra, tmp_path, results_dir):
    r = train_text(name, task, text_config(task, batch_size=16, epochs=1), out=tmp_path / "ck", limit=32, val_limit=8,
                   progress=False, overrides=extra)
    assert r["step"] == 2 and (tmp_path / "ck" / "model.safetensors").is_file()
    pred_file = tmp_path / "preds.jsonl"
    ev = evaluate(name, task, checkpoint=tmp_path / "ck", limit=12, batch_size=6, predictions=pred_file)
    lines = [json.loads(x) for x in pred_file.read_text().splitlines()]
    assert len(lines) == 12 and "text" in lines[0] and [x["index"] for x in lines] == list(range(12))
    assert (lines[0]["id"] != "0") == (task == "squad")  # SQuAD question ids; else the line's index
    key = "bleu" if task == "multi30k" else "exact_match"
    assert 0 <= ev["metrics"][key] <= 100 and ev["checkpoint_sha256"] == r["checkpoint_sha256"] == ev["weights"]
    assert ev["n"] == 12 and ev["settings"]["batch_size"] == 6 and ev["settings"].get("num_beams") == extra.get("num_beams")
    if task == "squad":
        assert "24 articles" in ev["note"]
    else:
        assert ev["signatures"]["bleu_signature"].startswith("nrefs:1")
    assert [x["kind"] for x in read_rows(results_dir / "train.jsonl")] == ["train"]
    assert [x["kind"] for x in read_rows(results_dir / "eval.jsonl")] == ["eval"]


def test_eval_of_a_model_for_another_task_is_a_user_error():
    with pytest.raises(UserError, match="takes --data squad"):
        evaluate("transformer_qa", "sst2", write=False)


def test_training_device_is_checked_before_any_work(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: cuda is a valid device here")
    with pytest.raises(UserError, match="no CUDA device"):
        train_text("lstm", "sst2", text_config("sst2", device="cuda"), out=tmp_path / "ck", limit=8, write=False,
                   progress=False)
    with pytest.raises(UserError, match="cpu or cuda"):
        train_text("lstm", "sst2", text_config("sst2", device="tpu"), out=tmp_path / "ck", limit=8, write=False,
                   progress=False)
    assert not (tmp_path / "ck").exists()
