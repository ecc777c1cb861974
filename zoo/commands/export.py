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

import json
import shlex

from ..harness.export import AUTO, CARD_JSON, EXPORT_BACKENDS, export_model


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


def reproduce_command(args) -> str:
    """The ``zoo export`` line that makes this folder again (every setting that changes it; not --force)."""
    parts = ["zoo", "export", args.name, "--out", str(args.out), "--backend", args.backend]
    for flag, value in (("--dtype", args.dtype), ("--checkpoint", args.checkpoint), ("--data", args.data),
                        ("--accuracy-budget", args.accuracy_budget)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts + (["--random-init"] if args.random_init else []))


def run(args) -> int:
    out = export_model(args.name, args.out, backend=args.backend, dtype=args.dtype,
                       weights=args.checkpoint or "auto", random_init=args.random_init,
                       accuracy_budget=args.accuracy_budget, data=args.data, force=args.force,
                       time_limit_s=args.time_limit, command=reproduce_command(args))
    card = json.loads((out / CARD_JSON).read_text())
    art, acc = card["artifact"], card["accuracy"]
    print(f"{args.name}: {art['runtime']} {art['dtype']} export in {out} (MODEL_CARD.md; zoo predict {out} INPUT...)")
    if acc.get("status") == "measured":
        key = acc["metric"]
        print(f"  {key} {acc['export'][key]:.2f} vs fp32 PyTorch {acc['fp32_eager'][key]:.2f} on {acc['data']['n_scored']} "
              f"{acc['data']['data']} items not used for calibration ({acc['loss_points']:+.2f} points lost, budget "
              f"{acc['budget_points']:g}{'' if acc['within_budget'] else ': OVER BUDGET'})")
    else:
        print(f"  accuracy not measured: {acc.get('why')}")
    return 0
