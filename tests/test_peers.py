"""Peers side by side: zoo's pick beside what users would pick instead, timed in one process
in alternating rounds; rows of kind "peers"; the "zoo vs what users would pick instead" table.

A tiny convnet (tests/helpers.py) stands in for the registry's models; no timing figure is checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import TinyClassifier, tiny, tiny_spec

from zoo.errors import UserError
from zoo.experiments import peers as P
from zoo.harness.backends import BackendConfig
from zoo.harness.speed.config import BenchConfig
from zoo.harness.speed.timing import TimingPolicy
from zoo.results import append_row, make_row, read_rows

FAST = TimingPolicy(warmup=1, min_iters=3, min_duration_s=0.02)
PICK = (BackendConfig("eager", "fp32", channels_last=True), "given by the test")


def _run(which, model=None, pick=PICK):
    return P.run_model("speedtest_tiny", 1, which, pick, FAST, 2, Path("/nonexistent/speed.jsonl"),
                       model=model or tiny(), log=lambda s: None)


def test_peers_run_side_by_side_and_rows_carry_the_ratio_to_zoos_pick(results_dir):
    rows = _run(("zoo", "eager", "timm", "ultralytics"))
    by = {r["peer"]: r for r in rows}
    zoo = by["zoo's pick: eager+fp32+channels_last"]
    eager = by["torch eager fp32"]
    assert zoo["status"] == eager["status"] == "ok" and zoo["scope"] == eager["scope"] == "forward"
    assert zoo["metrics"]["speed_vs_zoo"] == 1.0
    assert eager["metrics"]["speed_vs_zoo"] == pytest.approx(zoo["metrics"]["p50_ms"] / eager["metrics"]["p50_ms"])
    assert eager["settings"]["mode"] == "model.eval(); torch.no_grad()" and eager["library"]["torch"]
    assert zoo["settings"]["backend_config"]["channels_last"] and zoo["settings"]["found_by"] == "given by the test"
    assert by["timm benchmark.py"]["status"] == "skipped" and "not a timm model" in by["timm benchmark.py"]["note"]
    assert by["ultralytics formats"]["status"] == "skipped"
    assert len({r["settings"]["run"] for r in rows}) == 1 and all(r["weights"] == "random-init" for r in rows)
    for r in rows:  # rows are valid "peers" rows: they append and read back
        append_row(results_dir / "peers.jsonl", r)
    assert len(read_rows(results_dir / "peers.jsonl")) == len(rows)


def test_the_peers_alternate_round_by_round():
    calls = []
    fake = [P.Peer(n, P.FORWARD, (lambda n=n: calls.append(n)), {}) for n in "AB"]
    P.time_peers(fake, TimingPolicy(warmup=0, min_iters=2, min_duration_s=0), rounds=3, log=lambda s: None)
    timed = calls[2:]  # after one warm call each
    assert timed.count("A") == timed.count("B") and timed[0] == "A"
    switches = sum(a != b for a, b in zip(timed, timed[1:]))
    assert switches >= 5  # ABABAB by rounds, not AAAAAA then BBBBBB


def test_timm_models_get_timm_benchmark_settings():
    spec = dataclasses.replace(tiny_spec(), source="timm")
    rows = _run(("eager", "timm"), model=TinyClassifier(spec).eval(), pick=(None, ""))
    timm_rows = [r for r in rows if r["peer"].startswith("timm benchmark.py")]
    assert [r["settings"]["channels_last"] for r in timm_rows] == [False, True]
    assert all(r["settings"]["precision"] == "float32" and not r["settings"]["torchscript"]
               and "pytorch-image-models" in r["settings"]["source"] for r in timm_rows)
    assert all("speed_vs_zoo" not in r["metrics"] for r in rows)  # no zoo pick timed: no ratio invented


def test_graph_runtime_peers_use_their_defaults(results_dir):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    rows = {r["peer"]: r for r in _run(("zoo", "onnxruntime", "openvino", "openvino_int8"))}
    ort, ov, q = rows["ONNX Runtime defaults"], rows["OpenVINO latency hint"], rows["OpenVINO INT8, NNCF defaults"]
    assert ort["status"] == ov["status"] == q["status"] == "ok", (ort.get("note"), ov.get("note"), q.get("note"))
    assert "NNCF's defaults" in q["settings"]["quantize"] and q["settings"]["calibration"]["n"] > 0
    # every forward peer's share of the peak of the precision it computes in, probed in this process
    assert q["metrics"]["peak_dtype"] == "int8" and ort["metrics"]["peak_dtype"] == "fp32"
    assert ov["metrics"]["peak_dtype"] in ("fp32", "bf16")
    for r in (ort, ov, q):
        m = r["metrics"]
        assert m["share_of_peak"] == pytest.approx(m["flops_per_item"] * m["items_per_s"] / 1e12 / m["peak_tflops"])
    assert "default SessionOptions" in ort["settings"]["session"] and ort["library"]["onnxruntime"]
    assert ov["settings"]["compile"] == {"device": "CPU", "PERFORMANCE_HINT": "LATENCY"}
    assert "inference_precision_hint" in ov["settings"]["as_chosen_by_openvino"]
    assert ort["metrics"]["speed_vs_zoo"] > 0 and ov["metrics"]["speed_vs_zoo"] > 0
    # OpenVINO's per-layer counters: where a call's time goes, and the multiply-add layers' own share of peak
    assert "layer_profile" not in ort["metrics"]  # ONNX Runtime's peer reports none
    for r in (ov, q):
        m, prof = r["metrics"], r["metrics"]["layer_profile"]
        types = {t["type"]: t for t in prof["by_type"]}
        assert "Convolution" in types and types["Convolution"]["nodes"] >= 1 and types["Convolution"]["kernels"]
        assert 0 < prof["mac_layers_ms"] <= prof["layers_ms"] == pytest.approx(sum(t["ms"] for t in prof["by_type"]),
                                                                               abs=1e-3)
        assert m["mac_layers_share_of_peak"] >= m["layers_share_of_peak"] > 0
    assert any("I8" in k.upper() for k in {t["type"]: t for t in q["metrics"]["layer_profile"]["by_type"]}
               ["Convolution"]["kernels"])  # NNCF's quantized convolutions run int8 kernels


def test_openvino_int8_peer_of_a_text_model_calibrates_on_sentences_of_their_own_length():
    """NNCF calibrates the dynamic-shape model on sentences of their own lengths, then the quantized model is
    made static at the timed length (made static first, NNCF's first sentence of another length failed in infer)."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    (row,) = P.run_model("lstm", 1, ("openvino_int8",), (None, ""), FAST, 2, Path("/nonexistent/speed.jsonl"),
                         log=lambda s: None, seq_len=32)
    assert row["status"] == "ok", row.get("note")
    assert "model_type=TRANSFORMER" in row["settings"]["quantize"] and row["settings"]["seq_len"] == 32
    assert row["metrics"]["p50_ms"] > 0 and row["metrics"]["layer_profile"]["layers_ms"] > 0


