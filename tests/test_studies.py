"""The gradient-descent studies at tiny scale: each effect that must hold, reproducibility, rows, tables."""

from __future__ import annotations

import pytest
import torch

from zoo.cli import main
from zoo.studies import STUDIES, run_study

TIMING_KEYS = {"train_s", "seconds_to_target", "samples_per_s", "loss_equal_time", "steps_equal_time",
               "epochs_equal_time", "train_s_equal_epochs"}


@pytest.fixture(scope="module")
def tiny_rows():
    """Every study once at tiny scale (seeds 0 and 1), not written to disk."""
    return {name: run_study(name, seeds=(0, 1), scale="tiny", write=False) for name in STUDIES}


def _by(rows, key):
    out = {}
    for r in rows:
        out.setdefault(r["settings"][key], []).append(r["metrics"])
    return out


@pytest.mark.slow
def test_relu_and_gelu_beat_sigmoid_in_a_deep_mlp(tiny_rows):
    acc = {a: [m["test_accuracy"] for m in ms] for a, ms in _by(tiny_rows["activations"], "activation").items()}
    grad = {a: [m["grad_norm_first_early"] for m in ms] for a, ms in _by(tiny_rows["activations"], "activation").items()}
    for act in ("relu", "gelu"):
        assert min(acc[act]) > max(acc["sigmoid"]) + 0.2
        assert min(grad[act]) > 10 * max(grad["sigmoid"])  # the vanishing gradient, measured


def test_large_learning_rate_diverges_or_is_flagged(tiny_rows):
    by_lr = _by(tiny_rows["learning_rate"], "lr")
    assert all(m["diverged"] for m in by_lr[10.0])
    assert all(m["diverged"] or m["unstable"] or m["steps_to_target"] is None for m in by_lr[1.0])
    assert all(not m["diverged"] and not m["unstable"] and m["steps_to_target"] is not None for m in by_lr[0.1])
    assert all(m["steps_to_target"] is None for m in by_lr[0.001])  # too slow to get there in the budget


def test_l1_gives_more_near_zero_weights_than_none(tiny_rows):
    sp = {k: [m["sparsity"] for m in ms] for k, ms in _by(tiny_rows["regularization"], "regularization").items()}
    assert min(sp["L1 (1e-3)"]) > max(sp["none"]) + 0.1
    assert min(sp["L1 (1e-3)"]) > max(sp["L2 (1e-3)"])  # L1 zeroes weights, L2 only shrinks them
    for ms in _by(tiny_rows["regularization"], "regularization").values():
        assert all(m["gap"] == pytest.approx(m["train_accuracy"] - m["test_accuracy"]) for m in ms)


def test_full_batch_takes_fewer_steps_and_ends_higher_at_equal_epochs(tiny_rows):
    by = _by(tiny_rows["gd_variants"], "variant")
    n = tiny_rows["gd_variants"][0]["settings"]["batch_size"]  # stochastic: batch 1
    assert n == 1
    epochs = tiny_rows["gd_variants"][0]["settings"]["epochs"]
    assert all(m["steps_equal_epochs"] == 1078 * epochs for m in by["stochastic"])
    assert all(m["steps_equal_epochs"] == epochs for m in by["full batch"])
    assert max(m["loss_equal_epochs"] for m in by["mini-batch 32"]) < min(m["loss_equal_epochs"] for m in by["full batch"])
    assert min(m["samples_per_s"] for m in by["full batch"]) > max(m["samples_per_s"] for m in by["stochastic"])


def test_local_minima_spread(tiny_rows):
    losses = [r["metrics"]["final_loss"] for r in tiny_rows["local_minima"]]
    solved = [r["metrics"]["solved"] for r in tiny_rows["local_minima"]]
    assert any(solved) and not all(solved)  # some initializations reach the global basin, some do not
    assert max(losses) > 10 * min(losses)


def test_metrics_agree_with_the_confusion_matrix(tiny_rows):
    for r in tiny_rows["metrics"]:
        m = r["metrics"]
        cm = torch.tensor(m["confusion"])
        assert int(cm.sum()) == 360
        assert m["accuracy"] == pytest.approx(float(cm.trace()) / 360)
        recall = cm.diag().float() / cm.sum(1).float()
        assert m["recall_macro"] == pytest.approx(float(recall.mean()))
        assert m["per_class"]["3"]["support"] == int(cm[3].sum())


def test_ff_vs_recurrent_rows(tiny_rows):
    rows = tiny_rows["ff_vs_recurrent"]
    assert {(r["settings"]["task"], r["settings"]["arch"]) for r in rows} == {
        (t, a) for t in ("digits: rows in order", "digits: pixels permuted") for a in ("mlp", "lstm_rows")} | {
        (t, a) for t in ("SST-2: words in order", "SST-2: words shuffled") for a in ("bow_mlp", "lstm_tokens")}
    assert all(r["metrics"]["test_accuracy"] > 0.5 for r in rows if r["settings"]["task"].startswith("digits"))
    # a bag of words cannot see word order: shuffled sentences give the same model (to float rounding)
    bow = {(r["settings"]["task"], r["settings"]["seed"]): r["metrics"] for r in rows if r["model"] == "bow_mlp"}
    for seed in (0, 1):
        a, b = bow[("SST-2: words in order", seed)], bow[("SST-2: words shuffled", seed)]
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=2 / 1821)
        assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-4)
    sst = [r for r in rows if r["model"] in ("bow_mlp", "lstm_tokens")]
    assert all(r["dataset"].startswith("SST-2") and len(r["dataset_sha256"]) == 129 for r in sst)


