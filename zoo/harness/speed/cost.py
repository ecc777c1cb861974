"""Cost of a model and capacity of a device: FLOPs per item, parameters, the measured matmul peak, memory.

FLOPs = 2 x multiply-accumulates, counted by ``torch.utils.flop_counter.FlopCounterMode`` on one real
input (so detection and text models are counted at the size they actually run at).
The device peak is measured, not looked up: a large square matmul (and, on CPU, a 3x3 convolution; for int8
an integer GEMM) timed in every bench process, best of a few short rounds within 2 s per dtype. zoo's cache
keeps the best ever seen per machine (CPU model and ISA flags, or GPU), device, dtype and thread count (a probe
on a busy machine reads low and never lowers it); a row records both its own process's probe and the best-known
peak its "% of peak" uses. ``zoo bench --paired-peak`` also times the probes side by side with the chosen
configuration, in alternating rounds (``probe_calls``): the share of a peak measured in the same minutes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from ...io import atomic_write_text
from ...models.cost import flop_counter
from ...offline import zoo_cache_dir
from ...results import machine_info
from ..backends import DTYPES



def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rate_tflops(flops: float, ms: float) -> float:
    """TFLOP/s of ``flops`` done in ``ms`` milliseconds."""
    return flops / (ms / 1e3) / 1e12


def layer_shares(flops_per_item: int | None, items_per_call: float, profile: dict[str, Any] | None,
                 peak_tflops: float | None) -> dict[str, float]:
    """With a layer profile (``backends.openvino.layer_profile``): the share of peak of the summed layer time
    (``layers_share_of_peak``) and of the multiply-add layers' time alone (``mac_layers_share_of_peak``),
    beside which the whole call's share shows what the rest of the call costs."""
    out = {}
    for key in ("layers", "mac_layers"):
        ms = (profile or {}).get(f"{key}_ms")
        if ms and items_per_call and flops_per_item and peak_tflops:
            out[f"{key}_share_of_peak"] = rate_tflops(flops_per_item * items_per_call, ms) / peak_tflops
    return out


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs (2 x MACs) of one call ``fn(*args, **kwargs)``, counted as the registry's costs are
    (``zoo.models.cost.flop_counter``: torch's counter, plus attention's CPU kernel)."""
    with flop_counter() as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


# --- device peak ---------------------------------------------------------------------------------------

def _probe_key(device: str, dtype: str, threads: int) -> str:
    """The cache key of a peak: one CPU model name covers machines with different ISA (the same VM type has come
    with AVX2 only and with AVX-512 VNNI/bf16), so the CPU's key names its ISA flags too."""
    m = machine_info()
    if device.startswith("cuda"):
        dev = torch.cuda.get_device_name(0)
    else:
        dev = f"{m['cpu']}|{m['cores']}|t{threads}|{'+'.join(m.get('isa') or ['isa unknown'])}"
    return f"{device.split(':')[0]}|{dev}|{dtype}|torch{torch.__version__}"


def _probe_file() -> Path:
    return zoo_cache_dir() / "speed" / "peak_probe.json"


CONV_PROBE = (256, 64)  # channels, height = width of the CPU convolution probe (a ResNet-stage-sized layer)
PROBE_BUDGET_S = 2.0  # at most this many seconds of timed probe rounds per dtype and process
PEAK_DTYPES = (*DTYPES, "int8")  # dtypes with a probe: torch's floating dtypes, and int8 (integer GEMM)
_THIS_PROCESS: dict[str, dict[str, Any]] = {}  # probe key -> this process's probe (measured once per process)


def _sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def _one_call_s(probe: tuple, cuda: bool) -> float:
    """Seconds of one warm call (the better of two: the first call at a new size pays one-time set-up)."""
    fn, args, kw, _ = probe
    best = float("inf")
    for _ in range(2):
        _sync(cuda)
        t0 = time.perf_counter()
        fn(*args, **kw)
        _sync(cuda)
        best = min(best, time.perf_counter() - t0)
    return best