def test_a_peer_that_fails_is_an_error_row_not_a_crash(monkeypatch):
    def broken(model, x, folder):
        raise RuntimeError("export exploded")

    monkeypatch.setattr(P, "onnxruntime_peer", broken)
    rows = {r["peer"]: r for r in _run(("zoo", "onnxruntime"))}
    assert rows["ONNX Runtime defaults"]["status"] == "error"
    assert "export exploded" in rows["ONNX Runtime defaults"]["error"]
    assert rows["zoo's pick: eager+fp32+channels_last"]["status"] == "ok"


def test_zoo_pick_comes_from_the_latest_auto_row(tmp_path):
    speed_file = tmp_path / "speed.jsonl"
    key = BenchConfig(backend="auto", batch_sizes=(1,)).row_key("speedtest_tiny", 1)
    for label, cl in (("eager+fp32", False), ("eager+fp32+channels_last", True)):
        cfg = BackendConfig("eager", "fp32", channels_last=cl).as_dict()
        append_row(speed_file, make_row("speed", model="speedtest_tiny", settings={"backend_config": cfg},
                                        key=key, status="ok", command="zoo bench", device="cpu", backend_used=label))
    config, how = P.zoo_pick(tiny(), 1, "rows", speed_file, log=lambda s: None)
    assert config == BackendConfig("eager", "fp32", channels_last=True) and "latest auto row" in how
    config, _ = P.zoo_pick(tiny(), 1, "eager+fp32", speed_file, log=lambda s: None)
    assert config == BackendConfig("eager", "fp32")
    with pytest.raises(UserError, match="no speed row"):
        P.zoo_pick(tiny(), 1, "openvino+int8", speed_file, log=lambda s: None)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(UserError):
        P.main(["--models", "resnet50", "--peers", "eager,tensorrt"])
    with pytest.raises(UserError):
        P.main(["--models", "no_such_model_xyz"])
    with pytest.raises(UserError):
        P.main(["--models", "resnet50", "--rounds", "0"])


def test_yolov5n_has_no_ultralytics_peer_and_says_why():
    from zoo.registry import get_spec

    assert "yolov5nu" in P._not_applicable("ultralytics", get_spec("yolov5n"))
    assert P._not_applicable("ultralytics", get_spec("yolov8n")) is None
    assert P._not_applicable("timm", get_spec("efficientnet_lite0")) is None


