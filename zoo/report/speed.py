"""Speed tables from results/raw/speed.jsonl (rows written by ``zoo bench``).

Tables: SingleStream latency and Offline throughput per model and setting; the best backend against
plain fp32 eager, measured side by side, with its output error; every candidate ``--backend auto`` tried;
preprocess / forward / postprocess / end-to-end stages; and the article's real-time detection table
regenerated (the article's FPS shown as "article claim" beside what we measure, with the device).
Only rows with status "ok" enter figures; error rows are counted in the notes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..results import machine_identity
from ..spec import RANDOM_INIT, weights_label
from .base import Table, include_noisy, provenance, rows_of_kind, short_backend
from .plots import latency_plot

# The real-time detection table of the article this project grew from (as quoted in issue 4).
ARTICLE_FPS = (("YOLOv3", "yolov3", 45.0), ("SSD", "ssd300_vgg16", 59.0), ("Faster R-CNN", "fasterrcnn_resnet50_fpn", 20.0))
# Detectors with real (offline-importable) COCO weights, shown in T10 beside the article's three.
REAL_WEIGHT_DETECTORS = ("yolov5n",)
# The article's SSD row is SSD300-VGG16; the mobile SSD (SSDlite320, MobileNetV3) is timed beside it.
ALSO_TIMED = ("ssdlite320_mobilenet_v3_large",)
ARTICLE_SOURCE = "article claim: the real-time detection table of the article this project grew from (issue 4)"
# Batch-1 CPU speedups of the best hand-tuned backend over fp32 eager, measured by hand on this machine kind
# (issue 4: torch.compile + freezing + bf16 autocast + channels_last), and the target.
HAND_SPEEDUP_CPU = {"resnet50": 2.45, "vgg16": 3.5, "inception_v3": 3.9}
CPU_TARGET = 2.5
CPU_TARGET_MODELS = ("resnet50", "vgg16", "inception_v3", "bert_base")


def _dev(r: dict[str, Any]) -> str:
    m = r.get("machine") or {}
    if str(r.get("device") or (r.get("settings") or {}).get("device") or "cpu").startswith("cuda"):
        return f"cuda: {m.get('gpu') or '?'}"
    return f"cpu: {machine_identity(m)} ({(r.get('settings') or {}).get('threads', '?')} torch threads)"


def _weights(r: dict[str, Any]) -> str:
    return weights_label(r.get("weights"))


def _setting(r: dict[str, Any]) -> str:
    s = r.get("settings") or {}
    parts = [s.get("backend", "?")]
    if s.get("dtype"):
        parts.append(s["dtype"])
    if s.get("channels_last"):
        parts.append("channels_last")
    if s.get("compile_mode"):
        parts.append(s["compile_mode"])
    if s.get("cuda_graphs"):
        parts.append("cuda_graphs")
    if s.get("pipeline"):  # e.g. gpu_e2e: the GPU suite's device pipeline (decode, preprocess, NMS on the GPU)
        parts.append(s["pipeline"])
    return "+".join(parts)


def _ok(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "speed" and r.get("status") == "ok"]


def _latest(rows: list[dict], key) -> dict[Any, dict]:
    out: dict[Any, dict] = {}
    for r in sorted(rows, key=lambda r: str(r.get("time"))):
        out[key(r)] = r
    return out


def _deviation(r: dict[str, Any]) -> tuple[Any, Any]:
    """(rel L2, top-1 or box agreement) of the outputs against fp32 eager: metrics.output_deviation."""
    e = (r.get("metrics") or {}).get("output_deviation") or {}
    return e.get("rel_l2"), e.get("top1_agreement", e.get("box_agreement"))


SEQ_NOTE = ("seq len: tokens per item for text models (padded to `--seq-len` when given; 'unpadded' = the example "
            "texts' own lengths, rows from before the length was recorded): FLOPs and speed depend on it, so rows "
            "at different lengths are separate lines")


def _commands(rows: list[dict]) -> list[str]:
    cmds = sorted({r["command"] for r in rows if r.get("command")})
    shown = cmds[:8]
    return [f"reproduce: `{c}`" for c in shown] + ([f"... and {len(cmds) - 8} more commands"] if len(cmds) > 8 else [])


def _probe_notes(rows: list[dict]) -> list[str]:
    probes = {}
    for r in rows:
        p = (r.get("metrics") or {}).get("peak_probe")
        if p and p.get("key"):
            probes[p["key"]] = p
    return [f"device peak ({_probe_name(p)} {p['dtype']}, measured {p.get('time', '?')}): "
            f"{p['tflops']:.3f} TFLOP/s [{k}]" for k, p in sorted(probes.items())]


def _probe_name(p: dict) -> str:
    """Which probe gave the peak: the matmul, or (CPU) the 3x3 convolution when it was faster."""
    mm = f"matmul probe {p['n']}x{p['n']}"
    if p.get("path", "mm") == "mm":
        return mm
    others = ", ".join(f"{k} {v:.3f}" for k, v in sorted((p.get("paths") or {}).items()))
    return f"best of {mm} and a 3x3 convolution probe: {p['path']} ({others} TFLOP/s)"


def _common_notes(rows: list[dict], all_rows: list[dict]) -> list[str]:
    errors = sum(1 for r in all_rows if r.get("status") == "error")
    timing = Counter(
        f"warm-up {s.get('warmup')}, >= {s.get('min_iters')} calls and >= {s.get('min_duration_s')} s per measurement"
        for s in (r.get("settings") or {} for r in rows)
    )
    notes = provenance(rows)
    notes += [f"timing: {t} ({n} rows)" for t, n in sorted(timing.items())]
    notes.append("latency = wall time per call of the network forward on prepared inputs (CUDA events on GPU); "
                 "items/s = batch x calls / timed seconds; FLOPs = 2 x MACs counted by torch FlopCounterMode on "
                 "one real input; % peak = achieved TFLOP/s / measured matmul peak of the same dtype")
    notes.append("memory: CUDA max allocated on GPU; peak process RSS (MiB, since the process started) on CPU")
    if any(((r.get("metrics") or {}).get("share_of_peak") or 0) > 1 for r in rows):
        notes.append("% of peak marked '>100 %!': the peak that row divided by was below what the row reached, so "
                     "the probe, not the model, is wrong there (rows measured before every bench process re-probed "
                     "could divide by a probe measured once on a busy machine and cached; newer rows divide by the "
                     "best peak ever seen on the machine, record this process's own probe beside it, and carry "
                     "the flag 'share of peak above 100 %')")
    if errors:
        notes.append(f"{errors} error row(s) (build failures, crashes, unsupported backends) are not shown; see results/raw/speed.jsonl")
    return notes + _probe_notes(rows) + _commands(rows)


TEXT_TASKS = ("text-classification", "question-answering", "translation")


def _seq_len(r: dict[str, Any]) -> int | str | None:
    """Tokens per item a text row ran at: --seq-len (padded), else the length the row's FLOPs were counted at,
    else "unpadded" (rows from before the length was recorded: the example texts' own lengths); None for
    models that take no token sequence."""
    s, m = r.get("settings") or {}, r.get("metrics") or {}
    if s.get("seq_len"):
        return int(s["seq_len"])
    if m.get("seq_len"):
        return int(m["seq_len"])
    return "unpadded" if r.get("task") in TEXT_TASKS else None


def _share_cell(share: float | None) -> float | str | None:
    """% of peak; a row above 100 % is marked (its peak probe reads below what the row reached)."""
    if share is None:
        return None
    return 100 * share if share <= 1 else f"{100 * share:.1f} (>100 %!)"


def _group(r: dict[str, Any]) -> tuple:
    """(device, model, setting, weights, sequence length): rows at different lengths are different settings."""
    return (_dev(r), r.get("model"), _setting(r), _weights(r), str(_seq_len(r)))


def _main_table(rows: list[dict], all_rows: list[dict]) -> Table:
    latest = _latest(rows, lambda r: (*_group(r), (r.get("settings") or {}).get("batch_size")))
    groups: dict[tuple, list[dict]] = {}
    for k, r in latest.items():
        groups.setdefault(k[:-1], []).append(r)
    out = []
    for g in sorted(groups):
        rs = groups[g]
        single = next((r for r in rs if (r.get("settings") or {}).get("batch_size") == 1), None)
        best = max(rs, key=lambda r: r["metrics"].get("items_per_s") or 0)
        sm, bm = (single or {}).get("metrics") or {}, best["metrics"]
        rel, agree = _deviation(single or best)
        share = bm.get("share_of_peak")
        out.append([
            g[0], g[1], g[2], (single or {}).get("backend_used"), sm.get("p50_ms"), sm.get("p90_ms"), sm.get("p99_ms"),
            bm.get("items_per_s"), best["settings"].get("batch_size"), best.get("backend_used"), bm.get("peak_mem_mib"),
            bm.get("gflops_per_item"), bm.get("achieved_tflops"), _share_cell(share), rel, agree, g[3],
            _seq_len(single or best),
        ])
    return Table(
        slug="speed", title="Speed: SingleStream latency (batch 1) and Offline throughput (best over the batch sweep)",
        columns=["device", "model", "setting", "backend used (batch 1)", "p50 ms", "p90 ms", "p99 ms",
                 "Offline items/s", "at batch", "backend used (Offline)", "peak MiB", "GFLOPs/item", "TFLOP/s",
                 "% of peak", "rel L2 vs fp32 eager", "top-1/box agreement", "weights", "seq len"],
        rows=out, notes=_common_notes(rows, all_rows) + [
            "SingleStream and Offline are MLPerf's scenario names; here SingleStream = batch 1 latency of the "
            "forward, Offline = the best items/s over the batch sizes measured (no query generator).",
            "rel L2 and agreement: output error against fp32 eager on 8 real example items (empty for fp32 eager itself)",
            SEQ_NOTE,
        ] + ([] if any(str(r.get("device", "")).startswith("cuda") for r in rows) else [
            "no GPU rows: no GPU was available to the sessions that measured these rows; the CUDA paths "
            "(CUDA events, CUDA graphs, max_memory_allocated) run when `--device cuda` finds one"]), digits=3)


def _speedup_table(rows: list[dict]) -> Table:
    timed = [r for r in rows if (r.get("metrics") or {}).get("speedup_vs_fp32_eager") is not None]
    cand = [r for r in timed if include_noisy() or not r.get("noisy")]
    left_out = len(timed) - len(cand)
    latest = _latest(cand, lambda r: (*_group(r), r["settings"].get("batch_size")))
    out = []
    for k in sorted(latest, key=lambda k: (k[0], str(k[1]), k[2], k[4], k[5] or 0)):
        r = latest[k]
        m, s = r["metrics"], r["settings"]
        rel, agree = _deviation(r)
        cpu = not str(r.get("device", "cpu")).startswith("cuda")
        target = CPU_TARGET if cpu and s.get("batch_size") == 1 and r["model"] in CPU_TARGET_MODELS else None
        hand = HAND_SPEEDUP_CPU.get(r["model"]) if cpu and s.get("batch_size") == 1 else None
        sp = m["speedup_vs_fp32_eager"]
        out.append([k[0], r["model"], s.get("batch_size"), k[2], r.get("backend_used"), m.get("fp32_eager_p50_ms"),
                    m.get("p50_ms"), sp, rel, agree, target, None if target is None else sp >= target, hand, k[3],
                    _seq_len(r)])
    return Table(
        slug="speed_vs_fp32_eager",
        title="Fastest configuration against plain fp32 eager, timed side by side in alternating rounds",
        columns=["device", "model", "batch", "setting", "backend used", "fp32 eager p50 ms", "p50 ms", "speedup",
                 "rel L2 vs fp32 eager", "top-1/box agreement", "target", "target met", "hand-measured (issue 4)",
                 "weights", "seq len"],
        rows=out, notes=_common_notes(cand, cand) + [
            "speedup = median fp32 eager latency / median latency of the configuration, both measured in the same "
            "process in alternating rounds (speed on a shared VM drifts, so only side-by-side ratios are compared)",
            "target: issue 4 asks for >= 2.5x at batch 1 on this 2-core CPU for resnet50, vgg16, inception_v3 and "
            "a BERT-base-sized classifier",
            SEQ_NOTE,
        ] + ([f"{left_out} noisy row(s) left out: timed while other processes used the CPU or with rounds far "
              "apart (the row's noise record); `zoo report --include-noisy` shows them"] if left_out else []),
        references=["hand-measured: issue 4 (torch.compile + freezing + bf16 autocast + channels_last, "
                       "batch 1, this machine kind): resnet50 2.45x, vgg16 3.5x, inception_v3 3.9x"], digits=3)


def _candidates_table(rows: list[dict]) -> Table:
    auto = [r for r in rows if (r.get("metrics") or {}).get("candidates")]
    latest = _latest(auto, lambda r: (*_group(r), r["settings"].get("batch_size")))
    out = []
    for k in sorted(latest, key=lambda k: (k[0], str(k[1]), k[2], k[4], k[5] or 0)):
        r = latest[k]
        for c in r["metrics"]["candidates"]:
            e = c.get("output_deviation") or {}
            out.append([k[0], r["model"], r["settings"].get("batch_size"), c.get("config"), c.get("p50_ms"),
                        c.get("speedup_vs_fp32_eager"), e.get("rel_l2"), e.get("top1_agreement", e.get("box_agreement")),
                        c.get("first_call_s"), c.get("config") == r.get("backend_used"), c.get("failed"), _seq_len(r)])
    return Table(slug="speed_backend_candidates", title="Every configuration `--backend auto` tried",
                 columns=["device", "model", "batch", "candidate", "p50 ms", "speedup vs fp32 eager", "rel L2",
                          "top-1/box agreement", "first call s (compile/export)", "chosen", "failed", "seq len"],
                 rows=out, notes=_common_notes(auto, auto), digits=3)


def _peak_share_table(rows: list[dict]) -> Table:
    """% of the measured peak of the precision each configuration computes in, per machine (its ISA named)."""
    shared = [r for r in rows if (r.get("metrics") or {}).get("share_of_peak") is not None
              and str(r.get("device", "")).startswith("cpu") and (r.get("settings") or {}).get("backend") == "auto"
              and (r.get("machine") or {}).get("isa")]  # older rows do not say which CPU kind they ran on
    latest = _latest(shared, lambda r: (*_group(r), r["settings"].get("batch_size")))  # auto's latest pick
    out = []
    for k in sorted(latest, key=lambda k: (str(k[1]), k[2], k[4], k[5] or 0)):
        r = latest[k]
        m = r["metrics"]
        out.append([r["model"], r["settings"].get("batch_size"), r.get("backend_used"), _share_cell(m["share_of_peak"]),
                    _share_cell(m.get("share_of_peak_fastest_round")), _share_cell(m.get("share_of_peak_paired")),
                    m.get("peak_dtype"), machine_identity(r.get("machine")), m.get("peak_tflops"),
                    m.get("achieved_tflops"), _seq_len(r)])
    return Table(
        slug="speed_peak_share", title="Share of the machine's peak: what `--backend auto` picked, against the "
        "measured peak of the precision it computes in",
        columns=["model", "batch", "backend", "% of peak", "fastest third", "beside the probe", "peak dtype", "machine",
                 "peak TFLOP/s", "TFLOP/s", "seq len"],
        rows=out, notes=_common_notes(shared, shared) + [
            "peak: the best round of the dtype's probes (fp32/bf16: matmul and 3x3 convolution; int8: torch's "
            "quantized Linear and ONNX Runtime's MatMulInteger), the best ever seen on the machine kind (zoo's "
            "cache; CPU model and ISA flags)",
            "beside the probe (`zoo bench --paired-peak`): % of peak: the configuration's p50 against the probes' p50 "
            "in the same alternating rounds, no cached peak involved; empty where the row did not time it",
            "% of peak: over every timed call; fastest third: % of peak in the median of the fastest of three "
            "consecutive slices of the calls, the statistic nearest the probe's best round (this CPU's speed "
            "drifts between phases)",
            "rows from before zoo recorded the CPU's ISA flags are left out: their machine kind is unknown",
            "int8 rows: the layers left in float (softmax, LayerNorm, pooling, the first and last layers where "
            "unquantized) count toward the FLOPs but do not run at the int8 peak"], digits=3)


def _stage_names(st: dict[str, Any]) -> str | None:
    """What the model does in its preprocess / postprocess slots, when it names them (e.g. letterbox / NMS)."""
    slots = ("preprocess", "postprocess")
    shown = [(st.get("names") or {}).get(k) for k in slots]
    return " / ".join(str(n) for n in shown) if any(n and n != k for n, k in zip(shown, slots)) else None


def _stages_table(rows: list[dict]) -> Table:
    st = [r for r in rows if (r.get("metrics") or {}).get("stages")]
    latest = _latest(st, lambda r: (*_group(r), r["settings"].get("batch_size")))
    out = []
    for k in sorted(latest, key=lambda k: (k[0], str(k[1]), k[2], k[4], k[5] or 0)):
        r = latest[k]
        m, s = r["metrics"], r["metrics"]["stages"]
        out.append([k[0], r["model"], r["settings"].get("batch_size"), r.get("backend_used"), s.get("decode_p50_ms"),
                    s.get("preprocess_p50_ms"), m.get("p50_ms"), s.get("postprocess_p50_ms"), s.get("e2e_p50_ms"),
                    s.get("e2e_items_per_s"), _e2e_from(s), _stage_names(s), "; ".join(r.get("flags") or []) or None,
                    k[3], _seq_len(r)])
    return Table(slug="speed_stages",
                 title="Where the time goes: decode, preprocess, forward, postprocess, end to end (p50, ms per batch)",
                 columns=["device", "model", "batch", "backend used", "decode", "preprocess", "forward", "postprocess",
                          "end to end", "end-to-end items/s", "end to end from", "preprocess / postprocess are",
                          "flags", "weights", "seq len"],
                 rows=out, notes=_common_notes(st, st) + [
                     "end to end: from the image file ('from' file: decode + preprocess + network + postprocess) or "
                     "from the decoded image (PIL) or raw text ('from' decoded; image rows measured before the decode "
                     "stage existed) to final predictions (boxes / labels), in one call chain; decode is timed only "
                     "for models that decode (image files -> PIL)",
                     "'preprocess / postprocess are': what the model does in those stages, where it names them "
                     "(YOLO detectors: letterbox / NMS)"] + _prepost_note(st),
                 digits=3)


def _prepost_note(rows: list[dict]) -> list[str]:
    """Which rows ran decode, preprocess and postprocess on one torch thread (``stages.prepost_threads``)."""
    n = sum(1 for r in rows if r["metrics"]["stages"].get("prepost_threads"))
    if not n:
        return []
    note = (f"{n} of {len(rows)} rows ran decode, preprocess and postprocess on one torch thread and the forward on "
            "the configured threads, on every path alike (with torch's pool around another runtime's, e.g. OpenVINO's, "
            "the two pools competed for the same cores); the other rows ran every stage on the configured threads")
    return [note]


def _e2e_from(stages: dict[str, Any]) -> str:
    """"file" (decode included) or "decoded" (a decoded image or raw text; rows before the decode stage)."""
    return "file" if stages.get("e2e_from") == "stored items" else "decoded"


def _best_detection_rows(rows: list[dict], name: str) -> dict[str, dict]:
    """Per device, the batch-1 row of ``name`` to show in T10: real weights over random-init ones (a random
    detector's NMS work is not representative), then the highest end-to-end FPS over every backend timed."""
    best: dict[str, tuple] = {}
    for r in rows:
        if r.get("model") != name or r["settings"].get("batch_size") != 1:
            continue
        e2e = (r["metrics"].get("stages") or {}).get("e2e_items_per_s")
        if e2e is None:
            continue
        d = _dev(r)
        rank = (r.get("weights") not in ("random-init", None), e2e, str(r.get("time")))
        if d not in best or rank > best[d][0]:
            best[d] = (rank, r)
    return {d: r for d, (_, r) in best.items()}


def _compared(r: dict[str, Any]) -> str:
    """Which configurations the row's backend was chosen from: auto's candidates, or the one asked for."""
    cands = [c.get("config") for c in (r["metrics"].get("candidates") or []) if not c.get("failed")]
    if len(cands) > 1:
        return ("auto: " if (r.get("settings") or {}).get("backend") == "auto" else "") + ", ".join(map(str, cands))
    return f"{r.get('backend_used')} only"


def _real_or_random(r: dict[str, Any]) -> str:
    w = r.get("weights")
    return weights_label(w) if w in (RANDOM_INIT, None) else f"real ({weights_label(w)})"


def _detection_table(rows: list[dict]) -> Table:
    out, used = [], []
    for label, name, fps in (*ARTICLE_FPS, *((None, n, None) for n in ALSO_TIMED + REAL_WEIGHT_DETECTORS)):
        best = _best_detection_rows(rows, name)
        if not best:
            out.append([label, name, fps, "not timed yet"] + [None] * 9)
        for d in sorted(best):
            r = best[d]
            used.append(r)
            st = r["metrics"]["stages"]
            e2e = st["e2e_items_per_s"]
            out.append([label, name, fps, d, r.get("backend_used"), _compared(r), e2e, _e2e_from(st),
                        r["metrics"].get("items_per_s"), None if fps is None else e2e / fps, _stage_names(st),
                        _real_or_random(r), "; ".join(r.get("flags") or []) or None])
    return Table(
        slug="speed_detection_realtime",
        title="Real-time detection, regenerated: the article's FPS beside ours (batch 1, end to end, best backend)",
        columns=["detector (article)", "zoo model", "article claim FPS", "device (ours)", "best backend",
                 "chosen from", "measured FPS end to end", "end to end from", "measured FPS network only",
                 "measured / claim", "preprocess / postprocess are", "weights", "flags"],
        rows=out, notes=(_common_notes(used, used) if used else ["no detection rows with stage timings yet"]) + [
            "article claim: FPS as printed in the article, on its unnamed hardware; copied as a claim, never measured here",
            "measured FPS end to end: image file ('from' file) or decoded image ('from' decoded: rows measured before "
            "the decode stage existed) -> preprocess -> network -> postprocess (boxes), batch 1",
            "best backend: per device, the row with real weights if there is one, then the highest end-to-end FPS over "
            "every backend timed; 'chosen from' lists the configurations timed side by side for that row "
            "('auto:' = `--backend auto` chose; 'X only' = the row timed one backend)",
            "weights: real (the sha256 of the loaded file) or random-init; random-init rows are flagged: their "
            "postprocessing (NMS over near-uniform scores) is not representative",
            f"{', '.join(REAL_WEIGHT_DETECTORS)}: not in the article; official COCO weights that can be imported "
            "offline (`zoo fetch yolov5n --from FILE`), timed with them",
            "reproduce: `zoo bench yolov5n --pretrained --backend auto`; the article's detectors: "
            "`zoo bench yolov3 ssd300_vgg16 ssdlite320_mobilenet_v3_large fasterrcnn_resnet50_fpn --backend auto` "
            "(auto times fp32 eager beside "
            "every candidate and records each one's box agreement with it on the sample photos; stages are timed "
            "for detectors by default)",
            "GPU rows exist only where a GPU was lent to the measuring session; otherwise the device column says cpu",
            "ssdlite320_mobilenet_v3_large: not in the article (its SSD is SSD300-VGG16); the mobile SSD, timed "
            "beside it",
            "torchvision's detectors (SSD, SSDlite, Faster R-CNN) return lists of dicts, which the ONNX Runtime and "
            "OpenVINO backends refuse ('outputs are not all tensors'): auto picks among the PyTorch candidates for them",
        ], references=[ARTICLE_SOURCE], digits=1)


def _overhead_table(all_rows: list[dict]) -> Table:
    rs = sorted((r for r in all_rows if r.get("kind") == "speed_overhead"), key=lambda r: str(r.get("time")))
    out = [[_dev(r), r.get("model"), r["settings"].get("method", "mean ratio of alternating rounds (noise-bound)"),
            r["metrics"].get("overhead_pct"), r["metrics"].get("harness_loop_ns"), r["metrics"].get("bare_loop_ns"),
            r["metrics"].get("forward_median_ms"), str(r.get("time"))[:16]] for r in rs]
    return Table(slug="speed_harness_overhead", title="Harness overhead against a bare timing loop of the same forward",
                 columns=["device", "model", "method", "overhead %", "harness loop ns/call", "bare loop ns/call",
                          "forward p50 ms", "time (UTC)"], rows=out,
                 notes=(provenance(rs) if rs else ["no overhead rows yet: run the benchmark below"]) + [
                     "overhead (current method) = (harness loop ns/call - bare loop ns/call, both around a no-op) / "
                     "median forward latency; target <= 2 %",
                     "the first method (ratio of mean forward times in alternating harness / bare rounds) gave values "
                     "dominated by machine noise (even negative) on the shared VM; its row is kept as measured",
                     "reproduce: `pytest benchmarks/test_speed_benchmarks.py -k overhead`"], digits=2)


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    all_rows = rows_of_kind(rows, "speed", "speed_overhead")
    ok = _ok(all_rows)
    return [_main_table(ok, all_rows), _speedup_table(ok), _candidates_table(ok), _peak_share_table(ok), _stages_table(ok),
            _detection_table(ok), _overhead_table(all_rows)]


def plots(rows: dict[str, list[dict]], out_dir: Path) -> list[Path]:
    """Latency distribution at batch 1 per device (latency per call = per item), one series per model and
    setting (latest rows), sorted by median, fastest at the top; random-init timings say so."""
    ok = [r for r in _ok(rows_of_kind(rows, "speed")) if r["settings"].get("batch_size") == 1]
    if not ok:
        return []
    latest = _latest(ok, lambda r: _group(r))
    panels: dict[str, list[dict]] = {}
    for k in sorted(latest):
        r = latest[k]
        m = r["metrics"]
        label = f"{r['model']} {short_backend(r.get('backend_used'))}" + (" †" if r.get("weights") == RANDOM_INIT else "")
        panels.setdefault(k[0], []).append({"label": label, "samples": m.get("latencies_ms"),
                                           "p50": m.get("p50_ms"), "p90": m.get("p90_ms"), "p99": m.get("p99_ms")})
    ordered = [{"device": d, "series": sorted(s, key=lambda x: (x["p50"] or 0.0, x["label"]))}
               for d, s in sorted(panels.items())]
    path = latency_plot(ordered, Path(out_dir) / "speed_latency.png",
                        title="SingleStream latency per item (batch 1), fastest at the top\n† timed with random-init "
                        "weights (a dense network's speed does not depend on them)", ylabel="model and backend",
                        xlabel="latency per item (ms, batch 1; log scale when it spans decades)")
    return [path]
