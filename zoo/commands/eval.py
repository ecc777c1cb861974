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

from ..console import say, say_written
from ..errors import UserError
# the eval package's runner (torch) loads on first use of eval_harness.evaluate, after the arguments are checked
from ..harness import eval as eval_harness
from ..harness.backends.catalog import check_installed
from ..harness.eval.config import add_arguments, config_from_args
from ..harness.shards import SHARD_HELP, parse_shard, take_shard
from ..registry import get_spec, list_models
from ..results import raw_path
from ..weights import ALLOW_UNPINNED_ENV
from ._model_options import add_source_options, apply_source_options


def register(sub) -> None:
    p = sub.add_parser("eval", help="measure a model's accuracy (top-1/top-5, COCO mAP, text metrics)")
    p.add_argument("names", nargs="+", metavar="NAME", help="registered model name (zoo list); several names or "
                                                              "wildcards evaluate each in turn on the same data")
    add_arguments(p)
    p.add_argument("--task", help="deprecated: the same as --data")
    p.add_argument("--shard", metavar="i/N", help=SHARD_HELP.replace("setting", "model"))
    p.add_argument("--predictions", metavar="OUT.jsonl", help="write one JSON line per item (must not exist)")
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


def evaluate(name: str, **kwargs):
    """``zoo.evaluate`` (the harness loads here, on the first call)."""
    return eval_harness.evaluate(name, **kwargs)


def is_main_process() -> bool:
    """Rank 0 under torchrun (RANK unset: a single process), read as zoo.harness.distributed.from_env does."""
    return int(os.environ.get("RANK", "0")) == 0


def run(args) -> int:
    apply_source_options(args)
    if args.allow_unpinned:  # the environment, so torchrun's other ranks and subprocesses opt in too
        os.environ[ALLOW_UNPINNED_ENV] = "1"

    def log(*parts, **_):  # prose, wrapped on a terminal: stderr with --json (stdout keeps the JSON), else stdout
        say(" ".join(str(p) for p in parts), sys.stderr if args.json else sys.stdout)

    # names first: the registry answers without torch, so a mistyped model is refused at once
    names = take_shard(list(dict.fromkeys(n for pattern in args.names for n in _expand(pattern))),
                       parse_shard(args.shard))
    config = config_from_args(args, data_argument(args))
    if config.backend:
        check_installed(config.backend)  # a missing optional package, before torch loads
    if len(names) > 1 and args.predictions:
        raise UserError("--predictions writes one model's predictions: give one NAME")
    for name in names:
        row = evaluate(name, config=config, predictions=args.predictions, write=not args.no_write, log=log,
                       progress=False if getattr(args, "quiet", False) else None, verbose=True)
        if not is_main_process():  # under torchrun every rank returns the row; rank 0 speaks
            continue
        if args.json:
            print(json.dumps(row, sort_keys=True, default=str))
        if not args.no_write:
            say_written(raw_path("eval"))
    if not names:
        print(f"zoo eval: shard {args.shard} has no model of this sweep", file=sys.stderr)
    return 0


def _expand(pattern: str) -> list[str]:
    """A name as given (unknown: the registry's one-line error), or the registered names a wildcard matches."""
    if not any(c in pattern for c in "*?["):
        get_spec(pattern)
        return [pattern]
    found = list_models(pattern)
    if not found:
        raise UserError(f"no registered model matches {pattern!r} (zoo list shows all)")
    return found
