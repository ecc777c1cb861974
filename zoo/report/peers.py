"""The peers table, "zoo vs what users would pick instead", from results/raw/peers.jsonl (rows written by
``python -m zoo.experiments.peers``): per model, zoo's pick beside plain torch eager, timm's benchmark
settings, OpenVINO's latency hint, ONNX Runtime's defaults and ultralytics' formats, all timed in one process
in alternating rounds; p50 ms, items/s and speed relative to zoo's pick in the same scope."""

from __future__ import annotations

from typing import Any

from ..results import machine_identity
from ..spec import weights_label
from .base import Table, layer_types_text, provenance, rows_of_kind

SOURCES = [
    "timm benchmark.py: huggingface/pytorch-image-models, benchmark.py (InferenceBenchmarkRunner: eval, "
    "torch.no_grad, --precision float32 default, --channels-last / --torchscript / --amp off unless given)",
    "OpenVINO benchmark_app -hint latency: PERFORMANCE_HINT=LATENCY, no other property",
    "ONNX Runtime: InferenceSession with default SessionOptions, CPUExecutionProvider",
    "ultralytics benchmark(): exports each format and times it (here: export + predict offline, no coco8 val)",
]


def _latest_run(rows: list[dict]) -> list[dict]:
    """Per model, batch size and machine, the rows of its latest run (``settings.run``: one process timed
    them together); older runs are left out as a whole so peers timed side by side stay together."""
    latest: dict[tuple, str] = {}
    for r in rows:
        key = (r.get("model"), (r.get("settings") or {}).get("batch_size"), _machine(r))
        run = str((r.get("settings") or {}).get("run") or r.get("time"))
        latest[key] = max(latest.get(key, ""), run)
    return [r for r in rows if str((r.get("settings") or {}).get("run") or r.get("time")) ==
            latest[(r.get("model"), (r.get("settings") or {}).get("batch_size"), _machine(r))]]


def _machine(r: dict[str, Any]) -> str:
    return machine_identity(r.get("machine"))


def _settings_text(r: dict[str, Any]) -> str:
    s = dict(r.get("settings") or {})
    for k in ("batch_size", "rounds", "warmup", "min_iters", "min_duration_s", "max_iters", "threads", "source", "run"):
        s.pop(k, None)
    return "; ".join(f"{k}={v}" for k, v in sorted(s.items()) if v not in (None, "", {}))[:300]


def _order(r: dict[str, Any]) -> tuple:
    peer = str(r.get("peer"))
    return (str(r.get("model")), r.get("status") != "ok", str(r.get("scope")), 0 if peer.startswith("zoo's pick") else 1,
            -(((r.get("metrics") or {}).get("speed_vs_zoo")) or 0), peer)


def _settings_keys(rows: list[dict]) -> dict[str, str]:
    """Each distinct settings text -> a short label ("S1", "S2", ... in table order), so a table cell stays short
    and the full text is printed once, in the key."""
    keys: dict[str, str] = {}
    for r in sorted(rows, key=_order):
        text = _settings_text(r) if r.get("status") == "ok" else ""
        if text and text not in keys:
            keys[text] = f"S{len(keys) + 1}"
    return keys