def _fit_size(factory, n: int, budget_s: float, repeats: int, cuda: bool, fixed: bool) -> tuple[tuple, int, float]:
    """The largest probe scale (1/4, 1/2, 1 of the full size) whose calls fit ``budget_s`` over ``repeats``
    rounds, judged from one call at the scale below (FLOPs grow 8x per doubling); returns (probe, divisor,
    seconds of one call). A slow kernel (bf16 matmul without native support runs at a few GFLOP/s) is probed
    smaller rather than overrunning the budget. ``fixed``: the full size only."""
    div = 1 if fixed else 4
    probe = factory(n, div)
    one = _one_call_s(probe, cuda)
    while div > 1 and one * 8 * (repeats + 1) <= budget_s:
        div //= 2
        probe = factory(n, div)
        one = _one_call_s(probe, cuda)
    return probe, div, one


def _best_rounds(factory, n: int, repeats: int, inner: int, budget_s: float, cuda: bool,
                 fixed: bool = False) -> dict[str, Any]:
    """Best TFLOP/s over up to ``repeats`` rounds (>= 1) of up to ``inner`` calls, within about ``budget_s``."""
    t_start = time.perf_counter()
    probe, div, one = _fit_size(factory, n, budget_s, repeats, cuda, fixed)
    fn, args, kw, flops = probe
    budget_s = max(0.0, budget_s - (time.perf_counter() - t_start))  # the sizing calls count against the budget
    inner = max(1, min(inner, int(budget_s / max(one, 1e-9) / max(repeats, 1))))
    best, rounds, spent = one, 0, 0.0
    while rounds < repeats and (rounds == 0 or spent < budget_s):
        _sync(cuda)
        t0 = time.perf_counter()
        for _ in range(inner):
            fn(*args, **kw)
        _sync(cuda)
        dt = time.perf_counter() - t0
        spent += dt
        rounds += 1
        best = min(best, dt / inner)
    return {"tflops": flops / best / 1e12, "rounds": rounds, "inner": inner, "scale": f"1/{div}" if div > 1 else "1"}


