"""Peers side by side: zoo's pick against what users would pick instead, same machine, one process,
alternating rounds (issue 16 item 3). The peers themselves are built in ``peer_kinds``.

    python -m zoo.experiments.peers --models resnet50,efficientnet_lite0 [--batch-size 1] [--rounds 5]

For each model, one process builds every peer on the same weights and the same preprocessed input, then
times them in alternating rounds (ABCABC..., so drift of the shared machine hits all alike):

- **torch eager fp32**: ``model.eval()`` and ``with torch.no_grad(): model(x)``: what a PyTorch user writes.
- **timm benchmark.py** (timm models only): the inference settings of timm's own ``benchmark.py``
  (huggingface/pytorch-image-models; ``InferenceBenchmarkRunner``): the timm network in eval mode under
  ``torch.no_grad()``, ``--precision float32`` (its default), NCHW, no ``--torchscript``, no ``--amp``;
  and the same with ``--channels-last`` (both network and input in channels_last), its documented knob.
- **OpenVINO latency**: ``ov.convert_model(model, example_input=x)``, the shapes fixed to the timed input (as
  ``benchmark_app -shape``), ``core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "LATENCY"})`` and no other
  property (benchmark_app ``-hint latency``), a synchronous infer request; the row records the precision,
  streams and threads OpenVINO chose.
- **OpenVINO INT8, NNCF defaults**: OpenVINO's documented post-training INT8 flow: ``nncf.quantize`` of the
  converted model with NNCF's defaults (``model_type=TRANSFORMER`` for text models, as NNCF asks) on the same
  calibration items zoo's own INT8 uses, compiled with the latency hint only.
- **ONNX Runtime defaults**: ``torch.onnx.export`` (zoo's exporter, ``backends/_export.py``) then
  ``onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])`` with default SessionOptions.
- **ultralytics formats** (models built by ultralytics only): ultralytics' ``benchmark()`` exports to each
  format and times ``predict``; it needs a download (coco8) for its ``val`` step, so here
  ``YOLO(...).export(format=...)`` is called offline (PyTorch, ONNX, OpenVINO) and each exported model's
  ``predict(image_file)`` is timed, end to end (letterbox, network, NMS).
- **zoo's pick**: the configuration ``zoo bench --backend auto`` chose (its latest row for this model, batch
  size and machine kind in results/raw/speed.jsonl; else auto is run here, without writing a speed row),
  prepared by zoo's own backends (``zoo.harness.backends.prepare``). For detectors zoo's pick is also
  timed end to end (decode, preprocess, network, postprocess) beside ultralytics' predict.

Rows (kind "peers", results/raw/peers.jsonl): model, peer, scope (forward | end to end), exact settings,
p50 ms, items/s, the share of the peak of the precision the peer computes in (``share_of_peak``: FLOPs per
item x items/s over the fp32/bf16/int8 peak probed in this process, forward scope), ``speed_vs_zoo`` (zoo's
pick p50 / the peer's p50 in the same scope: 0.5 = half as fast as zoo's pick), library versions, weights. A peer that cannot run here is a row with status
"skipped" and the reason.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import UserError
from ..harness.backends import BackendConfig, outputs_to_fp32, prepare
from ..harness.speed.config import BenchConfig
from ..harness.speed.cost import PEAK_DTYPES, count_flops, device_peak, layer_shares
from ..harness.speed.measure import (decoded_items, latency_sample, measure_rounds, one_line, pad_sequence,
                                     stored_items)
from ..harness.speed.runner import bench, build_model, peak_dtype, token_count
from ..harness.speed.timing import CpuTimer, TimingPolicy, summarize
from ..registry import get_spec
from ..results import append_row, make_row, raw_path, read_rows
from .peer_kinds import (E2E, FORWARD, Peer, Skipped, eager_peer, onnxruntime_peer, openvino_int8_peer,
                         openvino_peer, timm_peers, ultralytics_peers)

TOPIC = "peers"
ALL_PEERS = ("eager", "timm", "openvino", "openvino_int8", "onnxruntime", "ultralytics", "zoo")


# --- zoo's pick --------------------------------------------------------------------------------------------

def latest_auto_config(name: str, batch_size: int, raw_file: Path, seq_len: int | None = None) -> dict[str, Any] | None:
    """The backend configuration of the latest ok ``--backend auto`` speed row of this model, batch size,
    sequence length and machine kind (the keys of ``zoo bench NAME --backend auto --batch-size B
    [--seq-len S] [--compare]``, with cached, --pretrained or --random-weights weights), or None."""
    keys = {BenchConfig(backend="auto", batch_sizes=(batch_size,), seq_len=seq_len, pretrained=p, compare=c)
            .row_key(name, batch_size) for p in ("auto", True, False) for c in (False, True)}
    rows = sorted((r for r in read_rows(raw_file) if r.get("kind") == "speed" and r.get("key") in keys
                   and r.get("status") == "ok"), key=lambda r: str(r.get("time")))
    return (rows[-1].get("settings") or {}).get("backend_config") if rows else None


def zoo_pick(model: Any, batch_size: int, pick: str, speed_file: Path, log: Callable[[str], None],
             seq_len: int | None = None) -> tuple[BackendConfig, str]:
    """(zoo's configuration, how it was found). ``pick``: "rows" (the latest auto row, else run auto now),
    "auto" (run zoo's auto now, writing no speed row), or a configuration label from a row (e.g.
    ``compile+bf16+autocast+channels_last+default+freezing``: taken from that row)."""
    fields = set(BackendConfig.__dataclass_fields__)
    if pick == "rows":
        found = latest_auto_config(model.spec.name, batch_size, speed_file, seq_len)
        if found:
            return BackendConfig(**{k: v for k, v in found.items() if k in fields}), f"latest auto row in {speed_file.name}"
    if pick in ("rows", "auto"):
        log(f"{model.spec.name}: running zoo's --backend auto to find its pick (no speed row written)")
        (row,) = bench(model=model, backend="auto", batch_sizes=(batch_size,), seq_len=seq_len, write=False,
                       resume=False, stages=False)
        found = row["settings"]["backend_config"]
        return BackendConfig(**{k: v for k, v in found.items() if k in fields}), "zoo bench --backend auto, run now"
    rows = [r for r in read_rows(speed_file) if r.get("model") == model.spec.name and r.get("backend_used") == pick]
    if not rows:
        raise UserError(f"--zoo-pick {pick!r}: no speed row of {model.spec.name} used that configuration")
    found = rows[-1]["settings"]["backend_config"]
    return BackendConfig(**{k: v for k, v in found.items() if k in fields}), f"configuration {pick} (from a row)"


def zoo_peers(model: Any, config: BackendConfig, how: str, batch: Any, stored: list[Any]) -> list[Peer]:
    """zoo's pick, prepared by zoo's backends: the network call, and for detectors the whole path from the
    stored image to boxes (decode, preprocess, network, postprocess: the model's own stages)."""
    with torch.inference_mode():  # as zoo bench prepares and runs it
        prep = prepare(copy.deepcopy(model), config, "cpu", batch.inputs)
        x = prep.to_inputs(batch.inputs)
        prep.run(x)  # compile / export / calibration happen here, untimed

    def run():
        with torch.inference_mode():
            return prep.run(x)
    settings = {"backend_config": config.as_dict(), "found_by": how, **{k: v for k, v in prep.info.items()
                                                                       if isinstance(v, (str, int, float, bool))}}
    lib = {"torch": torch.__version__}
    profile = (lambda: prep.profile(x)) if prep.profile else None
    peers = [Peer(f"zoo's pick: {config.label}", FORWARD, run, settings, lib, peak_dtype(config.as_dict()), profile)]
    if model.spec.task == "object-detection":
        def e2e():
            with torch.inference_mode():
                b = model.preprocess(model.decode(stored))
                return model.postprocess(outputs_to_fp32(prep.run(prep.to_inputs(b.inputs))), b)

        peers.append(Peer(f"zoo's pick: {config.label}", E2E, e2e, {**settings, "path": "decode, preprocess, "
                                                                     "network, postprocess"}, lib))
    return peers


def build_peers(model: Any, batch: Any, stored: list[Any], which: Sequence[str], pick: tuple[BackendConfig, str],
                folder: Path) -> list[Peer | Skipped]:
    """Every peer asked for that applies to this model; one that cannot be built is a Skipped with the reason."""
    x = batch.inputs
    spec = model.spec
    out: list[Peer | Skipped] = []
    builders: list[tuple[str, str, Callable[[], Any]]] = [
        ("zoo", "zoo's pick", lambda: zoo_peers(model, *pick, batch, stored)),
        ("eager", "torch eager fp32", lambda: eager_peer(model, x)),
        ("timm", "timm benchmark.py", lambda: timm_peers(model, x)),
        ("openvino", "OpenVINO latency hint", lambda: openvino_peer(model, x)),
        ("openvino_int8", "OpenVINO INT8, NNCF defaults", lambda: openvino_int8_peer(model, x)),
        ("onnxruntime", "ONNX Runtime defaults", lambda: onnxruntime_peer(model, x, folder)),
        ("ultralytics", "ultralytics formats", lambda: ultralytics_peers(model, Path(stored[0]), folder)),
    ]
    for key, label, build in builders:
        if key not in which:
            continue
        why = _not_applicable(key, spec)
        if why:
            out.append(Skipped(label, why))
            continue
        try:
            made = build()
        except ImportError as e:
            out.append(Skipped(label, f"not installed here: {one_line(e)}"))
            continue
        except Exception as e:  # a peer that fails to build is reported, not fatal for the others
            out.append(Skipped(label, one_line(e), "error"))
            continue
        out += made if isinstance(made, list) else [made]
    return out


def _not_applicable(key: str, spec: Any) -> str | None:
    if key == "timm" and spec.source != "timm":
        return f"not a timm model (source {spec.source})"
    if key == "ultralytics" and spec.source != "ultralytics":
        if spec.name.startswith("yolo"):
            return ("zoo's own YOLOv5 v7.0 modules: ultralytics 8.x builds only the anchor-free 'yolov5nu', a "
                    "different network, so there is no like-for-like ultralytics peer")
        return "not an ultralytics model"
    return None


# --- timing and rows ---------------------------------------------------------------------------------------

def time_peers(peers: list[Peer], policy: TimingPolicy, rounds: int, log: Callable[[str], None]) -> list[list[float]]:
    """Per-call ms of every peer, in ``rounds`` alternating rounds (zoo's ``measure_rounds``); one warm call each."""
    for p in peers:
        log(f"  warm-up: {p.name} ({p.scope})")
        p.run()
    return measure_rounds([p.run for p in peers], CpuTimer(), policy, rounds)


def peak_shares(peers: list[Peer], flops_per_item: int | None, log: Callable[[str], None]) -> dict[str, dict]:
    """The device's peak (this process's probe, merged into zoo's cache of the best ever seen) for each
    precision the forward-scope peers run in; empty when the FLOPs could not be counted."""
    if not flops_per_item:
        return {}
    out = {}
    for dtype in sorted({p.precision for p in peers if p.scope == FORWARD and p.precision in PEAK_DTYPES}):
        log(f"  measuring the cpu {dtype} peak")
        out[dtype] = device_peak("cpu", dtype)
    return out


def layer_profiles(peers: list[Peer], log: Callable[[str], None]) -> dict[int, dict[str, Any]]:
    """The layer profile of each peer whose runtime reports one (after the timed rounds: it compiles again)."""
    out = {}
    for p in peers:
        if p.profile is None:
            continue
        log(f"  layer profile: {p.name}")
        try:
            out[id(p)] = p.profile()
        except Exception as e:  # noqa: BLE001  (a profile is extra: its failure is noted, the timings stand)
            out[id(p)] = {"error": one_line(e)}
    return out


def _share_metrics(p: Peer, m: dict[str, Any], flops_per_item: int | None, peaks: dict[str, dict],
                   bs: int = 1, profile: dict[str, Any] | None = None) -> dict:
    """FLOPs per item, achieved TFLOP/s and share of the peak of the precision the peer runs in (forward only:
    an end-to-end call also decodes and post-processes). With a layer profile, the same share for the summed
    layer time and for the multiply-add layers' time alone: what the rest of the call costs."""
    peak = peaks.get(p.precision)
    if p.scope != FORWARD or not flops_per_item or not peak:
        return {}
    achieved = flops_per_item * m["items_per_s"] / 1e12
    return {"flops_per_item": flops_per_item, "achieved_tflops": achieved, "peak_dtype": p.precision,
            "peak_tflops": peak["tflops"], "peak_tflops_this_process": peak["this_process"]["tflops"],
            "share_of_peak": achieved / peak["tflops"], **layer_shares(flops_per_item, bs, profile, peak["tflops"])}


def peer_rows(model: Any, bs: int, peers: list[Peer | Skipped], times: list[list[float]], command: str,
              policy: TimingPolicy, rounds: int, flops_per_item: int | None = None,
              peaks: dict[str, dict] | None = None,
              profiles: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per peer (skipped ones too), each with its speed relative to zoo's pick in the same scope and
    its share of the peak of the precision it runs in."""
    ran = [p for p in peers if isinstance(p, Peer)]
    stats = {id(p): summarize(t, bs) for p, t in zip(ran, times)}
    zoo_p50 = {p.scope: stats[id(p)]["p50_ms"] for p in ran if p.name.startswith("zoo's pick")}
    common = dict(model=model.spec.name, spec_hash=model.spec.spec_hash, weights=model.weights_id,
                  dataset="example_items", command=command, device="cpu")
    run_id = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f"/{os.getpid()}"  # rows timed together
    timing = {"batch_size": bs, "rounds": rounds, **policy.as_dict(), "threads": torch.get_num_threads(), "run": run_id}
    rows = []
    for p in peers:
        if isinstance(p, Skipped):
            rows.append(make_row("peers", peer=p.name, scope=None, status=p.status, note=p.reason,
                                 settings=timing, **({"error": p.reason} if p.status == "error" else {}), **common))
            continue
        m = {**stats[id(p)], "latencies_ms": latency_sample(times[ran.index(p)], limit=200)}
        profile = (profiles or {}).get(id(p))
        m.update(_share_metrics(p, m, flops_per_item, peaks or {}, bs, profile))
        if profile:
            m["layer_profile"] = profile
        if p.scope in zoo_p50:
            m["zoo_pick_p50_ms"] = zoo_p50[p.scope]
            m["speed_vs_zoo"] = zoo_p50[p.scope] / m["p50_ms"]
        rows.append(make_row("peers", peer=p.name, scope=p.scope, status="ok", settings={**timing, **p.settings},
                             metrics=m, library=p.library, **common))
    return rows


def run_model(name: str, bs: int, which: Sequence[str], pick: str | tuple[BackendConfig, str], policy: TimingPolicy,
              rounds: int, speed_file: Path, model: Any = None, log: Callable[[str], None] = print,
              seq_len: int | None = None) -> list[dict[str, Any]]:
    """Build ``name`` (or use ``model``), build its peers, time them side by side, return the rows.
    ``pick``: as ``zoo_pick``'s, or (config, how it was found) given directly."""
    import torch._dynamo as dynamo  # deferred: heavy

    dynamo.reset()  # a fresh compile state per model (recompile limits; PERF-NOTES)
    model = (model or build_model(name)).eval()
    with tempfile.TemporaryDirectory(prefix="zoo-peers-") as tmp:
        stored = stored_items(model, bs)
        batch = pad_sequence(model.preprocess(decoded_items(model, bs)), seq_len)  # text: the same padded length
        config = pick if isinstance(pick, tuple) else (
            zoo_pick(model, bs, pick, speed_file, log, seq_len) if "zoo" in which else (None, ""))
        peers = build_peers(model, batch, stored, which, config, Path(tmp))
        for p in peers:
            if isinstance(p, Skipped):
                log(f"  {p.name}: {p.status}: {p.reason}")
        ran = [p for p in peers if isinstance(p, Peer)]
        flops = _flops_per_item(model, seq_len)
        peaks = peak_shares(ran, flops, log)
        times = time_peers(ran, policy, rounds, log) if ran else []
        profiles = layer_profiles(ran, log)
    cmd = command_line(name, bs, which, pick if isinstance(pick, str) else getattr(pick[0], "label", "rows"), policy,
                       rounds) + (f" --seq-len {seq_len}" if seq_len else "")
    rows = peer_rows(model, bs, peers, times, cmd, policy, rounds, flops, peaks, profiles)
    for r in rows:
        r["settings"]["seq_len"] = seq_len or token_count(batch.inputs)
    return rows


def _flops_per_item(model: Any, seq_len: int | None) -> int | None:
    """FLOPs of one item (as ``zoo bench`` counts them), None when some op cannot be counted."""
    try:
        inputs = pad_sequence(model.preprocess(decoded_items(model, 1)), seq_len).inputs
        with torch.no_grad():
            return count_flops(model, inputs) or None
    except Exception:  # noqa: BLE001  (the rows then carry no share of peak)
        return None


def command_line(name: str, bs: int, which: Sequence[str], pick: str, policy: TimingPolicy, rounds: int) -> str:
    cmd = f"python -m zoo.experiments.peers --models {name} --batch-size {bs} --rounds {rounds} " \
          f"--min-duration {policy.min_duration_s:g}"
    if tuple(which) != ALL_PEERS:
        cmd += f" --peers {','.join(which)}"
    return cmd + ("" if pick == "rows" else f" --zoo-pick {pick}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo.experiments.peers", description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="comma-separated registered model names")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=None, help="pad text inputs to this many tokens (e.g. 128)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--min-duration", type=float, default=2.0, help="seconds timed per peer, over all rounds")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--peers", default=",".join(ALL_PEERS), help=f"subset of {','.join(ALL_PEERS)}")
    ap.add_argument("--zoo-pick", default="rows", help="rows (latest auto speed row, else run auto), auto, or a label")
    ap.add_argument("--no-write", action="store_true", help="print the rows; append nothing")
    args = ap.parse_args(argv)
    which = tuple(w.strip() for w in args.peers.split(",") if w.strip())
    bad = [w for w in which if w not in ALL_PEERS]
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if bad or not names or args.batch_size < 1 or args.rounds < 1 or args.min_duration <= 0:
        raise UserError(f"peers: bad arguments (unknown peers {bad}; models, batch size, rounds and duration "
                        "must be given and positive)")
    for n in names:
        get_spec(n)  # a one-line UserError for an unknown name, before anything runs
    policy = TimingPolicy(warmup=args.warmup, min_iters=10, min_duration_s=args.min_duration)
    out = raw_path(TOPIC)
    for n in names:
        print(f"{n}: building peers", file=sys.stderr, flush=True)
        rows = run_model(n, args.batch_size, which, args.zoo_pick, policy, args.rounds, raw_path("speed"),
                         log=lambda s: print(s, file=sys.stderr, flush=True), seq_len=args.seq_len)
        for r in rows:
            if not args.no_write:
                append_row(out, r)
            print(summary_line(r), flush=True)
    return 0


def summary_line(r: dict[str, Any]) -> str:
    m = r.get("metrics") or {}
    if r.get("status") != "ok":
        return f"{r['model']:<20} {r['peer']:<45} {r['status']}: {r.get('note')}"
    vs = m.get("speed_vs_zoo")
    return (f"{r['model']:<20} {r['peer']:<45} {r['scope']:<10} p50 {m['p50_ms']:9.3f} ms  "
            f"{m['items_per_s']:9.1f} items/s  {'x zoo ' + format(vs, '.2f') if vs else ''}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        sys.exit(2)
