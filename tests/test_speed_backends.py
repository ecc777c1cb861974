"""The backend seam and BenchConfig: a backend is one registered module; settings, row keys and command
lines come from one frozen config. Plumbing only: tiny models, minimal timing, nothing measured for real."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import FAST, TinyClassifier, tiny, tiny_spec
from torch import nn

from zoo.cli import build_parser, main
from zoo.errors import UserError
from zoo.harness import backends
from zoo.harness.backends import (
    BackendConfig,
    auto_candidates,
    check_backend,
    get_backend,
    list_backends,
)
from zoo.harness.speed.config import BenchConfig, config_from_args
from zoo.harness.speed.oom import try_run
from zoo.harness.speed.runner import bench

REPO = Path(__file__).resolve().parents[1]


# --- BenchConfig: row keys, recorded settings, command lines --------------------------------------------

def _committed_speed_rows() -> list[dict]:
    path = REPO / "results" / "raw" / "speed.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("kind") == "speed"]


def test_every_committed_speed_row_key_is_reproduced_from_its_config():
    """Resume compares keys with the committed rows: a config rebuilt from a row's settings must give the
    row's key (on the row's machine), or a rerun would measure everything again."""
    rows = _committed_speed_rows()
    assert len(rows) > 20
    for r in rows:
        s = r["settings"]
        cfg = BenchConfig.from_settings(s)
        assert cfg.row_key(r["model"], s["requested_batch_size"], machine=r["machine"]) == r["key"], r["command"]


def _key_before_the_config(name, bs, settings, device, machine):
    """row_key as written before BenchConfig existed (commit 56551aa), kept here as the oracle."""
    ident = {
        "model": name, "batch_size": bs, "device": str(device).split(":")[0],
        "hw": machine.get("gpu") if str(device).startswith("cuda") else f"{machine.get('cpu')}|{machine.get('cores')}",
        **{k: settings.get(k) for k in ("backend", "dtype", "channels_last", "precision", "compile_mode",
                                        "freezing", "cuda_graphs", "pretrained", "compare", "seq_len")},
        "threads": settings.get("threads_requested", settings.get("threads")),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


@pytest.mark.parametrize("kw", [
    {}, {"backend": "auto"}, {"backend": "compile"}, {"backend": "compile", "dtype": "bf16", "no_freezing": True},
    {"dtype": "bf16", "compare": True, "threads": 2, "seq_len": 128}, {"backend": "int8", "pretrained": False},
    {"backend": "eager", "channels_last": True, "precision": "autocast", "dtype": "bf16"},
])
def test_row_keys_equal_the_keys_written_before(kw):
    kw = dict(kw)
    freezing = False if kw.pop("no_freezing", False) else None
    cfg = BenchConfig(freezing=freezing, **kw)
    machine = {"cpu": "Some CPU", "cores": 2, "gpu": None}
    assert cfg.row_key("m", 4, machine) == _key_before_the_config("m", 4, cfg.recorded(3), "cpu", machine)
    assert cfg.recorded(3)["threads"] == 3 and cfg.recorded(3)["threads_requested"] == cfg.threads


@pytest.mark.parametrize("cfg", [
    BenchConfig(),
    BenchConfig(backend="auto", batch_sizes=(1, 8), seq_len=128, min_duration_s=4.0, rounds=4),
    BenchConfig(backend="compile", dtype="bf16", channels_last=True, freezing=False, compile_mode="max-autotune",
                threads=2, pretrained=False, compare=True, stages=False, warmup=2, min_iters=3, precision="cast"),
    BenchConfig(pretrained=True, stages=True),
])
def test_the_command_line_parses_back_to_the_same_config(cfg):
    words = cfg.command(["resnet50"]).split()
    assert words[:3] == ["zoo", "bench", "resnet50"]
    args = build_parser("bench").parse_args(words[1:])
    assert config_from_args(args) == cfg


def test_default_command_says_only_what_differs():
    assert BenchConfig(batch_sizes=[1, 8]).command(["a", "b"]) == "zoo bench a b --device cpu --batch-size 1,8 --backend eager"


@pytest.mark.parametrize("kw, match", [
    ({"threads": -1}, "--threads"), ({"batch_sizes": (0,)}, "batch"), ({"batch_sizes": "x"}, "batch"),
    ({"rounds": 0}, "--rounds"), ({"min_duration_s": -1.0}, "--min-duration"), ({"dtype": "int4"}, "dtype"),
    ({"precision": "half"}, "precision"), ({"backend": "eagre"}, "did you mean eager"),
])
def test_bad_settings_are_one_line_user_errors(kw, match):
    with pytest.raises(UserError, match=match):
        BenchConfig(**kw)


# --- the registry ----------------------------------------------------------------------------------------

def test_backends_are_discovered_from_their_modules():
    assert list_backends()[:4] == ["eager", "compile", "onnxruntime", "int8"]
    for name in list_backends():
        assert get_backend(name).name == name


def test_unknown_backend_is_one_line_with_close_names(registered_tiny, capsys):
    assert main(["bench", registered_tiny, "--backend", "onnxrntime", "--no-write"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown backend 'onnxrntime'; did you mean onnxruntime" in err
    with pytest.raises(UserError, match="unknown backend 'tensorrt'"):
        bench(model=tiny(), backend="tensorrt")


def test_capabilities_refuse_what_a_backend_cannot_run():
    with pytest.raises(UserError, match="backend onnxruntime runs on cpu only"):
        check_backend(BackendConfig("onnxruntime"), "cuda:0")
    with pytest.raises(UserError, match="backend int8 runs fp32 only"):
        check_backend(BackendConfig("int8", "bf16"), "cpu")
    with pytest.raises(UserError, match="CUDA graphs"):
        check_backend(BackendConfig("eager", cuda_graphs=True), "cpu")


TOY_MODULE = '''
from zoo.harness.backends import Backend, BackendConfig, Capabilities, Prepared, register_backend
from zoo.harness.backends import make_to_inputs

CALLS = []


@register_backend
class Toy(Backend):
    name = "toy"
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32", "int8"), tasks={tasks!r})
    priority = 5

    def prepare(self, model, config, device, example_inputs):
        def run(x):
            CALLS.append(x.shape[0])
            return model(x)
        return Prepared(config, run, make_to_inputs(device, None, False), {{}}, module=model)

    def auto_configs(self, ctx):
        return [BackendConfig("toy", "fp32")]
'''


@pytest.fixture
def toy_backend(tmp_path, monkeypatch):
    """Registers a "toy" backend from a module written to a temporary folder (no file of zoo edited)."""
    def load(tasks=None, module="zoo_toy_backend"):
        (tmp_path / f"{module}.py").write_text(TOY_MODULE.format(tasks=tasks))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, module, raising=False)
        backends.list_backends()  # the package's own backends registered first, so the copy below holds them
        monkeypatch.setattr(backends.registry, "_BACKENDS", dict(backends.registry._BACKENDS))  # the registration is undone after
        return __import__(module)
    return load


def test_a_toy_backend_in_its_own_module_is_used_by_zoo_bench(toy_backend, registered_tiny, results_dir, capsys):
    toy = toy_backend()
    assert "toy" in list_backends()
    args = ["bench", registered_tiny, "--backend", "toy", "--batch-size", "1,2", "--warmup", "1", "--min-iters", "2",
            "--min-duration", "0", "--no-write", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["backend_used"] for r in rows] == ["toy+fp32", "toy+fp32"]
    assert [r["settings"]["backend"] for r in rows] == ["toy", "toy"]
    assert rows[0]["command"].startswith(f"zoo bench {registered_tiny} --device cpu --batch-size 1,2 --backend toy")
    assert set(toy.CALLS) == {1, 2}
    # a dtype only a registered backend declares (say int8) is accepted for it, and refused for the others
    assert main(["bench", registered_tiny, "--backend", "toy", "--dtype", "int8", "--warmup", "1", "--min-iters", "2",
                 "--min-duration", "0", "--no-write", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["backend_used"] == "toy+int8"  # an int8 graph names no cast / autocast
    assert main(["bench", registered_tiny, "--backend", "eager", "--dtype", "int8", "--no-write"]) == 2
    assert "backend eager runs fp32, bf16, fp16 only" in capsys.readouterr().err
    assert "toy" in build_parser("bench")._subparsers._group_actions[0].choices["bench"].format_help()


def test_auto_asks_only_backends_whose_capabilities_match(toy_backend):
    toy_backend(tasks=("text-classification",))
    net = nn.Sequential(nn.Linear(4, 4))
    assert BackendConfig("toy") in auto_candidates("cpu", "text-classification", net)
    assert BackendConfig("toy") not in auto_candidates("cpu", "image-classification", net)
    cands = auto_candidates("cpu", "image-classification", net)
    assert cands[0] == BackendConfig("eager", "fp32") and len(set(cands)) == len(cands)
    assert all(c.dtype in ("fp32", "bf16", "int8") for c in cands)
    assert all(c.dtype == "bf16" for c in auto_candidates("cpu", "text-classification", net, "bf16")[1:])
    assert not any(c.backend in ("onnxruntime", "int8") for c in auto_candidates("cuda", "text-classification", net))


def test_auto_with_a_toy_backend_records_every_candidate(toy_backend, results_dir):
    toy_backend()
    import zoo.harness.speed.measure as sm

    with pytest.MonkeyPatch.context() as mp:  # two candidates only: eager fp32 and toy
        mp.setattr(sm, "auto_candidates", lambda device, task, model, dtype=None: [BackendConfig("eager"), BackendConfig("toy")])
        (row,) = bench(model=tiny(), batch_sizes=(1,), backend="auto", write=False, peak=False, **FAST)
    assert row["status"] == "ok"
    assert [c["config"] for c in row["metrics"]["candidates"]] == ["eager+fp32", "toy+fp32"]
    toy = row["metrics"]["candidates"][1]
    assert toy["output_deviation"]["rel_l2"] == 0 and toy["speedup_vs_fp32_eager"] > 0


# --- out of memory --------------------------------------------------------------------------------------

def test_try_run_halves_on_memory_error_and_records_the_way_down():
    seen = []

    def run(b):
        seen.append(b)
        if b > 2:
            raise MemoryError()  # host RAM: as much an out-of-memory as CUDA's
        return f"ran {b}"

    attempt = try_run(run, 16, "cpu")
    assert (attempt.result, attempt.batch_size, attempt.oom_batch_sizes, attempt.error) == ("ran 2", 2, [16, 8, 4], None)
    failed = try_run(lambda b: 1 / 0, 4, "cpu")
    assert isinstance(failed.error, ZeroDivisionError) and failed.oom_batch_sizes == []
    with pytest.raises(UserError):
        try_run(lambda b: (_ for _ in ()).throw(UserError("bad")), 4, "cpu")


class _ItemsOOM(TinyClassifier):
    """Building more than 2 items exhausts host memory (MemoryError), before any forward runs."""

    def example_items(self, n=1):
        if n > 8:
            raise MemoryError()
        return super().example_items(n)


def test_memory_error_while_building_a_batch_halves_it(results_dir):
    model = _ItemsOOM(tiny_spec("speedtest_items_oom", _ItemsOOM)).eval()
    (row,) = bench(model=model, batch_sizes=(32,), write=False, peak=False, **FAST)
    assert row["status"] == "ok", row.get("error")
    assert row["settings"]["batch_size"] == 8 and row["metrics"]["oom_batch_sizes"] == [32, 16]


@pytest.mark.parametrize("extra, match", [(["--threads", "-1"], "--threads"), (["--timeout", "-1", "--isolate"], "--timeout"),
                                          (["--dtype", "fp8"], "unknown dtype")])
def test_bad_cli_values_are_one_line_errors(registered_tiny, capsys, extra, match):
    assert main(["bench", registered_tiny, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error:") and match in err and "\n" not in err


# --- sweeps: a worker never outlives its parent ---------------------------------------------------------

def sleeper():
    """A sweep worker's model factory that reports its process id and then hangs."""
    Path(os.environ["ZOO_TEST_PIDFILE"]).write_text(str(os.getpid()))
    time.sleep(300)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent-to-be has not reaped it yet


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_killing_a_sweeps_parent_kills_its_worker(tmp_path, results_dir):
    """kill -9 of ``zoo bench A B`` once left the worker running: it went on appending rows that the rerun
    measured again. The worker now exits when its parent is gone."""
    pidfile = tmp_path / "worker.pid"
    here = str(Path(__file__).parent)
    env = {**os.environ, "ZOO_TEST_PIDFILE": str(pidfile),
           "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    code = ("from zoo.harness.speed.sweep import sweep; "
            "sweep(['speedtest_sleep'], factories={'speedtest_sleep': 'test_speed_backends:sleeper'}, progress=False)")
    parent = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=here)
    try:
        deadline = time.monotonic() + 240
        while not pidfile.exists() or not pidfile.read_text():
            assert parent.poll() is None and time.monotonic() < deadline, "the worker never started"
            time.sleep(0.2)
        worker = int(pidfile.read_text())
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    survived = _alive(worker)
    if survived:
        os.kill(worker, 9)  # leave no orphan behind a failing test
    assert not survived, "the sweep worker outlived its killed parent"


