"""The device peak probe: re-measured in every bench process, the cache keeps the best ever
seen, rows record both, int8 configurations divide by an int8 probe, and a row above 100 % is flagged."""

from __future__ import annotations

import json
import time

import pytest
import torch
from helpers import FAST, tiny

import zoo.harness.speed.cost as sc
import zoo.harness.speed.runner as speed
from zoo.harness.speed.runner import OVER_PEAK, PeakCache, bench, peak_dtype, peak_flags


@pytest.fixture
def fresh_probe(monkeypatch, tmp_path):
    """An empty cache folder, no probe measured in "this process" yet, and a fake probe whose readings the
    test sets (``readings``); ``calls`` counts the measurements."""
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sc, "_THIS_PROCESS", {})
    state = {"readings": [], "calls": 0}

    def fake(device, dtype, n=None, repeats=5, budget_s=sc.PROBE_BUDGET_S):
        state["calls"] += 1
        value = state["readings"].pop(0)
        return {"tflops": value, "path": "mm", "paths": {"mm": value}, "n": 1024, "dtype": dtype,
                "rounds": {"mm": 5}, "time": f"t{state['calls']}"}

    monkeypatch.setattr(sc, "measure_matmul_peak", fake)
    return state


def _new_process(monkeypatch):
    monkeypatch.setattr(sc, "_THIS_PROCESS", {})


def _write_cache(key: str, tflops: float) -> None:
    path = sc._probe_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: {"tflops": tflops, "path": "mm", "n": 1024, "dtype": "fp32", "time": "old"}}))


def test_the_probe_is_measured_in_each_process_not_read_from_an_old_cache(fresh_probe, monkeypatch):
    key = sc._probe_key("cpu", "fp32", torch.get_num_threads())
    _write_cache(key, 0.056)  # a probe measured once on a busy machine, cached "forever" before
    fresh_probe["readings"] = [0.30]
    p = sc.device_peak("cpu", "fp32")
    assert fresh_probe["calls"] == 1 and not p["cached"]
    assert p["this_process"]["tflops"] == 0.30 and p["tflops"] == 0.30  # the low old probe no longer rules
    again = sc.device_peak("cpu", "fp32")  # the same process: measured once
    assert fresh_probe["calls"] == 1 and again["cached"] and again["tflops"] == 0.30
    _new_process(monkeypatch)
    fresh_probe["readings"] = [0.20]
    p = sc.device_peak("cpu", "fp32")  # a later process measures again, even with a cache there
    assert fresh_probe["calls"] == 2 and p["this_process"]["tflops"] == 0.20


def test_the_cache_keeps_the_best_ever_seen_and_refresh_replaces_it(fresh_probe, monkeypatch):
    fresh_probe["readings"] = [0.40, 0.10, 0.50, 0.05]
    assert sc.device_peak("cpu", "fp32")["tflops"] == 0.40
    _new_process(monkeypatch)
    busy = sc.device_peak("cpu", "fp32")  # a busy machine reads low: it never lowers the best
    assert busy["this_process"]["tflops"] == 0.10 and busy["tflops"] == 0.40
    _new_process(monkeypatch)
    assert sc.device_peak("cpu", "fp32")["tflops"] == 0.50
    cache = json.loads(sc._probe_file().read_text())
    assert [v["tflops"] for v in cache.values()] == [0.50]
    _new_process(monkeypatch)
    assert sc.device_peak("cpu", "fp32", refresh=True)["tflops"] == 0.05  # --refresh-peak: forget the best


def test_a_slow_probe_shrinks_to_fit_the_budget(monkeypatch):
    """A kernel far below the machine's speed (bf16 mm without native support) is probed at a smaller size
    instead of running minutes: fake calls cost time proportional to their FLOPs."""
    class FakeTime:
        now = 0.0

        @classmethod
        def perf_counter(cls):
            return cls.now

    def factory(n, div):
        m = n // div
        def call():
            FakeTime.now += 2 * m**3 / 1e9  # 1 GFLOP/s: a full-size 1024 call would take 2.1 s
        return call, (), {}, 2 * m**3

    monkeypatch.setattr(sc, "time", FakeTime)
    run = sc._best_rounds(factory, 1024, repeats=5, inner=5, budget_s=1.0, cuda=False)
    assert run["scale"] == "1/4" and run["tflops"] == pytest.approx(1e-3)
    assert FakeTime.now <= 1.5
    FakeTime.now = 0.0
    assert sc._best_rounds(factory, 64, repeats=5, inner=5, budget_s=1.0, cuda=False)["scale"] == "1"


