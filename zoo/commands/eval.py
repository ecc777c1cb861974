"""zoo eval NAME [--data X] [--checkpoint FILE|FOLDER | --pretrained | --random-init] [--predictions OUT.jsonl]
[--limit N] [--device DEV] [--batch-size B] [--workers W] [--backend B [--dtype D]] [--quiet] [--json]

Accuracy of a registered model on a data set, the same way for every task: top-1/top-5 (image
classification), COCO mAP (detection), accuracy/F1 (sst2), BLEU/chrF (multi30k), EM/F1 (squad), accuracy
(digits). ``--data`` is what the model's task reads (an image folder, a COCO json or YOLO folder, a bundled
text set sst2|multi30k|squad, a file in its format or a Hugging Face set ``hf:glue/sst2``, digits or a CSV).
Appends one row to results/raw/eval.jsonl. Under ``torchrun --nproc_per_node N -m zoo eval ...`` the data is
sharded. A model with no trained weights here is refused unless ``--random-init`` says to score random weights.
``--backend B [--dtype D]`` runs the forward through a speed backend (e.g. ``--backend openvino --dtype int8``):
the row names the configuration, and ``zoo bench --backend auto`` reads it for its accuracy budget.
"""

from __future__ import annotations

import json
import os
import sys

from ..errors import UserError
from ..harness import distributed
from ..harness.backends import backend_dtypes, list_backends
from ..harness.evaluate import evaluate
from ..weights import ALLOW_UNPINNED_ENV
from ._model_options import add_source_options, apply_source_options


def register(sub) -> None:
    p = sub.add_parser("eval", help="measure a model's accuracy (top-1/top-5, COCO mAP, text metrics)")
    p.add_argument("name", help="registered model name (zoo list)")
    p.add_argument("--data", help="image folder, COCO json / YOLO folder, sst2 | multi30k | squad, a file in that "
                                  "format or an HF set (hf:glue/sst2, hf:bentrevett/multi30k, hf:rajpurkar/squad, "
                                  "hf:ID[:CONFIG]), digits or a CSV (text and tabular models: default their "
                                  "bundled set)")
    p.add_argument("--task", help="deprecated: the same as --data")
    p.add_argument("--split", help="split of a bundled or HF data set (default: test; HF sets whose test split "
                                   "has no labels: validation)")
    p.add_argument("--checkpoint", help="a state-dict file (safetensors or torch) or a checkpoint folder "
                                        "(`zoo train` output), instead of the default weights")
    p.add_argument("--labels", help="label file for --data (labels.tsv or '<file> <index>' list) if not inside it; "
                                    "also maps a data set's classes to the model's (class_index in the model's "
                                    "classes)")
    p.add_argument("--predictions", metavar="OUT.jsonl", help="write one JSON line per item (must not exist)")
    p.add_argument("--limit", type=int, help="evaluate only the first N items (data order)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("--batch-size", type=int, help="default: the task's (32 classification, 8 detection, 64 text)")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (images: cores - 1, at most 8; else 0)")
    p.add_argument("--decode", choices=("pil", "gpu"), default="pil",
                   help="gpu: decode JPEGs on CUDA with nvjpeg (tensor resize; falls back to pil without CUDA)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", action="store_true", default=None,
                   help="load the spec's pretrained weights (default when they are a whole trained model)")
    w.add_argument("--random-init", action="store_true",
                   help="score random weights on purpose (default: refused when no trained weights are here)")
    p.add_argument("--backend", metavar="NAME", help="run the forward through this speed backend (one of: "
                   f"{', '.join(list_backends())}; default plain fp32 eager): what bf16 or int8 does to accuracy")
    p.add_argument("--dtype", metavar="DTYPE", help=f"with --backend: one of {', '.join(backend_dtypes())} "
                                                    "(default fp32; int8 quantizes, calibrated on task data)")
    p.add_argument("--precision", choices=("cast", "autocast"),
                   help="with --backend eager/compile and bf16/fp16: cast the weights or autocast (default as zoo bench)")
    p.add_argument("--no-write", action="store_true", help="do not append the row to results/raw/eval.jsonl")
    p.add_argument("--json", action="store_true", help="print the row as JSON on stdout (messages go to stderr)")
    p.add_argument("--allow-unpinned", action="store_true",
                   help="load a weight file zoo has no sha256 to check (refused otherwise); the row records "
                        "weights 'unpinned:<sha256>'")
    add_source_options(p)
    p.set_defaults(func=run)


def data_argument(args) -> str | None:
    """--data, or the deprecated --task (a warning on stderr) mapped to it."""
    if args.task is None:
        return args.data
    if args.data is not None and args.data != args.task:
        raise UserError(f"--task is a deprecated alias of --data; give one of them, not --data {args.data} "
                        f"--task {args.task}")
    print(f"zoo: warning: --task is deprecated; use --data {args.task}", file=sys.stderr)
    return args.task


def run(args) -> int:
    apply_source_options(args)
    if args.allow_unpinned:  # the environment, so torchrun's other ranks and subprocesses opt in too
        os.environ[ALLOW_UNPINNED_ENV] = "1"
    log = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else None
    row = evaluate(
        args.name, data_argument(args), checkpoint=args.checkpoint, split=args.split, limit=args.limit,
        device=args.device, batch_size=args.batch_size, workers=args.workers, predictions=args.predictions,
        write=not args.no_write, labels=args.labels, decode=args.decode, log=log,
        pretrained=False if args.random_init else (True if args.pretrained else None),
        progress=False if getattr(args, "quiet", False) else None,
        backend=args.backend, dtype=args.dtype, precision=args.precision,
    )
    if args.json and distributed.from_env().is_main:  # under torchrun every rank returns the row
        print(json.dumps(row, sort_keys=True, default=str))
    return 0
