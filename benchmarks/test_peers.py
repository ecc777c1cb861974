"""Peers side by side for one small model: zoo's pick beside plain torch eager, timm benchmark.py settings,
OpenVINO's latency hint and ONNX Runtime's defaults, one process, alternating rounds
(``zoo.experiments.peers``; the same code as ``python -m zoo.experiments.peers``).

    flock /tmp/zoo-heavy.lock pytest -s benchmarks/test_peers.py [--zoo-models efficientnet_lite0]

Rows go to $ZOO_RESULTS_DIR/peers.jsonl (default results/raw) unless ``--zoo-no-write``; `zoo report`
turns them into results/peers.md. zoo's pick is the latest `zoo bench MODEL --backend auto` row on this
machine kind, else auto runs first (no speed row written). The goal (zoo's pick >= 1.0x the best peer) is
printed, not asserted: a shared VM's speed is not a test oracle.
"""

from __future__ import annotations

from zoo.experiments import peers
from zoo.harness.speed.timing import TimingPolicy
from zoo.results import append_row, raw_path

DEFAULT_MODEL = "efficientnet_lite0"


def test_peers_side_by_side(request, zoo_write, zoo_min_duration):
    opt = request.config.getoption("--zoo-models")
    name = opt.split(",")[0] if opt else DEFAULT_MODEL
    rows = peers.run_model(name, 1, peers.ALL_PEERS, "rows", TimingPolicy(warmup=3, min_iters=10,
                           min_duration_s=zoo_min_duration), 5, raw_path("speed"), log=print)
    print()
    for r in rows:
        print(peers.summary_line(r))
        if zoo_write:
            append_row(raw_path(peers.TOPIC), r)
    ok = [r for r in rows if r["status"] == "ok"]
    assert any(r["peer"].startswith("zoo's pick") for r in ok) and any(r["peer"] == "torch eager fp32" for r in ok)
    best = max((r["metrics"]["speed_vs_zoo"] for r in ok if not r["peer"].startswith("zoo's pick")
                and r["metrics"].get("speed_vs_zoo")), default=None)
    print(f"{name}: best peer at {best:.2f}x zoo's pick speed (goal: <= 1.00)" if best else f"{name}: no peer ran")
