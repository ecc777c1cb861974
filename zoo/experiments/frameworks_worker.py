"""One Keras backend's process for the frameworks comparison (started by ``zoo.experiments.frameworks``).

    KERAS_BACKEND=jax python -m zoo.experiments.frameworks_worker --dir TMP --arch resnet50 --threads 2

Reads TMP/weights.npz (the PyTorch state dict by name) and TMP/x.npy (the preprocessed images, NHWC), maps
the weights through the checked key map, builds its frameworks (backend "tensorflow": TensorFlow eager,
TensorFlow XLA and Keras 3 on TF; "jax" / "torch": Keras 3 on that backend), writes TMP/<framework>.npy
(logits for every image, batches of 32) and answers on stdout, one JSON line per request read on stdin:
``{"cmd": "time", "framework": F, "batch": B, "iters": N}`` -> ``{"ms": [...]}``; ``{"cmd": "quit"}``.
Library output goes to stderr (fd 1 is pointed at it), so stdout carries the protocol only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from .frameworks_nets import ARCHS, map_state_dict, key_map
from .frameworks_tf import build_keras, build_tf, load_keras

LOGIT_BATCH = 32
BACKEND_DISTS = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
DISTS = {"tensorflow": ("tensorflow-cpu", "tensorflow")}  # a library -> the distributions that provide it


def _version(lib: str) -> str:
    for dist in DISTS.get(lib, (lib,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "?"


def set_threads(backend: str, threads: int) -> None:
    """The same intra-op thread count in every framework; the process is also pinned to ``threads`` CPUs
    (JAX/XLA:CPU has no intra-op knob), when the machine has more."""
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    if backend == "tensorflow":
        import tensorflow as tf  # deferred: heavy

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    elif backend == "torch":
        import torch  # deferred: heavy

        torch.set_num_threads(threads)


def build(backend: str, arch: str, mapped: dict) -> dict[str, tuple]:
    """{framework: (callable on an NHWC batch -> numpy logits, input converter, note, libraries)}."""
    import keras  # deferred: heavy; KERAS_BACKEND is set by the parent

    model = build_keras(ARCHS[arch], name=arch)
    load_keras(model, mapped)
    libs = {"keras": _version("keras"), **{d: _version(d) for d in BACKEND_DISTS[backend]}}
    model.make_predict_function()
    note = (f"Keras 3 functional model, model.predict_on_batch (Keras' inference path on {backend}; "
            f"jit_compile={model.jit_compile})")
    out = {f"keras-{backend}": (lambda x: np.asarray(model.predict_on_batch(x)), lambda x: x, note, libs)}
    if backend == "tensorflow":
        import tensorflow as tf  # deferred: heavy

        net = build_tf(ARCHS[arch], mapped)
        xla = tf.function(net.__call__, jit_compile=True)
        tf_libs = {"tensorflow": _version("tensorflow")}
        out["tensorflow-eager"] = (lambda x: net(x).numpy(), tf.constant,
                                   "tf.Module + tf.nn ops (no Keras layers), called eagerly", tf_libs)
        out["tensorflow-xla"] = (lambda x: xla(x).numpy(), tf.constant,
                                 "the same tf.Module, tf.function(jit_compile=True): XLA-compiled", tf_libs)
        out = {k: out[k] for k in ("tensorflow-eager", "tensorflow-xla", f"keras-{backend}")}
    assert keras.backend.backend() == backend, keras.backend.backend()
    return out


def time_calls(fn, x, iters: int) -> list[float]:
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn(x)
        ms.append(1e3 * (time.perf_counter() - t0))
    return ms


def serve(frameworks: dict, x: np.ndarray, out, inp) -> None:
    inputs: dict[tuple, object] = {}
    for line in inp:
        req = json.loads(line)
        if req["cmd"] == "quit":
            return
        fn, conv, _, _ = frameworks[req["framework"]]
        key = (req["framework"], req["batch"])
        if key not in inputs:
            inputs[key] = conv(np.ascontiguousarray(x[np.arange(req["batch"]) % len(x)]))
        out.write(json.dumps({"ms": time_calls(fn, inputs[key], req["iters"])}) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.experiments.frameworks_worker")
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--arch", required=True, choices=sorted(ARCHS))
    p.add_argument("--threads", type=int, required=True)
    a = p.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a library prints goes to stderr; `out` is the protocol channel
    sys.stdout = sys.stderr
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        set_threads(backend, a.threads)
        with np.load(a.dir / "weights.npz") as z:
            sd = {k: z[k] for k in z.files}
        mapped = map_state_dict(sd, key_map(ARCHS[a.arch]))
        frameworks = build(backend, a.arch, mapped)
        x = np.load(a.dir / "x.npy")
        for name, (fn, conv, _, _) in frameworks.items():
            logits = [fn(conv(x[i:i + LOGIT_BATCH])) for i in range(0, len(x), LOGIT_BATCH)]
            np.save(a.dir / f"{name}.npy", np.concatenate(logits).astype(np.float32))
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line, which raises it as a UserError
        out.write(json.dumps({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}) + "\n")
        out.flush()
        return 1
    info = [{"framework": k, "note": v[2], "libraries": v[3]} for k, v in frameworks.items()]
    out.write(json.dumps({"frameworks": info}) + "\n")
    out.flush()
    serve(frameworks, x, out, sys.stdin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