def test_mlp_is_indifferent_to_a_fixed_pixel_order():
    """The premise of study 2: permuting inputs and the first layer's columns alike gives the same training."""
    from torch.nn import functional as F

    import zoo
    from zoo.harness.train import TrainConfig, set_seed, train
    from zoo.studies.common import digits

    d = digits()
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    set_seed(0)
    a = zoo.create_model("mlp", width=16)
    b = zoo.create_model("mlp", width=16)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b.net.features[0].weight.copy_(a.net.features[0].weight[:, perm])
    kw = dict(loss_fn=F.cross_entropy, progress=False)
    cfg = TrainConfig(lr=0.1, batch_size=64, epochs=2)
    train(a, d.train.pair, cfg, **kw)
    train(b, (d.train.x[:, perm], d.train.y), cfg, **kw)
    assert torch.allclose(a(d.test.x), b(d.test.x[:, perm]), atol=1e-5)


def test_same_seed_same_numbers():
    a = run_study("learning_rate", seeds=(3,), scale="tiny", write=False)
    b = run_study("learning_rate", seeds=(3,), scale="tiny", write=False)
    strip = [{k: v for k, v in r["metrics"].items() if k not in TIMING_KEYS} for r in a]
    assert strip == [{k: v for k, v in r["metrics"].items() if k not in TIMING_KEYS} for r in b]
    c = run_study("learning_rate", seeds=(4,), scale="tiny", write=False)
    assert [r["metrics"]["test_accuracy"] for r in a] != [r["metrics"]["test_accuracy"] for r in c]


def test_rows_tables_and_plots(tiny_rows, tmp_path):
    from zoo.report.studies import plots, tables

    rows = [r for name in STUDIES for r in tiny_rows[name]]
    for r in rows:
        assert r["kind"] == "study" and r["weights"] == "random-init" and r["run_id"] and r["machine"]["cpu"]
    ts = tables({"studies": rows})
    assert [t.slug for t in ts] == ["study_activations", "study_ff_vs_recurrent", "study_learning_rate", "study_metrics",
                                    "study_metrics_per_class", "study_gd_variants", "study_regularization",
                                    "study_local_minima"]
    for t in ts:
        assert t.rows and all(len(r) == len(t.columns) for r in t.rows)
        assert any(n.startswith("command: `zoo study") for n in t.notes) and any("seed" in n for n in t.notes)
    lr = next(t for t in ts if t.slug == "study_learning_rate")
    assert [r[0] for r in lr.rows] == ["0.001", "0.01", "0.1", "1", "10"] and lr.rows[-1][5] == "2/2"
    made = plots({"studies": rows}, tmp_path)
    assert sorted(p.name for p in made) == ["studies_activations.png", "studies_confusion_matrix.png",
                                            "studies_ff_vs_recurrent.png", "studies_gd_variants.png",
                                            "studies_learning_rate.png", "studies_local_minima.png",
                                            "studies_regularization.png"]
    again = plots({"studies": rows}, tmp_path / "again")
    assert [p.read_bytes() for p in made] == [p.read_bytes() for p in again]  # deterministic bytes


def test_latest_run_wins(tiny_rows):
    from zoo.report.studies import latest_runs

    old = [dict(r, run_id="a", time="2020-01-01T00:00:00+00:00") for r in tiny_rows["local_minima"]]
    new = [dict(r, run_id="b", time="2021-01-01T00:00:00+00:00") for r in tiny_rows["local_minima"][:3]]
    assert len(latest_runs(new + old)["local_minima"]) == 3


def test_cli_runs_a_study_and_writes_rows(results_dir, tmp_path, capsys):
    assert main(["study", "local_minima", "--scale", "tiny", "--seeds", "0", "--no-report"]) == 0
    from zoo.results import read_rows

    rows = read_rows(results_dir / "studies.jsonl")
    assert len(rows) == 12 and {r["study"] for r in rows} == {"local_minima"}
    assert rows[0]["command"].startswith("zoo study")


def test_cli_bad_input_is_one_line(results_dir, capsys):
    assert main(["study", "nope"]) == 2
    assert "unknown study 'nope'" in capsys.readouterr().err
    assert main(["study", "metrics", "--seeds", "a,b"]) == 2
    assert not (results_dir / "studies.jsonl").exists()


def test_batched_xor_equals_the_training_loop():
    from torch.nn import functional as F

    from zoo.harness.train import TrainConfig, train
    from zoo.studies.local_minima import X, Y, train_batched, xor_net

    nets = [xor_net(s) for s in (5, 6)]
    losses = train_batched(nets, 200, 2.0)
    ref = xor_net(6)
    cfg = TrainConfig(lr=2.0, batch_size=None, epochs=200, shuffle=False, divergence_factor=None)
    train(ref, (X, Y), cfg, loss_fn=F.binary_cross_entropy_with_logits, progress=False)
    with torch.no_grad():
        final = float(F.binary_cross_entropy_with_logits(ref(X), Y))
    assert final == pytest.approx(losses[1], rel=1e-4, abs=1e-6)
    for a, b in zip(ref.parameters(), nets[1].parameters()):
        assert torch.allclose(a, b, atol=1e-4)


def test_cli_study_regenerates_its_table(results_dir, capsys):
    assert main(["study", "learning_rate", "--scale", "tiny", "--seeds", "0,1"]) == 0
    md = (results_dir.parent / "study_learning_rate.md").read_text()
    assert "Study 3" in md and "command: `zoo study" in md and "seeds 0, 1" in md
    assert (results_dir.parent / "plots" / "studies_learning_rate.png").is_file()