def test_int8_probe_runs_the_integer_gemms_within_the_budget():
    t0 = time.perf_counter()
    p = sc.measure_matmul_peak("cpu", "int8", budget_s=0.5)
    assert time.perf_counter() - t0 < 10
    assert "qlinear" in p["paths"] and p["dtype"] == "int8" and p["tflops"] == max(p["paths"].values()) > 0
    with pytest.raises(ValueError, match="no peak probe"):
        sc.measure_matmul_peak("cpu", "int4")


def test_int8_configurations_divide_by_the_int8_peak():
    assert peak_dtype({"backend": "openvino", "dtype": "int8"}) == "int8"
    assert peak_dtype({"backend": "int8", "dtype": "fp32"}) == "int8"  # dynamic int8 Linear: fp32 activations
    assert peak_dtype({"backend": "ort_int8", "dtype": "fp32"}) == "int8"
    assert peak_dtype({"backend": "compile", "dtype": "bf16"}) == "bf16"
    assert peak_dtype({}) == "fp32"
    seen = []
    cache = PeakCache("cpu", 1, True, lambda s: None)
    cache.get = lambda dtype: seen.append(dtype) or {"tflops": 2.0, "dtype": dtype, "this_process": {"tflops": 1.5}}
    m = cache.metrics({"backend": "openvino", "dtype": "int8"})
    assert seen == ["int8"] and m["peak_tflops"] == 2.0 and m["peak_tflops_this_process"] == 1.5
    assert PeakCache("cpu", 1, False, lambda s: None).metrics({"dtype": "fp32"}) == {}


def test_rows_record_both_probes_and_a_row_above_100_percent_is_flagged(results_dir, monkeypatch):
    from zoo.commands.bench import _cells
    from zoo.report import speed as speed_report
    from zoo.results import read_all

    (ok,) = bench(model=tiny(), batch_sizes=(1,), **FAST)
    m = ok["metrics"]
    assert m["peak_tflops"] >= m["peak_tflops_this_process"] > 0 and m["peak_probe"]["this_process"]
    assert not any(OVER_PEAK in f for f in ok["flags"]) and m["share_of_peak"] < 1

    def too_low(device, dtype, threads=None, refresh=False):
        return {"tflops": 1e-12, "dtype": dtype, "key": "k", "path": "mm", "n": 8, "this_process": {"tflops": 1e-12}}

    monkeypatch.setattr(speed, "device_peak", too_low)
    (row,) = bench(model=tiny(), batch_sizes=(1,), dtype="bf16", **FAST)
    assert row["metrics"]["share_of_peak"] > 1
    assert any(f.startswith(OVER_PEAK) for f in row["flags"])
    assert ">100%!" in _cells(row)["% peak"]
    main = {t.slug: t for t in speed_report.tables(read_all(results_dir))}["speed"]
    share = main.columns.index("% of peak")
    cells = {r[2]: r[share] for r in main.rows}
    assert ">100 %!" in cells["eager+bf16"] and isinstance(cells["eager+fp32"], float)
    assert any("'>100 %!'" in n for n in main.notes)
    assert peak_flags({"share_of_peak": 0.5}) == [] and peak_flags({}) == []


def test_refresh_peak_covers_the_dtypes_auto_may_pick():
    from zoo.commands.bench import refresh_dtypes
    from zoo.harness.speed.config import BenchConfig

    assert refresh_dtypes(BenchConfig()) == ["fp32"]
    assert refresh_dtypes(BenchConfig(dtype="bf16")) == ["fp32", "bf16"]
    assert refresh_dtypes(BenchConfig(backend="auto")) == ["fp32", "bf16", "int8"]


# --- the speed tables show the sequence length (item 5's second half) ----------------------------------------