# --- the report table ---------------------------------------------------------------------------------

def _row(peer, p50, run, scope="forward", status="ok", zoo_p50=10.0):
    m = {} if status != "ok" else {"p50_ms": p50, "items_per_s": 1000 / p50, "zoo_pick_p50_ms": zoo_p50,
                                   "speed_vs_zoo": zoo_p50 / p50}
    return make_row("peers", model="resnet50", weights="random-init", peer=peer, scope=None if status != "ok" else scope,
                    status=status, note=None if status == "ok" else "not a timm model",
                    settings={"batch_size": 1, "run": run, "mode": "x"}, metrics=m, command="python -m zoo.experiments.peers",
                    device="cpu", library={"torch": "2"})


def test_report_shows_the_latest_run_with_ratios_and_says_when_zoo_loses():
    from zoo.report import peers as report

    old = [_row("zoo's pick: compile", 10.0, "run1"), _row("torch eager fp32", 30.0, "run1")]
    new = [_row("zoo's pick: compile", 10.0, "run2"), _row("torch eager fp32", 25.0, "run2"),
           _row("OpenVINO latency hint", 8.0, "run2"), _row("timm benchmark.py", None, "run2", status="skipped")]
    (table,) = report.tables({"peers": old + new})
    assert table.slug == "peers" and len(table.rows) == 4  # the old run is replaced as a whole
    col = {c: i for i, c in enumerate(table.columns)}
    by = {r[col["peer"]]: r for r in table.rows}
    assert by["torch eager fp32"][col["speed vs zoo's pick"]] == pytest.approx(0.4)
    assert by["OpenVINO latency hint"][col["speed vs zoo's pick"]] == pytest.approx(1.25)
    assert by["timm benchmark.py"][col["settings"]] == "skipped"
    assert by["timm benchmark.py"][col["why not run"]] == "not a timm model"
    assert by["torch eager fp32"][col["settings"]] == "S1"  # a short label; its key is in the notes
    assert "settings S1: mode=x" in table.notes and "resnet50, timm benchmark.py: skipped: not a timm model" in table.notes
    assert table.rows[0][col["peer"]].startswith("zoo's pick")  # zoo's pick first, then the peers
    assert any("OpenVINO latency hint at 1.25x" in n and "zoo loses" in n for n in table.notes)
    assert report.tables({"speed": []}) == []


def test_report_shows_each_peers_share_of_the_peak_of_its_precision():
    from zoo.report import peers as report

    q = _row("OpenVINO INT8, NNCF defaults", 5.0, "run1")
    q["metrics"].update(share_of_peak=0.7312, peak_dtype="int8")
    (table,) = report.tables({"peers": [_row("zoo's pick: openvino+int8", 4.0, "run1"), q]})
    col = {c: i for i, c in enumerate(table.columns)}
    by = {r[col["peer"]]: r for r in table.rows}
    assert by["OpenVINO INT8, NNCF defaults"][col["% of peak"]] == "73.1 (int8)"
    assert by["zoo's pick: openvino+int8"][col["% of peak"]] is None  # no share recorded: none shown
    assert "% of peak" in table.brief


def test_openvinos_chosen_precision_is_read_as_it_prints_it():
    from zoo.experiments.peer_kinds import _ov_precision

    # OpenVINO 2025 prints the hint it chose as "<Type: 'bfloat16'>": read as fp32, a bf16 peer showed 179 %
    # of the fp32 peak
    assert _ov_precision({"inference_precision_hint": "<Type: 'bfloat16'>"}) == "bf16"
    assert _ov_precision({"inference_precision_hint": "bf16"}) == "bf16"
    assert _ov_precision({"inference_precision_hint": "<Type: 'float32'>"}) == "fp32"
    assert _ov_precision({}) == "fp32"