def _float_probes(dev: torch.device, dtype: str) -> dict[str, Any]:
    """name -> factory(n, div) -> (fn, args, kwargs, FLOPs per call) of the floating-point probes: ``mm`` of
    (n / div) x (n / div) matrices; on CPU ``conv3x3`` over a (64 / div) x (64 / div) map (CONV_PROBE)."""
    tdt = DTYPES[dtype]

    def mm(n: int, div: int) -> tuple:
        n = max(1, n // div)
        a = torch.randn(n, n, device=dev).to(tdt)
        b = torch.randn(n, n, device=dev).to(tdt)
        return torch.mm, (a, b), {}, 2 * n**3

    def conv(n: int, div: int) -> tuple:
        c, hw = CONV_PROBE[0], max(4, CONV_PROBE[1] // div)
        x = torch.randn(1, c, hw, hw).to(tdt).contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3).to(tdt).contiguous(memory_format=torch.channels_last)
        return F.conv2d, (x, w), {"padding": 1}, 2 * c * c * 9 * hw * hw

    return {"mm": mm} if dev.type == "cuda" else {"mm": mm, "conv3x3": conv}


def _int8_probes(dev: torch.device) -> dict[str, Any]:
    """name -> factory(n) of the int8 GEMMs the int8 backends run: 2 n^3 integer ops per n x n by n x n product.

    CPU: a quantized ``nn.Linear`` (torch.ao, the x86 engine: fbgemm / oneDNN VNNI, what the dynamic int8
    backend's Linear layers call) and, when onnxruntime is installed, ONNX ``MatMulInteger`` (uint8 x int8 ->
    int32, MLAS; the kernel family of ONNX Runtime's INT8 backends). CUDA: ``torch._int_mm`` (cuBLASLt int8).
    The fastest is the peak, as for the floating-point probes. (``torch._int_mm`` on CPU is a reference
    loop, 40x below the others here, so it is not a probe there.)"""
    def operands(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        return (torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=g),
                torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=g))

    def int_mm(n: int, div: int) -> tuple:
        a, b = operands(max(16, n // div))
        return torch._int_mm, (a.to(dev), b.to(dev)), {}, 2 * a.shape[0] ** 3

    def qlinear(n: int, div: int) -> tuple:
        import torch.ao.nn.quantized as nnq  # deferred: only the int8 probe needs the quantized modules

        n = max(1, n // div)
        a, b = operands(n)
        torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
        with warnings.catch_warnings():  # torch deprecates quantized tensors; they are what the int8 backend runs
            warnings.simplefilter("ignore", UserWarning)
            lin = nnq.Linear(n, n)
            lin.set_weight_bias(torch.quantize_per_tensor(b.float(), 0.05, 0, torch.qint8), None)
            xq = torch.quantize_per_tensor(a.float().abs(), 0.05, 0, torch.quint8)
        return lin, (xq,), {}, 2 * n**3

    def ort(n: int, div: int) -> tuple:
        n = max(1, n // div)
        return _ort_matmul_integer(n, operands(n)[1]), (), {}, 2 * n**3

    if dev.type == "cuda":
        return {"int_mm": int_mm}
    return {"qlinear": qlinear, **({"ort_matmulinteger": ort} if _has_onnxruntime() else {})}


def _has_onnxruntime() -> bool:
    try:  # deferred: optional, heavy
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _ort_matmul_integer(n: int, weight: torch.Tensor):
    """A callable running one ONNX MatMulInteger (n x n uint8 by a constant n x n int8) in ONNX Runtime."""
    import numpy as np  # deferred: optional, heavy (the int8 probe only)
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "int8_probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])],
        [numpy_helper.from_array(weight.numpy(), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).integers(0, 255, (n, n), dtype=np.uint8)
    return lambda: sess.run(None, {"a": x})


def measure_matmul_peak(device: str, dtype: str, n: int | None = None, repeats: int = 5,
                        budget_s: float = PROBE_BUDGET_S) -> dict[str, Any]:
    """The device's measured peak TFLOP/s (TOP/s for int8) in ``dtype``: the best of up to ``repeats`` short
    timed rounds of each probe, all probes together within about ``budget_s`` seconds.

    Floating point: an n x n by n x n ``torch.mm`` (2 n^3 FLOPs; cuBLAS on CUDA, the CPU's BLAS on CPU) and,
    on CPU only, a 3x3 convolution, 256 -> 256 channels over 64 x 64, channels_last (oneDNN; 2 x MACs FLOPs).
    On CPU the two libraries differ by up to 2.5x depending on the processor (MKL's fp32 ``mm`` takes a
    slow path on AMD CPUs, where oneDNN's convolutions reach the FMA units' limit), and a model's own
    convolutions must never beat "the peak", so the faster probe is the peak. int8: ``_int8_probes``.
    A probe too slow for the budget at full size runs at 1/2 or 1/4 of it (``scales``; not when ``n`` is
    given: then exactly that size). The record names every probe's TFLOP/s, the one chosen, and the rounds
    and scale each ran.
    """
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    fixed = n is not None
    probes, n = _probes(dev, dtype, n)
    inner = 20 if cuda else 5
    runs = {}
    with torch.inference_mode():
        for name, factory in probes.items():
            runs[name] = _best_rounds(factory, n, repeats, inner, budget_s / len(probes), cuda, fixed)
    tflops = {k: r["tflops"] for k, r in runs.items()}
    path = max(tflops, key=tflops.get)
    return {"tflops": tflops[path], "path": path, "paths": tflops, "n": n, "dtype": dtype, "repeats": repeats,
            "rounds": {k: r["rounds"] for k, r in runs.items()}, "scales": {k: r["scale"] for k, r in runs.items()},
            "inner": inner, "budget_s": budget_s, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _probes(dev: torch.device, dtype: str, n: int | None) -> tuple[dict[str, Any], int]:
    """(name -> factory(n, div) of ``dtype``'s peak probes on ``dev``, the full size n: as given, else 8192 on
    CUDA and 1024 on CPU)."""
    if dtype not in PEAK_DTYPES:
        raise ValueError(f"no peak probe for dtype {dtype!r} (one of {', '.join(PEAK_DTYPES)})")
    factories = _int8_probes(dev) if dtype == "int8" else _float_probes(dev, dtype)
    return factories, n or (8192 if dev.type == "cuda" else 1024)


def probe_calls(device: str, dtype: str, n: int | None = None) -> dict[str, tuple[Any, int]]:
    """name -> (a no-argument call, FLOPs per call) for each of ``dtype``'s peak probes at full size (n x n, the
    CPU convolution at CONV_PROBE): what ``measure_matmul_peak`` times, to be timed beside a model."""
    factories, n = _probes(torch.device(device), dtype, n)
    calls = {}
    for name, factory in factories.items():
        fn, args, kw, flops = factory(n, 1)
        calls[name] = ((lambda fn=fn, args=args, kw=kw: fn(*args, **kw)), flops)
    return calls


INT8_BACKENDS = ("int8",)  # backends whose GEMMs run in int8 whatever BackendConfig.dtype says (dynamic int8)


def peak_dtype(backend_config: dict[str, Any]) -> str:
    """The dtype whose peak bounds a configuration: "int8" for int8 configurations (dtype "int8", or a
    backend that quantizes to int8 whatever its dtype), else its dtype (fp32 when unknown)."""
    dtype = str(backend_config.get("dtype") or "fp32")
    backend = str(backend_config.get("backend") or "")
    if dtype == "int8" or backend in INT8_BACKENDS or "int8" in backend.split("_"):
        return "int8"
    return dtype


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def remember_peak(key: str, probe: dict[str, Any], replace_best: bool = False) -> dict[str, Any]:
    """Merge ``probe`` into the cache: it keeps, per key, the highest probe ever seen (a probe measured on a
    busy machine reads low and never lowers it); ``replace_best`` makes ``probe`` the best (--refresh-peak).
    Returns the best-known probe. The file is rewritten atomically under a lock (zoo.io)."""
    path = _probe_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = _read_cache(path)
        old = cache.get(key)
        if replace_best or not isinstance(old, dict) or not old.get("tflops", 0) >= probe["tflops"]:
            cache[key] = {k: v for k, v in probe.items() if k not in ("key", "cached", "this_process")}
            atomic_write_text(path, json.dumps(cache, indent=1, sort_keys=True))
        return cache[key]


def device_peak(device: str, dtype: str, threads: int | None = None, refresh: bool = False) -> dict[str, Any]:
    """The device's peak for this machine/device/dtype/threads: measured in this process (once per process;
    again with ``refresh``), merged into the cache, which keeps the best ever seen.

    Returns the best-known probe (``tflops``: what "% of peak" divides by) with ``this_process``: this
    process's own probe, ``cached``: whether this process had measured it before, and ``key``.
    ``refresh``: measure again and make this measurement the best-known one (forgets older, higher probes).
    """
    threads = threads or torch.get_num_threads()
    key = _probe_key(device, dtype, threads)
    cached = key in _THIS_PROCESS and not refresh
    if not cached:
        _THIS_PROCESS[key] = measure_matmul_peak(device, dtype)
    mine = _THIS_PROCESS[key]
    best = remember_peak(key, mine, replace_best=refresh)
    return {**best, "key": key, "cached": cached,
            "this_process": {k: mine[k] for k in ("tflops", "path", "paths", "rounds", "time") if k in mine}}


def probe_id(probe: dict[str, Any]) -> str:
    return hashlib.sha256(probe["key"].encode()).hexdigest()[:8]


# --- memory --------------------------------------------------------------------------------------------

def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """Peak resident set size of this process since it started, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryMeter:
    """Peak memory over a region: CUDA max allocated (device) or process RSS peak and delta (host)."""

    def __init__(self, device: str):
        self.cuda = str(device).startswith("cuda")

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated() / 2**20
        else:
            self.start = rss_mib()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.peak = max(peak_rss_mib(), rss_mib())
        return False

    def as_metrics(self) -> dict[str, float]:
        if self.cuda:
            return {"peak_mem_mib": self.peak, "mem_kind": "cuda_max_allocated", "mem_before_mib": self.start}
        return {"peak_mem_mib": self.peak, "mem_kind": "process_peak_rss", "mem_before_mib": self.start,
                "rss_delta_mib": max(0.0, self.peak - self.start)}
