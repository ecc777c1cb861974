"""The shared training loop: batch modes, regularization, early stopping, divergence, resume, torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import zoo
from zoo.errors import UserError
from zoo.harness.train import (
    TrainConfig,
    evaluate_loss,
    load_checkpoint,
    set_seed,
    train,
)

REPO = Path(__file__).resolve().parents[1]


def _data(n=256, d=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, classes, generator=g)
    return x, (x @ w).argmax(1)


def _mlp(seed=0, d=8, classes=3, dropout=0.0):
    set_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, classes))


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b, atol=0.0):
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


def test_learns_and_reports_history():
    x, y = _data()
    model = _mlp()
    r = train(model, (x, y), TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=8), loss_fn=F.cross_entropy,
              val_data=(x, y), progress=False)
    assert r["epochs_run"] == 8 and r["steps"] == 8 * 8 and r["items_seen"] == 8 * 256
    losses = [h["train_loss"] for h in r["history"]]
    assert losses[-1] < 0.5 * losses[0]
    assert r["history"][-1]["val_accuracy"] > 0.8
    assert not r["diverged"] and r["items_per_s"] > 0


@pytest.mark.parametrize("batch_size,steps", [(1, 256), (32, 8), (100, 3), (None, 1), ("full", 1)])
def test_batch_modes_step_counts(batch_size, steps):
    x, y = _data()
    r = train(_mlp(), (x, y), TrainConfig(batch_size=batch_size, epochs=1), loss_fn=F.cross_entropy, progress=False)
    assert r["steps"] == steps and r["items_seen"] == 256


def test_same_seed_same_weights_other_seed_differs():
    x, y = _data()
    runs = []
    for seed in (0, 0, 1):
        m = _mlp(seed=0, dropout=0.2)
        train(m, (x, y), TrainConfig(optimizer="momentum", lr=0.05, batch_size=16, epochs=2, seed=seed),
              loss_fn=F.cross_entropy, progress=False)
        runs.append(_weights(m))
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])  # data order and dropout masks follow the seed


def test_l1_penalty_sparsifies_and_skips_biases():
    x, y = _data()
    sparsity = {}
    for l1 in (0.0, 0.01):
        m = _mlp()
        train(m, (x, y), TrainConfig(lr=0.1, batch_size=32, epochs=30, l1=l1), loss_fn=F.cross_entropy, progress=False)
        w = torch.cat([p.detach().abs().flatten() for p in m.parameters() if p.dim() >= 2])
        sparsity[l1] = float((w < 1e-2).float().mean())
    assert sparsity[0.01] > sparsity[0.0] + 0.2


def test_divergence_is_detected_and_stops():
    x, y = _data()
    r = train(_mlp(), (x * 100, y), TrainConfig(lr=50.0, batch_size=32, epochs=5), loss_fn=F.cross_entropy,
              progress=False)
    assert r["diverged"] and r["diverged_step"] is not None and r["steps"] < 40


def test_nan_loss_is_divergence():
    x, y = _data()
    x[5] = float("nan")
    r = train(_mlp(), (x, y), TrainConfig(batch_size=None, epochs=3), loss_fn=F.cross_entropy, progress=False)
    assert r["diverged"] and r["diverged_step"] == 1


def test_early_stopping_restores_best():
    x, y = _data()
    xv, yv = _data(64, seed=1)
    yv = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(3))  # noise: val loss soon rises
    m = _mlp()
    r = train(m, (x, y), TrainConfig(optimizer="adam", lr=0.05, batch_size=32, epochs=50, patience=2),
              loss_fn=F.cross_entropy, val_data=(xv, yv), progress=False)
    assert r["stopped_early"] and r["epochs_run"] < 50
    best = r["best"]
    assert evaluate_loss(m, (xv, yv), loss_fn=F.cross_entropy)["loss"] == pytest.approx(best["val_loss"], rel=1e-6)


def test_keep_best_without_patience_and_partial_epoch_record():
    x, y = _data()
    xv, yv = _data(64, seed=1)
    yv = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(3))
    cfg = TrainConfig(optimizer="adam", lr=0.05, batch_size=32, epochs=6)
    kw = dict(loss_fn=F.cross_entropy, val_data=(xv, yv), progress=False)
    plain = train(_mlp(), (x, y), cfg, **kw)
    assert plain["epochs_run"] == 6 and all("complete" not in h for h in plain["history"])
    m = _mlp()
    r = train(m, (x, y), cfg.replace(keep_best=True, max_steps=8 * 4 + 3, record_partial=True), **kw)
    assert r["stopped_by"] == "max_steps" and r["steps"] == 35
    assert [h.get("complete", True) for h in r["history"]] == [True] * 4 + [False]
    assert r["history"][-1]["epoch"] == 5 and "val_loss" in r["history"][-1]
    best = min(range(5), key=lambda i: r["history"][i]["val_loss"])
    assert r["best"]["epoch"] == best + 1
    assert evaluate_loss(m, (xv, yv), loss_fn=F.cross_entropy)["loss"] == pytest.approx(r["best"]["val_loss"], rel=1e-6)


def test_autocast_dtype_runs_the_loss_in_bf16_and_keeps_fp32_weights():
    x, y = _data()
    dtypes = []

    def step_fn(model, batch):
        out = model(batch[0])
        dtypes.append(out.dtype)
        return F.cross_entropy(out, batch[1])

    m = _mlp()
    train(m, (x, y), TrainConfig(batch_size=64, epochs=1, dtype="bf16"), step_fn=step_fn, progress=False)
    assert dtypes == [torch.bfloat16] * 4 and all(p.dtype == torch.float32 for p in m.parameters())


def test_schedules_and_clipping_record_lr():
    x, y = _data()
    seen = []
    train(_mlp(), (x, y), TrainConfig(lr=0.1, batch_size=64, epochs=2, schedule="cosine", warmup_steps=2, clip_norm=0.5),
          loss_fn=F.cross_entropy, callbacks=[seen.append], progress=False)
    lrs = [s["lr"] for s in seen]
    assert lrs[0] == pytest.approx(0.05) and lrs[1] == pytest.approx(0.1) and lrs[-1] < 0.05


def test_callbacks_see_first_layer_grad_and_can_stop():
    x, y = _data()
    seen = []

    def cb(info):
        seen.append(info)
        return info["step"] == 3

    r = train(_mlp(), (x, y), TrainConfig(batch_size=16, epochs=3), loss_fn=F.cross_entropy, callbacks=[cb],
              log_grad_norm=True, progress=False)
    assert r["steps"] == 3 and r["stopped_by"] == "callback" and len(seen) == 3
    assert all(s["grad_norm_first"] > 0 and s["grad_norm"] >= s["grad_norm_first"] for s in seen)


def test_step_fn_and_dataset_input():
    x, y = _data()
    ds = torch.utils.data.TensorDataset(x, y)
    m = _mlp()

    def step_fn(model, batch):
        xb, yb = batch
        return F.cross_entropy(model(xb), yb)

    r = train(m, torch.utils.data.DataLoader(ds, batch_size=7), TrainConfig(batch_size=32, epochs=2), step_fn=step_fn,
              progress=False)
    assert r["steps"] == 16

    class Items(torch.utils.data.Dataset):  # a map-style dataset of dicts, collated by default_collate
        def __len__(self):
            return 50

        def __getitem__(self, i):
            return {"x": x[i], "y": y[i]}

    r = train(_mlp(), Items(), TrainConfig(batch_size=10, epochs=1),
              step_fn=lambda model, b: F.cross_entropy(model(b["x"]), b["y"]), progress=False)
    assert r["steps"] == 5


def test_bad_input_is_a_user_error():
    x, y = _data()
    with pytest.raises(UserError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(UserError, match="batch-size"):
        TrainConfig(batch_size=0)
    with pytest.raises(UserError, match="lengths"):
        train(_mlp(), (x, y[:10]), loss_fn=F.cross_entropy, progress=False)
    with pytest.raises(UserError, match="loss_fn"):
        train(_mlp(), (x, y), progress=False)


def test_resume_after_stop_mid_epoch_matches_uninterrupted(tmp_path):
    """Stop at step 13 (mid-epoch 2; last checkpoint at step 10), resume, and end where a straight run ends."""
    x, y = _data()
    cfg = TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=3, seed=7)
    kw = dict(loss_fn=F.cross_entropy, progress=False)
    straight = _mlp(dropout=0.1)
    r0 = train(straight, (x, y), cfg, **kw)

    cfg = cfg.replace(checkpoint_every=5)
    killed = _mlp(dropout=0.1)
    r1 = train(killed, (x, y), cfg, checkpoint_dir=tmp_path, callbacks=[lambda i: i["step"] == 13], **kw)
    assert r1["steps"] == 13
    _, _, state, _ = load_checkpoint(tmp_path / "last.safetensors")
    assert state["step"] == 10 and state["epoch"] == 1 and state["batch"] == 2

    fresh = _mlp(seed=123, dropout=0.1)  # different init: everything must come from the checkpoint
    r2 = train(fresh, (x, y), cfg, checkpoint_dir=tmp_path, resume=True, **kw)
    assert r2["resumed_from_step"] == 10 and r2["steps"] == r0["steps"]
    assert _same(_weights(fresh), _weights(straight))
    assert [h["train_loss"] for h in r2["history"]] == pytest.approx([h["train_loss"] for h in r0["history"]], rel=1e-6)


def test_resume_refuses_other_architecture_and_keeps_checkpoint(tmp_path):
    x, y = _data()
    train(_mlp(), (x, y), TrainConfig(epochs=1), loss_fn=F.cross_entropy, checkpoint_dir=tmp_path, progress=False)
    ckpt = tmp_path / "last.safetensors"
    before = ckpt.read_bytes()
    other = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 3))
    with pytest.raises(UserError, match="another architecture"):
        train(other, (x, y), TrainConfig(epochs=2), loss_fn=F.cross_entropy, checkpoint_dir=tmp_path, resume=True,
              progress=False)
    assert ckpt.read_bytes() == before
    bad = tmp_path / "bad" / "last.safetensors"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="safetensors"):
        train(_mlp(), (x, y), loss_fn=F.cross_entropy, checkpoint_dir=bad.parent, resume=True, progress=False)


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    """A real kill: the child process SIGKILLs itself after step 9; the resumed run, in a fresh process, ends as
    a straight one. Two processes: the first runs the straight run to the end, then the one it kills."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys, torch
        from torch import nn
        from torch.nn import functional as F
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from test_train import _data, _mlp
        from zoo.harness.train import TrainConfig, train
        from safetensors.torch import save_file
        x, y = _data()

        def run(folder, out, kill):
            m = _mlp(dropout=0.1)
            def cb(info):
                if kill and info["step"] == 9:
                    os.kill(os.getpid(), signal.SIGKILL)
            cfg = TrainConfig(optimizer="momentum", lr=0.05, batch_size=32, epochs=2, seed=3, checkpoint_every=4)
            r = train(m, (x, y), cfg, loss_fn=F.cross_entropy, checkpoint_dir=folder, resume=True, callbacks=[cb],
                      progress=False)
            save_file({{k: v.contiguous() for k, v in m.state_dict().items()}}, out)
            print("RESUMED_FROM", r["resumed_from_step"], "STEPS", r["steps"], flush=True)  # before a SIGKILL

        if sys.argv[1] == "kill":
            run(sys.argv[4], sys.argv[5], kill=False)  # the straight run
        run(sys.argv[2], sys.argv[3], kill=sys.argv[1] == "kill")
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, str(script)]
    p = subprocess.run(run + ["kill", str(tmp_path / "ck"), str(tmp_path / "a.st"), str(tmp_path / "straight"),
                              str(tmp_path / "b.st")], env=env, capture_output=True)
    assert p.returncode == -9 and not (tmp_path / "a.st").exists(), p.stderr[-2000:]
    assert (tmp_path / "b.st").is_file()
    _, _, state, _ = load_checkpoint(tmp_path / "ck" / "last.safetensors")
    assert state["step"] == 8  # killed after step 9: the last checkpoint is step 8's
    assert p.stdout.decode().split() == ["RESUMED_FROM", "None", "STEPS", "16"]  # the straight run
    go = subprocess.run(run + ["go", str(tmp_path / "ck"), str(tmp_path / "a.st")], env=env, capture_output=True,
                        text=True, check=False)
    assert go.returncode == 0, go.stderr[-2000:]
    assert go.stdout.split() == ["RESUMED_FROM", "8", "STEPS", "16"]  # it went on from the checkpoint
    from safetensors.torch import load_file

    assert _same(load_file(tmp_path / "a.st"), load_file(tmp_path / "b.st"))


