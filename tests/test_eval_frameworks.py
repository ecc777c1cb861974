"""The frameworks comparison: the same ResNet weights in torchvision, timm, transformers and ONNX Runtime."""

from __future__ import annotations

import json

import pytest
import torch

from zoo.experiments import frameworks_pytorch as fw


def test_key_maps_are_one_to_one_and_checked():
    import timm
    import torchvision
    from transformers import ResNetConfig, ResNetForImageClassification

    for arch in ("resnet18", "resnet50"):
        sd = getattr(torchvision.models, arch)().state_dict()
        fw.check_same_layout(fw.torchvision_to_timm(sd), timm.create_model(arch).state_dict(), arch)
        depths, widths, kind = fw.RESNETS[arch]
        hf = ResNetForImageClassification(ResNetConfig(depths=list(depths), hidden_sizes=list(widths),
                                                       layer_type=kind, num_labels=1000))
        fw.check_same_layout(fw.torchvision_to_hf(sd), hf.state_dict(), arch)
    broken = fw.torchvision_to_hf(sd)
    broken.pop("classifier.1.bias")
    with pytest.raises(ValueError, match="does not cover"):
        fw.check_same_layout(broken, hf.state_dict(), "broken")
    with pytest.raises(ValueError, match="no HF name"):
        fw.torchvision_to_hf({"head.weight": torch.zeros(1)})


@pytest.mark.slow
def test_same_weights_same_logits(results_dir):
    rows = fw.compare("resnet18", n_images=4, batch_size=4, rounds=1, log=lambda *a: None)
    by = {r["framework"]: r for r in rows}
    assert list(by) == ["torchvision", "timm", "transformers", "onnxruntime"]
    for name, r in by.items():
        m = r["metrics"]
        assert m["n"] == 4 and m["top1_agree"] == 4, name
        assert m["max_rel_logit_diff"] < 1e-4, (name, m)  # fp32 reordering only
        assert m["ms_per_batch_median"] > 0 and r["weights"] == "random-init"
    assert by["timm"]["metrics"]["max_abs_logit_diff"] == 0.0  # identical modules, identical kernels
    written = [json.loads(line) for line in (results_dir / "frameworks.jsonl").read_text().splitlines()]
    assert [w["framework"] for w in written] == list(by)
    assert len({w["dataset_sha256"] for w in written}) == 1


def test_different_weights_would_be_caught():
    """The comparison is not vacuous: a perturbed copy of the weights moves the logits."""
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.resnet18().eval()
    sd = tv.state_dict()
    sd2 = {k: (v + 0.05 * torch.randn_like(v) if k == "fc.weight" else v) for k, v in sd.items()}
    import timm

    tm = timm.create_model("resnet18").eval()
    tm.load_state_dict(fw.torchvision_to_timm(sd2))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (tm(x) - tv(x)).abs().max() > 1e-3
