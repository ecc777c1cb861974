"""zoo train NAME --task TASK [--epochs N] [--batch-size B] [--lr LR] [--max-minutes M] [--out DIR] [--resume] ...

Trains a text model on a bundled data set (sst2, multi30k, squad) with a progress bar (loss, items/s), writes
a checkpoint folder (safetensors weights + tokenizer + zoo_config.json; default $ZOO_CACHE/checkpoints/NAME-TASK,
where `zoo eval NAME` finds it) and appends a "train" row to results/raw/train.jsonl.
Under ``torchrun --nproc_per_node N -m zoo train ...`` the global batch is split over the processes.
The training flags are the fields of zoo.harness.train.TrainConfig (generated from it); unset ones take the
text defaults of zoo.harness.train.text.text_config (see that module for what each setting means).
"""

from __future__ import annotations

import json

from ..errors import UserError
from ..harness.train.config import TrainConfig, cli_fields, cli_flag
from ..harness.train.text import defaults_help, text_config, train_text
from ..models.text import TASK_OF
from ..registry import get_spec


def register(sub) -> None:
    p = sub.add_parser("train", help="train a text model on sst2 / multi30k / squad; writes a checkpoint and a row",
                       description=defaults_help())
    p.add_argument("name", help="registered model name (zoo list --task text-classification, ...)")
    p.add_argument("--task", help="sst2, multi30k or squad (default: the model's task)")
    for f in cli_fields():  # unset: the text default for the task (text_config)
        p.add_argument(cli_flag(f.name), *f.metadata["aliases"], dest=f.name, type=f.metadata["type"],
                       help=f.metadata["help"])
    p.add_argument("--pretrained", action="store_true", help="start from the model's pretrained weights (minilm_*)")
    p.add_argument("--limit", type=int, help="train on the first N examples only")
    p.add_argument("--val-limit", type=int, help="validate on the first N examples only")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state/last.safetensors if present")
    p.add_argument("--out", help="checkpoint folder (default: $ZOO_CACHE/checkpoints/NAME-TASK)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. --set attention=bahdanau --set hidden_size=256 (JSON values)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--no-write", action="store_true", help="do not append the train row")
    p.set_defaults(func=run)


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for s in pairs:
        if "=" not in s:
            raise UserError(f"--set takes KEY=VALUE, got {s!r}")
        k, v = s.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def config_from_args(args, task: str) -> TrainConfig:
    """The run's TrainConfig: the text defaults for ``task`` with the flags given (bad values: one-line error)."""
    given = {f.name: getattr(args, f.name) for f in cli_fields() if getattr(args, f.name) is not None}
    return text_config(task, args.pretrained, **given)


def run(args) -> int:
    spec = get_spec(args.name)
    if spec.builder is None or spec.extra.get("arch") is None:
        raise UserError(f"zoo train handles the text models; {args.name} is a {spec.task} model")
    for flag in ("limit", "val_limit", "threads"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {v}")
    task = args.task or TASK_OF[spec.task]
    config = config_from_args(args, task)
    r = train_text(args.name, task, config, out=args.out, pretrained=args.pretrained, limit=args.limit,
                   val_limit=args.val_limit, resume=args.resume, write=not args.no_write,
                   overrides=_overrides(args.set), threads=args.threads)
    if "checkpoint_sha256" in r:
        best = f", best validation {r['best']:.2f} (epoch {r['best_epoch']})" if r.get("best") is not None else ""
        print(f"{args.name} on {task}: {r['step']} steps in {r['train_time_s']:.0f} s{best}")
        print(f"checkpoint: {r['checkpoint']} (sha256 {r['checkpoint_sha256'][:12]}…)")
    return 0