def _peers_table(rows: list[dict]) -> Table:
    out = []
    keys = _settings_keys(rows)
    for r in sorted(rows, key=_order):
        m, s = r.get("metrics") or {}, r.get("settings") or {}
        lib = ", ".join(f"{k} {v}" for k, v in sorted((r.get("library") or {}).items()) if v)
        if r.get("status") != "ok":
            out.append([r.get("model"), s.get("batch_size"), None, r.get("peer"), r.get("status"), None, None, None,
                        None, lib, weights_label(r.get("weights")), _machine(r), r.get("note")])
            continue
        out.append([r.get("model"), s.get("batch_size"), r.get("scope"), r.get("peer"), keys.get(_settings_text(r)),
                    m.get("p50_ms"), m.get("items_per_s"), m.get("speed_vs_zoo"), _share(m), lib,
                    weights_label(r.get("weights")), _machine(r), None])
    why = [f"{r.get('model')}, {r.get('peer')}: {r.get('status')}: {r.get('note')}" for r in sorted(rows, key=_order)
           if r.get("status") != "ok"]
    return Table(
        slug="peers", title="zoo vs what users would pick instead (same machine, one process, alternating rounds)",
        columns=["model", "batch", "scope", "peer", "settings", "p50 ms", "items/s", "speed vs zoo's pick",
                 "% of peak", "library", "weights", "machine", "why not run"],
        brief=["peer", "scope", "settings", "p50 ms", "items/s", "speed vs zoo's pick", "% of peak", "weights"],
        sections=["model", "batch", "machine", "weights"],
        rows=out, notes=provenance(rows) + [f"settings {k}: {text}" for text, k in keys.items()] + why + [
            "speed vs zoo's pick = zoo's pick p50 / the peer's p50, in the same scope and run (1.00 = as fast as zoo's "
            "pick; 0.50 = half as fast; above 1.00 = the peer beats zoo's pick)",
            "scope 'forward': the network call on the same preprocessed input; 'end to end': image file to boxes "
            "(ultralytics' predict beside zoo's decode + preprocess + network + postprocess)",
            "zoo's pick: the configuration `zoo bench MODEL --backend auto` chose (its latest row on this machine "
            "kind, else auto run beside the peers), prepared by zoo's backends",
            "skipped / error rows say why a peer could not run for that model",
            "% of peak: FLOPs per item x items/s over the measured peak of the precision the peer computes in "
            "(fp32, bf16 or int8: probed in the same process, the best ever seen on this machine kept), forward "
            "scope only",
        ] + _best_peer_notes(rows) + _profile_notes(rows) + sorted({f"reproduce: `{r['command']}`" for r in rows if r.get("command")}),
        references=SOURCES, digits=3)


def _share(m: dict[str, Any]) -> str | None:
    share = m.get("share_of_peak")
    return None if share is None else f"{100 * share:.1f} ({m.get('peak_dtype')})"


def _profile_notes(rows: list[dict]) -> list[str]:
    """Per peer with a layer profile (OpenVINO's per-layer counters): where a call's time goes and the share of
    peak of the multiply-add layers alone, against the whole call's: the gap the other layers make."""
    out = []
    for r in sorted(rows, key=_order):
        m = r.get("metrics") or {}
        prof = m.get("layer_profile") or {}
        if r.get("status") != "ok" or not prof.get("by_type"):
            continue
        batch = (r.get("settings") or {}).get("batch_size")
        line = f"layer profile, {r.get('model')} b{batch}, {r.get('peer')}: {layer_types_text(prof)}"
        if m.get("mac_layers_share_of_peak") is not None:
            line += (f"; multiply-add layers alone at {100 * m['mac_layers_share_of_peak']:.0f}% of the "
                     f"{m.get('peak_dtype')} peak, all layers {100 * m['layers_share_of_peak']:.0f}%, the whole "
                     f"call {100 * m['share_of_peak']:.0f}%")
        out.append(line)
    if out:
        out.append("how the layer profiles are taken: OpenVINO's per-node counters (PERF_COUNT) on a second "
                   "compilation of the same model, after the timed rounds, 20 calls; the counters cost time per node, "
                   "so on graphs of many small nodes (bert_base: ~200) the summed layer time can exceed the timed "
                   "call: read the shares by type, and the multiply-add layers' share of peak as a lower bound of how "
                   "close their kernels come")
    return out


def _best_peer_notes(rows: list[dict]) -> list[str]:
    """Per model and scope: the fastest peer against zoo's pick (issue 16 goal: zoo's pick >= 1.0x the best)."""
    best: dict[tuple, dict] = {}
    for r in rows:
        m = r.get("metrics") or {}
        if r.get("status") != "ok" or str(r.get("peer")).startswith("zoo's pick") or m.get("speed_vs_zoo") is None:
            continue
        k = (r.get("model"), r.get("scope"))
        if k not in best or m["speed_vs_zoo"] > best[k]["metrics"]["speed_vs_zoo"]:
            best[k] = r
    out = []
    for (model, scope), r in sorted(best.items(), key=lambda kv: str(kv[0])):
        v = r["metrics"]["speed_vs_zoo"]
        verdict = "zoo's pick is at least as fast" if v <= 1 else f"the peer is {v:.2f}x zoo's pick: zoo loses here"
        out.append(f"{model} ({scope}): best peer {r['peer']} at {v:.2f}x zoo's pick speed; {verdict}")
    return out


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    peers = rows_of_kind(rows, "peers")
    return [_peers_table(_latest_run(peers))] if peers else []