# --- --profile: where a call's time goes ----------------------------------------------------------------

def test_profile_records_the_layers_of_the_chosen_runtime_and_says_when_it_has_none(results_dir):
    pytest.importorskip("openvino")
    from zoo.commands.bench import profile_notes

    (row,) = bench(model=tiny(), backend="openvino", profile=True, write=False, **FAST)
    m, prof = row["metrics"], row["metrics"]["layer_profile"]
    assert row["settings"]["profile"] is True and "Convolution" in {t["type"] for t in prof["by_type"]}
    assert m["mac_layers_share_of_peak"] == pytest.approx(
        m["flops_per_item"] / (prof["mac_layers_ms"] / 1e3) / 1e12 / m["peak_tflops"], rel=1e-3)  # batch 1
    (line,) = profile_notes([row])
    # the layer types in order of time: which comes first depends on the machine (the tiny net's linear layer
    # or its convolution), so only their presence is checked
    assert "openvino+fp32: layers " in line and "Convolution" in line and "multiply-add layers at" in line
    (plain,) = bench(model=tiny(), backend="eager", profile=True, write=False, **FAST)
    assert "reports no per-layer times" in plain["metrics"]["layer_profile"]["none"]
    (quiet,) = bench(model=tiny(), backend="openvino", write=False, **FAST)
    assert "layer_profile" not in quiet["metrics"] and not profile_notes([quiet])  # only when asked