def test_layer_profile_counts_every_multiply_add_layer_and_only_executed_nodes():
    """OpenVINO 2025 names an int8 linear layer FullyConnectedQuantizedLegacy: it is a multiply-add layer (left
    out, BERT's were 20 % of its time and its multiply-add layers showed 103 % of the int8 peak)."""
    from datetime import timedelta
    from types import SimpleNamespace

    from zoo.harness.backends.openvino import layer_profile

    status = SimpleNamespace(EXECUTED="run", NOT_RUN="no")

    def node(name, kind, us, kernel, st="run"):
        return SimpleNamespace(node_name=name, node_type=kind, real_time=timedelta(microseconds=us), exec_type=kernel,
                               status=st, Status=status)

    class Request:
        calls = 0
        profiling_info = [node("fc1", "FullyConnected", 600, "brgemm_avx512_I8"),
                          node("fc2", "FullyConnectedQuantizedLegacy", 200, "brgemm_avx512_i8"),
                          node("attn", "Subgraph", 150, "jit_avx512_bf16"), node("t", "Transpose", 50, "unknown_i8"),
                          node("skipped", "Convolution", 999, "ref", st="no")]

        def infer(self, arrays):
            self.calls += 1

    req = Request()
    prof = layer_profile(req, [], calls=4, warmup=2)
    assert req.calls == 6 and prof["calls"] == 4
    assert prof["layers_ms"] == pytest.approx(1.0) and prof["mac_layers_ms"] == pytest.approx(0.8)
    assert [t["type"] for t in prof["by_type"]] == ["FullyConnected", "FullyConnectedQuantizedLegacy", "Subgraph",
                                                    "Transpose"]
    assert prof["by_type"][0] == {"type": "FullyConnected", "ms": 0.6, "share": 0.6, "nodes": 1,
                                  "kernels": ["brgemm_avx512_I8"]}


def test_zoo_pick_on_openvino_carries_its_layer_profile():
    pytest.importorskip("openvino")
    rows = {r["peer"]: r for r in _run(("zoo",), pick=(BackendConfig("openvino", "fp32"), "given by the test"))}
    m = rows["zoo's pick: openvino+fp32"]["metrics"]
    assert m["layer_profile"]["calls"] == 20 and m["layer_profile"]["mac_layers_ms"] > 0
    assert m["mac_layers_share_of_peak"] == pytest.approx(
        m["flops_per_item"] / (m["layer_profile"]["mac_layers_ms"] / 1e3) / 1e12 / m["peak_tflops"])


def test_report_says_where_the_time_goes_from_the_layer_profile():
    from zoo.report import peers as report

    z = _row("zoo's pick: openvino+int8", 4.0, "run1")
    z["metrics"].update(share_of_peak=0.6, layers_share_of_peak=0.7, mac_layers_share_of_peak=0.85, peak_dtype="int8",
                        layer_profile={"calls": 20, "layers_ms": 4.0, "mac_layers_ms": 3.2, "by_type": [
                            {"type": "Convolution", "ms": 3.2, "share": 0.8, "nodes": 53, "kernels": ["brgconv_I8"]},
                            {"type": "Eltwise", "ms": 0.8, "share": 0.2, "nodes": 16, "kernels": []}]})
    (table,) = report.tables({"peers": [z, _row("torch eager fp32", 20.0, "run1")]})
    (note,) = [n for n in table.notes if n.startswith("layer profile")]
    assert "Convolution 80% (brgconv_I8), Eltwise 20%" in note
    assert "multiply-add layers alone at 85% of the int8 peak, all layers 70%, the whole call 60%" in note
    assert any(n.startswith("how the layer profiles are taken") for n in table.notes)


def test_latest_auto_row_matches_sequence_length_and_any_weights_choice(tmp_path):
    speed_file = tmp_path / "speed.jsonl"
    key = BenchConfig(backend="auto", batch_sizes=(1,), seq_len=128, pretrained=True).row_key("bert_base", 1)
    cfg = BackendConfig("int8", "fp32").as_dict()
    append_row(speed_file, make_row("speed", model="bert_base", settings={"backend_config": cfg}, key=key,
                                    status="ok", command="zoo bench", device="cpu", backend_used="int8+fp32"))
    assert P.latest_auto_config("bert_base", 1, speed_file, seq_len=128)["backend"] == "int8"
    assert P.latest_auto_config("bert_base", 1, speed_file) is None  # another length is another setting


def test_latest_auto_row_includes_one_measured_with_compare(tmp_path):
    """Before: an older auto row without --compare was taken over the newer `zoo bench --backend auto --compare`
    row (another key), so zoo's pick was a configuration auto no longer chooses."""
    speed_file = tmp_path / "speed.jsonl"
    for compare, backend, when in ((False, "compile", "2026-11-29T00:00:00"), (True, "openvino", "2026-11-30T00:00:00")):
        key = BenchConfig(backend="auto", batch_sizes=(1,), compare=compare).row_key("resnet50", 1)
        row = make_row("speed", model="resnet50", settings={"backend_config": BackendConfig(backend, "fp32").as_dict()},
                       key=key, status="ok", command="zoo bench", device="cpu", backend_used=f"{backend}+fp32")
        append_row(speed_file, {**row, "time": when})
    assert P.latest_auto_config("resnet50", 1, speed_file)["backend"] == "openvino"
