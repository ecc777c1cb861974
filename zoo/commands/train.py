"""zoo train NAME --task TASK [--epochs N] [--batch-size B] [--lr LR] [--max-minutes M] [--out DIR] [--resume] ...

Trains a text model on a bundled data set (sst2, multi30k, squad) with a progress bar (loss, items/s), writes
a checkpoint folder (safetensors weights + tokenizer + zoo_config.json; default $ZOO_CACHE/checkpoints/NAME-TASK,
where `zoo eval NAME --task TASK` finds it) and appends a "train" row to results/raw/nlp.jsonl.
Under ``torchrun --nproc_per_node N -m zoo train ...`` the global batch is split over the processes.
The loop is zoo.harness.train.train (see zoo/nlp/train.py for what each setting means).
"""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("train", help="train a text model on sst2 / multi30k / squad; writes a checkpoint and a row")
    p.add_argument("name", help="registered model name (zoo list --task text-classification, ...)")
    p.add_argument("--task", help="sst2, multi30k or squad (default: the model's task)")
    p.add_argument("--epochs", type=int, help="default per task: sst2 8, multi30k 10, squad 3")
    p.add_argument("--batch-size", type=int, help="global batch size (default per task: 32 / 64 / 16)")
    p.add_argument("--lr", type=float, help="peak learning rate (AdamW; default per task, 5e-5 for --pretrained)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.05, help="warm-up fraction of the steps (default 0.05)")
    p.add_argument("--schedule", choices=("linear", "constant"), default="linear")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrained", action="store_true", help="start from the model's pretrained weights (minilm_*)")
    p.add_argument("--patience", type=int,
                   help="early stopping: stop after N epochs in a row without a better validation score")
    p.add_argument("--max-minutes", type=float,
                   help="stop after this much training time (validation not counted); the partial epoch is validated")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--limit", type=int, help="train on the first N examples only")
    p.add_argument("--val-limit", type=int, help="validate on the first N examples only")
    p.add_argument("--save-every", type=int, default=200, help="write the resumable training state every N steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state/last.safetensors if present")
    p.add_argument("--out", help="checkpoint folder (default: $ZOO_CACHE/checkpoints/NAME-TASK)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model override, e.g. --set attention=bahdanau --set hidden_size=256 (JSON values)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu; torchrun: cuda:LOCAL_RANK per process)")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: forward and loss under CPU bf16 autocast (fp32 weights and optimizer); default fp32")
    p.add_argument("--no-write", action="store_true", help="do not append the train row")
    p.set_defaults(func=run)


def _overrides(pairs: list[str]) -> dict:
    from ..errors import UserError

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


def run(args) -> int:
    from ..errors import UserError
    from ..nlp.train import train_text
    from ..registry import UnknownModelError, get_spec

    try:
        spec = get_spec(args.name)
    except UnknownModelError as e:
        raise UserError(str(e)) from None
    if spec.builder is None or spec.extra.get("arch") is None:
        raise UserError(f"zoo train handles the text models; {args.name} is a {spec.task} model")
    for flag in ("epochs", "batch_size", "max_steps", "limit"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {v}")
    from ..models.text import TASK_OF

    task = args.task or TASK_OF[spec.task]
    r = train_text(
        args.name, task, out=args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule, clip=args.clip, seed=args.seed,
        pretrained=args.pretrained, patience=args.patience, max_minutes=args.max_minutes, max_steps=args.max_steps,
        limit=args.limit, val_limit=args.val_limit, save_every=args.save_every, resume=args.resume,
        write=not args.no_write, overrides=_overrides(args.set), threads=args.threads, dtype=args.dtype, device=args.device,
    )
    if "checkpoint_sha256" in r:
        best = f", best validation {r['best']:.2f} (epoch {r['best_epoch']})" if r.get("best") is not None else ""
        print(f"{args.name} on {task}: {r['step']} steps in {r['train_time_s']:.0f} s{best}")
        print(f"checkpoint: {r['checkpoint']} (sha256 {r['checkpoint_sha256'][:12]}…)")
    return 0