@pytest.mark.slow
def test_torchrun_two_processes_match_single_process(tmp_path):
    """Data parallel over 2 gloo processes = one process with the same global batch (to float tolerance)."""
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys, torch
        from torch.nn import functional as F
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from test_train import _data, _mlp
        from zoo.harness.train import TrainConfig, train
        from safetensors.torch import save_file
        x, y = _data(250)  # 250 = 7 x 32 + 26: the last global batch splits 13/13
        m = _mlp()
        r = train(m, (x, y), TrainConfig(optimizer="momentum", lr=0.05, batch_size=32, epochs=1, seed=5),
                  loss_fn=F.cross_entropy, progress=False)
        assert r["world_size"] == 2, r["world_size"]
        if r["rank"] == 0:
            save_file({{k: v.contiguous() for k, v in m.state_dict().items()}}, sys.argv[1])
            print("LOSS", r["final_train_loss"])
        m = _mlp()  # 225 = 7 x 32 + 1: rank 1 has no item of the last batch
        train(m, _data(225), TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=1, seed=5),
              loss_fn=F.cross_entropy, progress=False)
        if r["rank"] == 0:
            save_file({{k: v.contiguous() for k, v in m.state_dict().items()}}, sys.argv[1] + ".225")
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "--monitor-interval", "0.1", str(script), str(tmp_path / "ddp.st")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr[:3000] + "\n...\n" + p.stderr[-1000:]
    x, y = _data(250)
    m = _mlp()
    r = train(m, (x, y), TrainConfig(optimizer="momentum", lr=0.05, batch_size=32, epochs=1, seed=5),
              loss_fn=F.cross_entropy, progress=False)
    from safetensors.torch import load_file

    ddp = load_file(tmp_path / "ddp.st")
    assert _same(ddp, _weights(m), atol=1e-5)
    ddp_loss = float(p.stdout.split("LOSS")[-1])
    assert ddp_loss == pytest.approx(r["final_train_loss"], rel=1e-5)
    m = _mlp()
    train(m, _data(225), TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=1, seed=5),
          loss_fn=F.cross_entropy, progress=False)
    assert _same(load_file(str(tmp_path / "ddp.st") + ".225"), _weights(m), atol=1e-5)


