"""One batch size of ``zoo bench``: prepare every configuration to time (one, or fp32 eager beside it with
``compare``, or every ``--backend auto`` candidate), check each one's output deviation from fp32 eager on
real items, time them in alternating rounds, keep the chosen one's figures.

Alternating rounds matter: speed on a shared VM drifts by up to 2x over minutes, so only side-by-side
ratios are comparable.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils import _pytree as pytree

from ...models.base import move_to
from ..loading import decoded_items, stored_items
from . import accuracy_auto, accuracy_budget
from ..backends import (AUTO, BASELINE, BackendConfig, Calibration, Prepared, accuracy_checked, auto_candidates, outputs_to_fp32,
                       prepare)
from .config import BenchConfig
from .cost import PEAK_DTYPES, MemoryMeter, peak_dtype, probe_calls, rate_tflops
from .error import DEVIATION, output_error
from .noise import NoiseMeter
from .timing import TimingPolicy, percentile, summarize, timer_for

STAGE_TASKS = ("object-detection", "text-classification", "question-answering", "translation")
STAGES = ("decode", "preprocess", "forward", "postprocess")  # the stage slots, in pipeline order
SETUP_KEYS = ("compile", "onnx", "openvino", "quantized", "calibration", "cuda_graphs")  # prep.info kept in settings


def pad_sequence(batch: Any, seq_len: int | None) -> Any:
    """Right-pad every 2-D integer input (token ids, attention masks) with zeros to ``seq_len`` tokens.

    Zero is the padding id of BERT-style vocabularies and a zero attention mask hides the padding, so the
    predictions stay those of the unpadded text while the network computes over ``seq_len`` positions
    (how fixed-length throughput, e.g. "BERT-base at seq 128", is measured). Longer inputs are left as they are.
    """
    if not seq_len:
        return batch

    def pad(t):
        if isinstance(t, torch.Tensor) and t.dim() == 2 and not t.is_floating_point() and t.shape[1] < seq_len:
            return F.pad(t, (0, seq_len - t.shape[1]), value=0)
        return t

    batch.inputs = pytree.tree_map(pad, batch.inputs)
    return batch


def _flat_preds(model: Any, outs: list[Any], batches: list[Any]) -> list[dict] | None:
    try:
        return [p for o, b in zip(outs, batches) for p in model.postprocess(o, b)]
    except NotImplementedError:
        return None


class _Reference:
    """fp32 eager outputs and predictions on the deviation-check batches, computed once per batch size."""

    def __init__(self, model: Any, items: list[Any], bs: int, device: str, seq_len: int | None = None):
        self.batches = [pad_sequence(model.preprocess(items[i : i + bs]), seq_len) for i in range(0, len(items), bs)]
        self.outs = [outputs_to_fp32(model(move_to(b.inputs, device))) for b in self.batches]
        self.preds = _flat_preds(model, self.outs, self.batches)

    def deviation(self, model: Any, prep: Prepared) -> dict[str, Any]:
        outs = [outputs_to_fp32(prep.run(prep.to_inputs(b.inputs))) for b in self.batches]
        preds = _flat_preds(model, outs, self.batches) if self.preds is not None else None
        return output_error(model.spec.task, outs, self.outs, preds, self.preds)


def latency_sample(times_ms: Sequence[float], limit: int = 500) -> list[float]:
    """Per-call latencies for the row (ms, 4 decimals): all of them in call order up to ``limit``, else
    ``limit`` evenly spaced order statistics (sorted), enough for distribution plots."""
    xs = list(times_ms)
    if len(xs) > limit:
        xs = sorted(xs)
        xs = [xs[round(i * (len(xs) - 1) / (limit - 1))] for i in range(limit)]
    return [round(float(x), 4) for x in xs]


def measure_rounds(fns: list[Callable[[], Any]], timer, policy: TimingPolicy, rounds: int) -> list[list[float]]:
    """Per-iteration times of each fn, measured in ``rounds`` alternating rounds (ABCABC...)."""
    if len(fns) == 1:
        return [timer.run(fns[0], policy)]
    times: list[list[float]] = [[] for _ in fns]
    per_round = replace(policy, min_duration_s=policy.min_duration_s / rounds,
                        min_iters=max(1, math.ceil(policy.min_iters / rounds)))
    for r in range(rounds):
        for i, fn in enumerate(fns):
            times[i] += timer.run(fn, per_round if r == 0 else replace(per_round, warmup=1))
    return times


def stage_names(model: Any) -> dict[str, str]:
    """What the model does in each stage slot (``ZooModel.stage_names``; the slot's name by default)."""
    own = getattr(model, "stage_names", None) or {}
    return {slot: str(own.get(slot, slot)) for slot in STAGES}


PREPOST_THREADS = 1  # torch intra-op threads for decode, preprocess and postprocess in the stage timing


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op threads set to ``n`` inside the block, restored after."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)


def time_stages(model: Any, prep: Prepared, stored: list[Any], device: str, policy: TimingPolicy,
                seq_len: int | None = None, baseline: Prepared | None = None, rounds: int = 3) -> dict[str, Any]:
    """ms per call of each stage and of the whole path, from the items as stored to final predictions.

    Stages (slots; ``names`` says what the model does in each, e.g. letterbox, NMS): decode (stored items,
    e.g. JPEG files -> PIL; timed only where the model decodes: ``model.decode`` returns new objects),
    preprocess (-> tensors), postprocess (outputs -> predictions); the forward is the row's own latency.
    End to end = decode + preprocess + forward + postprocess in one call chain (p50 and items/s);
    ``e2e_from`` says where it starts ("stored items" or "decoded items").

    Decode, preprocess and postprocess run on PREPOST_THREADS torch thread (``prepost_threads``), on every path
    alike; the forward keeps the configured threads. Per-item pre/postprocessing gains nothing from torch's
    thread pool, and where the forward runs in another runtime's threads (OpenVINO, ONNX Runtime) the two
    pools took turns spinning on the same cores: YOLOv5n's OpenVINO int8 path took 31.2 ms end to end with
    them, 28.5 ms with one thread, while fp32 eager's did not change (59.5 / 59.9 ms; side by side, 2 cores).

    Text inputs are padded to ``seq_len`` in every stage, as in the forward timing, so that the end-to-end
    path runs the same network shapes as the forward it is compared with.

    ``baseline`` (fp32 eager, for the pick's end-to-end gain): its end to end is timed beside ``prep``'s, in
    ``rounds`` alternating rounds, so the ratio of the two is not a ratio of two phases of a drifting machine;
    ``baseline_e2e_p50_ms`` and ``e2e_rounds`` say so."""
    short = replace(policy, min_duration_s=max(0.2, policy.min_duration_s / 2), warmup=min(policy.warmup, 2))
    one = PREPOST_THREADS
    with torch_threads(one):
        items = list(model.decode(stored))
    decodes = any(a is not b for a, b in zip(stored, items))

    def decode():
        with torch_threads(one):
            return model.decode(stored) if decodes else items

    def preprocess(raw):
        with torch_threads(one):
            return pad_sequence(model.preprocess(raw), seq_len)

    def postprocess(out, b):
        with torch_threads(one):
            return model.postprocess(outputs_to_fp32(out), b)

    def e2e(p: Prepared) -> Callable[[], Any]:
        def call():
            b = preprocess(decode())
            return postprocess(p.run(p.to_inputs(b.inputs)), b)
        return call

    cpu = timer_for("cpu")
    out: dict[str, Any] = {"names": stage_names(model), "e2e_from": "stored items" if decodes else "decoded items",
                           "prepost_threads": one}
    if decodes:
        out["decode_p50_ms"] = summarize(cpu.run(decode, short), len(stored))["p50_ms"]
    out["preprocess_p50_ms"] = summarize(cpu.run(lambda: preprocess(items), short), len(items))["p50_ms"]
    batch = preprocess(items)
    raw_out = prep.run(prep.to_inputs(batch.inputs))
    out["postprocess_p50_ms"] = summarize(cpu.run(lambda: postprocess(raw_out, batch), short), len(items))["p50_ms"]
    paths = [prep] + ([baseline] if baseline is not None else [])
    times = measure_rounds([e2e(p) for p in paths], timer_for(device), short, rounds)
    end = summarize(times[0], len(items))
    out.update({"e2e_p50_ms": end["p50_ms"], "e2e_p90_ms": end["p90_ms"], "e2e_p99_ms": end["p99_ms"],
                "e2e_items_per_s": end["items_per_s"], "e2e_iterations": end["iterations"]})
    if baseline is not None:
        out.update(baseline_e2e_p50_ms=summarize(times[1], len(items))["p50_ms"], e2e_rounds=rounds)
    return out


# --- one batch size -------------------------------------------------------------------------------------

@dataclass
class _Candidate:
    prep: Prepared
    inputs: Any
    entry: dict[str, Any]  # what the row's "candidates" list records about it


def candidate_configs(model: Any, cfg: BenchConfig, device: str) -> list[BackendConfig]:
    """What to time: the auto candidates, or the one configuration asked for (after fp32 eager with compare)."""
    if cfg.backend == AUTO:
        return auto_candidates(device, model.spec.task, model, cfg.resolved()["dtype"])
    one = cfg.backend_config()
    return [BASELINE, one] if cfg.compare and one != BASELINE else [one]


def _prepare_all(model: Any, configs: list[BackendConfig], batch: Any, device: str, ref: _Reference | None,
                 tolerate: bool, calibration_pool=None,
                 say: Callable[[str], None] = lambda s: None) -> tuple[list[_Candidate], list[dict[str, Any]]]:
    """Set up and call each configuration once (compilation, export, calibration, quantization, autotuning
    happen here, untimed: ``setup_s``; the backends record their own parts, e.g. ``quantized.quantize_s``).

    With ``tolerate`` (auto), a configuration other than the baseline that fails is recorded and skipped.
    Calibrating backends share one set of calibration items (built on first need; with ``calibration_pool``,
    drawn from those files only: the part of a held-out split that auto's own accuracy check does not score).
    ``say``: one progress line per configuration (i/N, its label, seconds since the first began)."""
    ready: list[_Candidate] = []
    entries: list[dict[str, Any]] = []
    calibration = Calibration(model, pool=calibration_pool)
    start = time.perf_counter()
    for i, cfg in enumerate(configs, 1):
        entry: dict[str, Any] = {"config": cfg.label}
        entries.append(entry)
        say(f"candidate {i}/{len(configs)} {cfg.label}: setting up ({time.perf_counter() - start:.0f} s elapsed)")
        try:
            t0 = time.perf_counter()
            prep = prepare(model if cfg == BASELINE else copy.deepcopy(model), cfg, device, batch.inputs,
                           calibration=calibration)
            x = prep.to_inputs(batch.inputs)
            t1 = time.perf_counter()
            prep.run(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            entry["first_call_s"] = round(time.perf_counter() - t1, 3)
            entry["setup_s"] = round(time.perf_counter() - t0, 3)
            entry.update(prep.info)
            if ref is not None and cfg != BASELINE:
                entry[DEVIATION] = ref.deviation(model, prep)
            ready.append(_Candidate(prep, x, entry))
        except Exception as e:
            if not tolerate or cfg == BASELINE:
                raise
            entry["failed"] = one_line(e)
    return ready, entries


def _layer_profile(chosen: _Candidate) -> dict[str, Any]:
    """``--profile``: where the chosen configuration's call spends its time, by layer type (OpenVINO's counters,
    ``backends.openvino.layer_profile``), or why there is none."""
    if chosen.prep.profile is None:
        return {"none": f"{chosen.prep.config.label}: its runtime reports no per-layer times (OpenVINO does)"}
    try:
        return chosen.prep.profile(chosen.inputs)
    except Exception as e:  # noqa: BLE001  (a profile is extra: the timings stand without it)
        return {"error": one_line(e)}


def _chosen_metrics(chosen: _Candidate, times: list[float], baseline_times: list[float] | None,
                    bs: int, device: str) -> dict[str, Any]:
    metrics: dict[str, Any] = summarize(times, bs)
    metrics["latencies_ms"] = latency_sample(times)
    metrics["first_call_s"] = chosen.entry.get("first_call_s")
    metrics["setup_s"] = chosen.entry.get("setup_s")
    if DEVIATION in chosen.entry:
        metrics[DEVIATION] = chosen.entry[DEVIATION]
    if baseline_times is not None:
        metrics["speedup_vs_fp32_eager"] = chosen.entry["speedup_vs_fp32_eager"]
        metrics["fp32_eager_p50_ms"] = percentile(baseline_times, 50)
    with MemoryMeter(device) as mem:
        for _ in range(3):
            chosen.prep.run(chosen.inputs)
    metrics.update(mem.as_metrics())
    return metrics


PAIRED_ROUNDS = 5  # --paired-peak: at least this many alternating rounds of the model and the probes


def paired_peak(chosen: _Candidate, bs: int, device: str, cfg: BenchConfig) -> dict[str, Any]:
    """``--paired-peak``: the chosen configuration's call and each peak probe of its precision
    (``cost.probe_calls``) timed in alternating rounds, the p50 of each; the fastest probe is the peak, as in
    ``cost.measure_matmul_peak``. Both figures come from the same minutes, where the best-known peak of the
    cache may come from a faster phase of the machine (its speed drifts by up to 2x)."""
    dtype = peak_dtype(chosen.prep.config.as_dict())
    if dtype not in PEAK_DTYPES:
        return {"dtype": dtype, "error": f"no {dtype} peak probe"}
    probes = probe_calls(device, dtype)
    rounds = max(cfg.rounds, PAIRED_ROUNDS)
    times = measure_rounds([lambda: chosen.prep.run(chosen.inputs)] + [fn for fn, _ in probes.values()],
                           timer_for(device), cfg.timing(), rounds)
    paths = {name: rate_tflops(flops, percentile(t, 50)) for (name, (_, flops)), t in zip(probes.items(), times[1:])}
    path = max(paths, key=paths.get)
    return {"dtype": dtype, "tflops": paths[path], "path": path, "paths": paths, "rounds": rounds,
            "model_p50_ms": percentile(times[0], 50), "items_per_call": bs, "iterations": [len(t) for t in times]}


def measure_batch(model: Any, cfg: BenchConfig, bs: int, device: str, get_peak: Callable[[str], dict | None],
                  log: Callable[[str], None] | None = None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Measure one batch size. Returns (metrics, extra settings, label of the configuration used).
    ``log``: with several configurations (``--backend auto``, ``--compare``), one line per candidate set up
    and one before the alternating rounds."""
    import torch._dynamo as dynamo  # deferred: heavy; only needed once a batch is measured

    n_err = cfg.error_items
    items = decoded_items(model, max(bs, n_err))
    batch = pad_sequence(model.preprocess(items[:bs]), cfg.seq_len)
    configs = candidate_configs(model, cfg, device)
    skipped = [c for c in configs[1:] if cfg.backend == AUTO and c.label.startswith(cfg.skip or ("\0",))]
    configs = [c for c in configs if c not in skipped]
    ref = None
    if any(c != BASELINE for c in configs):
        n_ref = bs * math.ceil(n_err / bs)
        ref = _Reference(model.to(device), (items * math.ceil(n_ref / len(items)))[:n_ref], bs, device, cfg.seq_len)
    # fresh dynamo state per batch size (stale guards, recompile limits); not per configuration, since a
    # reset would also throw away the graphs of configurations compiled before it
    dynamo.reset()
    acc = accuracy_auto.plan(model, cfg) if any(accuracy_checked(c) for c in configs) else None
    say = log if log is not None and len(configs) > 1 else (lambda s: None)
    t0 = time.perf_counter()
    ready, entries = _prepare_all(model, configs, batch, device, ref, tolerate=cfg.backend == AUTO,
                                  calibration_pool=acc.calibration_pool() if acc else None, say=say)
    say(f"timing {len(ready)} of {len(configs)} candidates in {cfg.rounds} alternating rounds "
        f"(~{cfg.min_duration_s * len(ready):.0f} s; {time.perf_counter() - t0:.0f} s elapsed)")
    with NoiseMeter() as noise:  # other processes' CPU use over the timed window: a noisy row says so
        times = measure_rounds([(lambda c=c: c.prep.run(c.inputs)) for c in ready], timer_for(device), cfg.timing(),
                               cfg.rounds)
    for c, t in zip(ready, times):
        c.entry.update(p50_ms=percentile(t, 50), iterations=len(t))
    baseline_times = times[0] if len(ready) > 1 and ready[0].prep.config == BASELINE else None
    if baseline_times is not None:
        for c, t in zip(ready, times):
            c.entry["speedup_vs_fp32_eager"] = percentile(baseline_times, 50) / percentile(t, 50)
    best = _pick(model, cfg, ready, times, acc, bs)
    chosen = ready[best]
    metrics = _chosen_metrics(chosen, times[best], baseline_times, bs, device)
    metrics["noise"] = noise.record(times[best], cfg.rounds if len(ready) > 1 else 3)
    if "accuracy" in chosen.entry:
        metrics["accuracy_check"] = chosen.entry["accuracy"]
    if acc is not None:
        metrics["accuracy_split"] = acc.holdout.record  # calibrated on one part, scored on the other
        metrics["accuracy_timed_out"] = list(acc.timed_out)
    if len(entries) + len(skipped) > 1:
        metrics["candidates"] = entries + [{"config": c.label, "skipped": "--skip"} for c in skipped]
    if cfg.profile:
        metrics["layer_profile"] = _layer_profile(chosen)
    if cfg.paired_peak and cfg.peak:
        metrics["paired_peak"] = paired_peak(chosen, bs, device, cfg)
    probe = get_peak(chosen.prep.config.dtype)
    if probe is not None:
        metrics["peak_tflops"] = probe["tflops"]
        metrics["peak_probe"] = probe
    if cfg.stages if cfg.stages is not None else model.spec.task in STAGE_TASKS:
        # the pick's end-to-end gain, decode to output, timed beside fp32 eager's
        base = ready[0].prep if chosen is not ready[0] and baseline_times is not None else None
        stages = time_stages(model, chosen.prep, stored_items(model, bs), device, cfg.timing(), cfg.seq_len,
                             baseline=base, rounds=cfg.rounds)
        if base is not None:
            metrics["fp32_eager_e2e_p50_ms"] = stages.pop("baseline_e2e_p50_ms")
            metrics["e2e_speedup_vs_fp32_eager"] = metrics["fp32_eager_e2e_p50_ms"] / stages["e2e_p50_ms"]
        metrics["stages"] = stages
    extra = {"backend_config": chosen.prep.config.as_dict(),
             **{k: v for k, v in chosen.entry.items() if k in SETUP_KEYS}}
    return metrics, extra, chosen.prep.config.label


def _pick(model: Any, cfg: BenchConfig, ready: list[_Candidate], times: list[list[float]],
          acc: accuracy_auto.AccuracyPlan | None = None, bs: int = 1) -> int:
    """The index of the configuration the row reports: the one asked for, or auto's fastest among those the
    accuracy budget allows (``accuracy_budget.check`` reads eval rows; with a plan, a candidate without them is
    scored here, ``accuracy_auto.check``; every bf16/fp16/int8 candidate's entry says why)."""
    rows = None
    allowed = []
    for i, c in enumerate(ready):
        if c.prep.config == BASELINE or not accuracy_checked(c.prep.config):
            allowed.append(i)
            continue
        if rows is None:
            rows = accuracy_budget.eval_rows()
        c.entry["accuracy"] = accuracy_budget.check(model.spec.name, model.spec.task, model.weights_id,
                                                    c.prep.config, cfg.accuracy_budget, rows)
        if acc is not None and cfg.backend == AUTO and c.entry["accuracy"]["status"].startswith("not checked"):
            c.entry["accuracy"] = accuracy_auto.check(acc, model, ready[0].prep, c.prep, bs)
        if c.entry["accuracy"]["eligible"]:
            allowed.append(i)
    if cfg.backend != AUTO:
        return len(ready) - 1
    return min(allowed or [0], key=lambda i: percentile(times[i], 50))


def one_line(e: BaseException) -> str:
    """``Type: first line of the message (at file:line of the innermost frame)``, at most ~400 characters."""
    msg = str(e).strip().splitlines()
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {(msg[0] if msg else '')[:300]}{where}"
