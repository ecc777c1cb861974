"""--recipe fast: the frozen stem's activations are cached once and only the rest trains. The split network
computes what the whole one does, the recipe's settings apply unless given, the run is a checkpoint zoo eval
scores, and its row records the recipe and the caching time. Tiny red-vs-blue data, Lite0 at 32 px."""

from __future__ import annotations

import torch
from test_train_vision import MODEL, folders  # noqa: F401  (the fixture)

from zoo import evaluate
from zoo.harness.loading.vision import prepare_classifier
from zoo.harness.train.vision import VisionRun, image_config, train_image_classifier
from zoo.harness.train.vision_fast import cache_views, fast_recipe, split_frozen_prefix
from zoo.harness.train.vision_model import freeze
from zoo.results import read_rows


def test_prefix_then_suffix_is_the_whole_network():
    model = prepare_classifier(MODEL, ["a", "b", "c"], pretrained=True, image_size=64, seed=0)
    freeze(model.net, "last:13")
    prefix, suffix = split_frozen_prefix(model.net)
    assert not any(p.requires_grad for p in prefix.parameters())
    assert all(p.requires_grad for p in suffix.parameters())
    model.net.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(suffix(prefix(x)), model.net(x), atol=1e-5)
        views = cache_views(prefix, [(x[0], 0), (x[1], 1)])
    assert views.shape[:2] == (2, 2) and views.dtype == torch.bfloat16
    with torch.no_grad():  # the second view is the mirrored image
        assert torch.allclose(views[0, 1].float(), prefix(x[:1].flip(-1))[0], rtol=1e-2, atol=1e-2)


def test_recipe_settings_unless_given():
    run, cfg = fast_recipe(VisionRun(image_size=96), image_config(epochs=3), {"image_size"}, {"epochs"})
    assert (run.recipe, run.image_size, run.freeze, cfg.epochs, cfg.batch_size) == ("fast", 96, "last:13", 3, 64)


def test_fast_run_is_a_checkpoint_and_a_row(folders, tmp_path, results_dir, zoo_cache):  # noqa: F811
    train_dir, held_dir = folders
    # only the head trains (a fresh head on cached features learns red vs blue surely; BatchNorm layers in
    # trained blocks need bigger batches than this data has)
    run, cfg = fast_recipe(VisionRun(image_size=32, freeze="head"), image_config(), {"image_size", "freeze"},
                           {"epochs", "batch_size"})
    r = train_image_classifier(MODEL, train_dir, cfg.replace(epochs=4, batch_size=4, lr=5e-3), run,
                               out=tmp_path / "ck", progress=False, val_data=held_dir)
    assert r["steps"] == 12
    row, = read_rows(results_dir / "train.jsonl")
    assert row["settings"]["recipe"] == "fast" and "--recipe fast" in row["command"]
    m = row["metrics"]
    assert 0 < m["cache_s"] and abs(m["train_time_s"] - m["cache_s"] - m["loop_s"]) < 1e-6
    curve = [(h["epoch"], h["val_accuracy"], h["train_minutes"]) for h in row["history"]]
    assert [e for e, _, _ in curve] == [1, 2, 3, 4] and all(0 <= a <= 100 for _, a, _ in curve)
    assert all(b[2] > a[2] > 0 for a, b in zip(curve, curve[1:]))  # minutes of training so far, caching included
    assert row["settings"]["val_data"] == str(held_dir) and "--val-data" in row["command"]
    ev = evaluate(MODEL, held_dir, checkpoint=tmp_path / "ck", write=False, progress=False)
    assert ev["metrics"]["top1"] == 100.0  # red vs blue, through the whole saved network on image files
    assert curve[-1][1] == 100.0  # the last epoch's score on the cached activations says the same


def test_mixup_blends_inputs_and_targets_and_dropout_acts_in_training_only():
    import torch.nn.functional as F

    from zoo.harness.train.vision_fast import augmented_loss, max_shift, translate

    model = prepare_classifier(MODEL, ["a", "b", "c"], pretrained=True, image_size=64, seed=0)
    freeze(model.net, "last:13")
    prefix, suffix = split_frozen_prefix(model.net, dropout=0.5)
    x, labels = torch.rand(4, 3, 64, 64), torch.tensor([0, 1, 2, 0])
    views = cache_views(prefix, [(x[i], int(labels[i])) for i in range(4)])
    suffix.eval()
    plain = split_frozen_prefix(model.net)[1].eval()
    with torch.no_grad():
        v = views[:, 0].float()
        assert torch.equal(suffix(v), plain(v))  # no dropout at eval: the saved network has none
        suffix.train()
        assert not torch.equal(suffix(v), suffix(v))
    suffix.eval()  # deterministic forward; replay the step's draws to check what it computed
    torch.manual_seed(0)
    with torch.no_grad():
        loss = augmented_loss(0.0, mixup=0.4)(suffix, (views, labels))
    torch.manual_seed(0)
    pick = torch.randint(0, 2, (4,))
    xs = translate(views[torch.arange(4), pick].float(), max_shift(views.shape[-1]))
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    perm = torch.randperm(4)
    with torch.no_grad():
        out = suffix(lam * xs + (1 - lam) * xs[perm])
    want = lam * F.cross_entropy(out, labels) + (1 - lam) * F.cross_entropy(out, labels[perm])
    assert 0 < lam < 1 and torch.allclose(loss, want)


def test_translate_moves_each_image_by_its_own_shift_with_edges_repeated():
    from zoo.harness.train.vision_fast import max_shift, translate

    assert max_shift(20) == 2 and max_shift(24) == 2 and max_shift(8) == 1
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    torch.manual_seed(1)
    out = translate(x, 2)
    torch.manual_seed(1)
    dy, dx = torch.randint(0, 5, (2, 2, 1))
    seen = set()
    for i in range(2):
        ry, rx = int(dy[i]) - 2, int(dx[i]) - 2  # the window's offset: content moves by (-ry, -rx)
        seen.add((ry, rx))
        rows = [min(max(r + ry, 0), 4) for r in range(5)]
        cols = [min(max(c + rx, 0), 4) for c in range(5)]
        assert torch.equal(out[i], x[i][:, rows][:, :, cols])
    assert out.shape == x.shape and len(seen) == 2  # the two images got different shifts (seed 1)


def test_mixup_and_dropout_are_fast_recipe_settings():
    import pytest

    from zoo.errors import UserError

    with pytest.raises(UserError, match="--mixup, --dropout and --block-lr are settings of --recipe fast"):
        VisionRun(mixup=0.2)
    with pytest.raises(UserError, match="--dropout in"):
        VisionRun(recipe="fast", dropout=1.5)


def test_block_lr_puts_the_pretrained_blocks_in_slower_groups():
    from zoo.harness.train.optim import make_optimizer

    model = prepare_classifier(MODEL, ["a", "b"], pretrained=True, image_size=64, seed=0)
    freeze(model.net, "last:13")
    _, suffix = split_frozen_prefix(model.net, block_lr=0.1)
    opt = make_optimizer(suffix, image_config(lr=1e-3))
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert {lrs[id(p)] for p in suffix.blocks.parameters()} == {1e-4}
    assert {lrs[id(p)] for p in suffix.classifier.parameters()} == {1e-3}
    assert len(lrs) == sum(1 for p in suffix.parameters() if p.requires_grad)  # every trainable one, once