def test_trains_registered_mlp_on_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    model = zoo.create_model("mlp", activation="gelu", depth=2, width=32)
    batch = model.preprocess(list(d.data[:600]))
    y = torch.as_tensor(d.target[:600])
    train(model, (batch.inputs, y), TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=5),
          loss_fn=F.cross_entropy, progress=False)
    preds = model.predict(list(d.data[:600]))
    acc = sum(p["label"] == t for p, t in zip(preds, d.target[:600])) / 600
    assert acc > 0.9 and len(preds[0]["probs"]) == 10


# --- TrainConfig: one place for the settings, refused when bad, saved with the state, on the command line ---

def test_config_refuses_bad_values_with_one_line():
    for kw, msg in [({"lr": -1}, "--lr must be a positive number"), ({"max_minutes": -1}, "--max-minutes must be"),
                    ({"epochs": 0}, "--epochs must be at least 1"), ({"momentum": 1.5}, "--momentum must be"),
                    ({"schedule": "step:x:2"}, "bad step schedule"), ({"dtype": "int8"}, "--dtype must be one of"),
                    ({"warmup": 0.1, "warmup_steps": 3}, "not both")]:
        with pytest.raises(UserError, match=msg):
            TrainConfig(**kw)
    with pytest.raises(UserError, match="unknown training setting 'nosuch'; valid settings: optimizer, lr"):
        TrainConfig().replace(nosuch=3)
    assert TrainConfig(batch_size="full", clip_norm=0).batch_size is None


