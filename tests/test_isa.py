"""The CPU's ISA decides INT8 and bf16: candidates follow it and rows say which ISA limited a pick."""

from __future__ import annotations

import pytest
from torch import nn

from zoo.harness import backends
from zoo.harness.backends import isa

AVX2 = frozenset({"avx2", "fma"})
VNNI_BF16 = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
AVX512_ONLY = frozenset({"avx2", "avx512f"})


def test_int8_without_vnni_says_avx2_and_with_vnni_nothing():
    [flag] = isa.isa_flags("int8", "cpu", AVX2)
    assert "without VNNI" in flag and "VPMADDUBSW" in flag
    assert isa.isa_flags("int8", "cpu", VNNI_BF16) == []
    assert isa.isa_flags("int8", "cuda", AVX2) == [] and isa.isa_flags("fp32", "cpu", AVX2) == []


def test_bf16_without_native_instructions_is_flagged_and_unknown_isa_is_said():
    assert "emulated" in isa.isa_flags("bf16", "cpu", AVX512_ONLY)[0]
    assert isa.isa_flags("bf16", "cpu", VNNI_BF16) == []
    assert isa.native_bf16(frozenset()) is False and isa.native_int8(VNNI_BF16) is True


def test_auto_drops_bf16_candidates_on_a_cpu_without_native_bf16(monkeypatch):
    monkeypatch.setattr(backends.registry, "bf16_supported", lambda device: True)  # oneDNN would emulate it
    monkeypatch.setattr(isa, "native_bf16", lambda flags=None: False)
    cands = backends.auto_candidates("cpu", "image-classification", nn.Sequential(nn.Conv2d(3, 4, 3)))
    assert not [c for c in cands if c.dtype == "bf16"]
    assert any(c.dtype == "int8" for c in cands)  # int8 stays: VPMADDUBSW still beats fp32 (2.34x measured)
    monkeypatch.setattr(isa, "native_bf16", lambda flags=None: True)
    cands = backends.auto_candidates("cpu", "image-classification", nn.Sequential(nn.Conv2d(3, 4, 3)))
    assert any(c.dtype == "bf16" for c in cands)


@pytest.mark.skipif(isa.cpu_flags() is None, reason="CPU flags unreadable here")
def test_this_cpu_is_read():
    assert isa.native_int8() in (True, False) and ("avx2" in isa.cpu_flags()) == ("avx2" in open("/proc/cpuinfo").read())


def test_speed_row_keys_tell_isa_tiers_apart_and_keep_old_keys():
    """Two machines of one CPU model name, AVX2-only and AVX-512 VNNI+bf16, never share a row key; a row
    recorded before the flags (isa None) keeps the key it was written with."""
    from zoo.harness.speed import BenchConfig

    cfg = BenchConfig()
    base = {"cpu": "AMD EPYC", "cores": 2}
    avx2 = cfg.row_key("resnet50", 1, {**base, "isa": sorted(AVX2)})
    vnni = cfg.row_key("resnet50", 1, {**base, "isa": sorted(VNNI_BF16)})
    old = cfg.row_key("resnet50", 1, {**base, "isa": None})
    assert len({avx2, vnni, old}) == 3
    assert old == cfg.row_key("resnet50", 1, base)
