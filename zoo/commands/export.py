"""zoo export NAME --out DIR [--backend auto|openvino|onnxruntime] [--dtype fp32|int8|bf16] [--checkpoint PATH]
[--accuracy-budget POINTS] [--data PATH] [--force]

Writes a folder to ship: the artifact (OpenVINO IR or ONNX), ``zoo_export.json`` (exact preprocessing and
postprocessing), ``labels.json`` and the model card (``model_card.json`` + ``MODEL_CARD.md``: weights sha256,
accuracy and its loss against fp32 PyTorch on named local data, calibration items kept apart, p50/p99 latency
and items/s here, machine, library versions, the command that reproduces it). ``--backend auto`` tries INT8
first and keeps it only within the accuracy budget, else fp32. ``zoo predict DIR INPUT...`` and
``zoo.load(DIR)`` run it with its runtime alone (no torch). Written to a temporary folder, then renamed.
"""

from __future__ import annotations

import shlex
import sys

from ..harness.export import AUTO, EXPORT_BACKENDS, export_model
from ..prediction.runtime import ExportedModel


def register(sub) -> None:
    p = sub.add_parser("export", help="write a folder to ship: OpenVINO/ONNX artifact, labels, model card")
    p.add_argument("name", help="registered model name (zoo list)")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write (must not exist unless --force)")
    p.add_argument("--backend", default=AUTO, help=f"{AUTO} or one of {', '.join(EXPORT_BACKENDS)}")
    p.add_argument("--dtype", help="fp32, int8 (calibrated on local task data) or bf16 (OpenVINO precision hint)")
    p.add_argument("--checkpoint", help="a state-dict file or `zoo train` folder instead of the pretrained weights")
    p.add_argument("--random-init", action="store_true", help="export random weights on purpose (no accuracy)")
    p.add_argument("--accuracy-budget", type=float, metavar="POINTS",
                   help="points of top-1 / mAP an INT8 export may lose against fp32 (default 1)")
    p.add_argument("--data", help="labelled data to calibrate and score on (default: the task's local data)")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds each candidate's accuracy check may take")
    p.add_argument("--force", action="store_true", help="replace an existing export folder")
    p.set_defaults(func=run)


def run(args) -> int:
    out = export_model(args.name, args.out, backend=args.backend, dtype=args.dtype,
                       weights=args.checkpoint or "auto", random_init=args.random_init,
                       accuracy_budget=args.accuracy_budget, data=args.data, force=args.force,
                       time_limit_s=args.time_limit, command="zoo " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["export"] else None)
    cfg = ExportedModel(out).config
    print(f"{args.name}: {cfg['artifact']['runtime']} {cfg['artifact']['dtype']} export in {out} "
          f"(MODEL_CARD.md; zoo predict {out} INPUT...)")
    return 0