def test_config_is_saved_in_the_checkpoint_and_resume_checks_it(tmp_path):
    x, y = _data()
    cfg = TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=1, seed=2)
    train(_mlp(), (x, y), cfg, loss_fn=F.cross_entropy, checkpoint_dir=tmp_path, progress=False)
    _, _, state, _ = load_checkpoint(tmp_path / "last.safetensors")
    assert TrainConfig.from_settings(state["config"]) == cfg
    with pytest.raises(UserError, match="checkpoint was made with lr=0.01, this run has lr=0.02"):
        train(_mlp(), (x, y), cfg.replace(lr=0.02, epochs=2), loss_fn=F.cross_entropy, checkpoint_dir=tmp_path,
              resume=True, progress=False)
    r = train(_mlp(), (x, y), cfg.replace(epochs=2), loss_fn=F.cross_entropy, checkpoint_dir=tmp_path, resume=True,
              progress=False)  # a longer budget is a continuation
    assert r["resumed_from_step"] == 8 and r["steps"] == 16


def test_zoo_train_refuses_bad_settings_before_any_work(tmp_path, capsys, monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "raw"))
    out = tmp_path / "ck"
    for args, msg in [(["--lr", "-1"], "--lr must be a positive number, got -1.0"),
                      (["--max-minutes", "-1"], "--max-minutes must be a positive number, got -1.0"),
                      (["--set", "nosuchoption=3"], "lstm has no option 'nosuchoption'; valid --set options: dropout, "
                                                     "embed_dim, hidden_size, max_length, num_layers")]:
        assert main(["train", "lstm", "--task", "sst2", "--out", str(out), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err and "Traceback" not in err, err
    assert not out.exists() and not (tmp_path / "raw").exists()


def test_the_recorded_command_line_gives_back_the_config():
    from zoo.cli import build_parser
    from zoo.commands.train import config_from_args
    from zoo.harness.train.text import command_line, text_config

    cfg = text_config("sst2", lr=0.003, clip_norm=None, max_minutes=2.5, batch_size=8, schedule="cosine", seed=4)
    run = {"model": "lstm", "task": "sst2", "pretrained": False, "limit": 100, "val_limit": None, "threads": 2,
           "threads_flag": None, "overrides": {"hidden_size": 32}}
    line = command_line(cfg, run, world=1)
    assert line.startswith("zoo train lstm --task sst2 --limit 100 --set hidden_size=32 --lr 0.003 --schedule cosine")
    args = build_parser().parse_args(line.split()[1:])
    assert config_from_args(args, "sst2") == cfg and args.limit == 100 and args.set == ["hidden_size=32"]
    assert command_line(text_config("sst2"), run, world=2).startswith("torchrun --nproc_per_node 2 -m zoo train lstm")