def _text_row(seq_setting, seq_metric, gflops, backend, t):
    from zoo.results import make_row

    m = {"p50_ms": 10.0, "p90_ms": 11.0, "p99_ms": 12.0, "items_per_s": 100.0, "gflops_per_item": gflops}
    if seq_metric:
        m["seq_len"] = seq_metric
    row = make_row("speed", model="bert_base", spec_hash=None, weights="random-init", dataset="example_items",
                   settings={"device": "cpu", "backend": backend, "dtype": "fp32", "batch_size": 1,
                             "requested_batch_size": 1, "seq_len": seq_setting},
                   metrics=m, key=f"k{t}", status="ok", task="text-classification", device="cpu",
                   command="zoo bench bert_base", backend_used=f"{backend}+fp32", scenario="SingleStream")
    row["time"] = f"2026-11-30T10:0{t}:00"
    return row


def test_speed_tables_show_the_sequence_length_of_text_rows():
    from zoo.report import speed as speed_report

    rows = {"speed": [_text_row(128, None, 21.7, "eager", 1), _text_row(None, 14, 2.4, "eager", 2),
                      _text_row(None, None, 2.4, "eager", 3)]}
    main = {t.slug: t for t in speed_report.tables(rows)}["speed"]
    col = main.columns.index("seq len")
    assert sorted(str(r[col]) for r in main.rows) == ["128", "14", "unpadded"]  # three lengths, three lines
    assert any(n.startswith("seq len:") for n in main.notes)


def test_token_count_reads_the_width_of_integer_inputs():
    from zoo.harness.speed.runner import token_count

    assert token_count({"input_ids": torch.zeros(1, 128, dtype=torch.long), "x": torch.zeros(1, 3)}) == 128
    assert token_count(torch.zeros(1, 3, 32, 32)) is None


def test_the_cached_peak_belongs_to_the_isa_it_was_measured_on(fresh_probe, monkeypatch):
    """The same CPU model name has come with AVX2 only and with AVX-512 VNNI/bf16: a best-ever peak cached on
    one must not be the denominator on the other."""
    machine = {"cpu": "AMD EPYC", "cores": 2, "isa": ["avx2", "avx512f", "avx512_vnni"]}
    monkeypatch.setattr(sc, "machine_info", lambda: machine)
    fresh_probe["readings"] = [0.9]
    assert sc.device_peak("cpu", "int8", 2)["tflops"] == 0.9  # cached for the AVX-512 machine
    _new_process(monkeypatch)
    machine = {"cpu": "AMD EPYC", "cores": 2, "isa": ["avx2"]}
    fresh_probe["readings"] = [0.3]
    p = sc.device_peak("cpu", "int8", 2)
    assert p["tflops"] == 0.3 and "avx2|" in p["key"] and "avx512" not in p["key"]
    machine = {"cpu": "AMD EPYC", "cores": 2, "isa": None}
    assert "isa unknown" in sc._probe_key("cpu", "int8", 2)


def test_paired_peak_times_the_probes_beside_the_chosen_configuration(monkeypatch):
    from zoo.commands.bench import paired_notes
    from zoo.harness.speed import measure

    rounds_seen = []
    real = measure.measure_rounds
    monkeypatch.setattr(measure, "measure_rounds", lambda fns, *a: rounds_seen.append((len(fns), a[-1])) or real(fns, *a))
    (row,) = bench(model=tiny(), batch_sizes=(1,), paired_peak=True, write=False, **FAST)
    m = row["metrics"]
    p = m["paired_peak"]
    probes = sc.probe_calls("cpu", "fp32")
    assert (1 + len(probes), measure.PAIRED_ROUNDS) in rounds_seen  # the model and each probe, alternating
    assert p["dtype"] == "fp32" and set(p["paths"]) == set(probes) and p["tflops"] == max(p["paths"].values()) > 0
    assert len(p["iterations"]) == 1 + len(probes) and min(p["iterations"]) >= measure.PAIRED_ROUNDS
    rate = m["flops_per_item"] / (p["model_p50_ms"] / 1e3) / 1e12
    assert m["share_of_peak_paired"] == pytest.approx(rate / p["tflops"])
    assert row["settings"]["paired_peak"] is True
    (note,) = paired_notes([row])
    assert "of the fp32 peak timed beside it" in note and f"{100 * m['share_of_peak_paired']:.1f}%" in note
    (plain,) = bench(model=tiny(), batch_sizes=(1,), write=False, **FAST)
    assert "paired_peak" not in plain["metrics"] and paired_notes([plain]) == []
