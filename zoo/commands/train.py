"""zoo train NAME --task TASK [--epochs N] [--batch-size B] [--lr LR] [--max-minutes M] [--out DIR] [--resume] ...
zoo train IMAGE_CLASSIFIER --data IMAGEFOLDER [--recipe fast] [--image-size S] [--freeze none|head|last:N]
    [--no-augment] [--random-init] [--linear-probe] ...
zoo train yolov5n --data coco128 --limit 96 --heldout 32 [--classes 0,2] [--image-size 320] [--epochs N] ...
zoo train yolov8n --data coco128 [--epochs N] [--image-size S] [--limit N]

Image classifiers (zoo.harness.train.vision): fine-tuned from their pretrained weights (or from random init) on an
ImageFolder with a fresh head for its classes; ``--recipe fast`` caches the frozen stem's activations once
(vision_fast); ``--linear-probe``: the frozen-backbone baseline. yolov5n (zoo.harness.train.yolov5): fine-tuned
from its official weights in zoo's own loop (YOLOv5 loss, EMA), scored on the --heldout images after the
training ones. The other detectors (zoo.harness.train.detection): ultralytics' own trainer, offline. All write a
"train" row.

Trains a text model on a bundled data set (sst2, multi30k, squad) with a progress bar (loss, items/s), writes
a checkpoint folder (safetensors weights + tokenizer + zoo_config.json; default $ZOO_CACHE/checkpoints/NAME-TASK,
where `zoo eval NAME` finds it) and appends a "train" row to results/raw/train.jsonl.
Under ``torchrun --nproc_per_node N -m zoo train ...`` the global batch is split over the processes.
The training flags are the fields of zoo.harness.train.TrainConfig (generated from it); unset ones take the
text defaults of zoo.harness.train.text.text_config (see that module for what each setting means).
"""

from __future__ import annotations

import json

from ..console import say_written
from ..errors import UserError
from ..harness.train import trainer_kind
from ..harness.train.config import TrainConfig, cli_fields, cli_flag
from ..harness.train.detection import train_detector
from ..harness.train.text import defaults_help, text_config, train_text
from ..harness.train.vision import (
    RECIPES,
    VisionRun,
    image_config,
    linear_probe,
    train_image_classifier,
)
from ..harness.train.vision_fast import fast_recipe
from ..harness.train.vision_model import FREEZE_HELP
from ..harness.train.yolov5 import DetectRun, detection_config, train_yolov5
from ..models.text import TASK_OF
from ..registry import get_spec
from ..results import raw_path


def register(sub) -> None:
    p = sub.add_parser("train", help="train a text model on sst2 / multi30k / squad; writes a checkpoint and a row",
                       description=defaults_help())
    p.add_argument("name", help="registered model name (zoo list --task text-classification, ...)")
    p.add_argument("--task", help="sst2, multi30k or squad (default: the model's task)")
    for f in cli_fields():  # unset: the text default for the task (text_config)
        p.add_argument(cli_flag(f.name), *f.metadata["aliases"], dest=f.name, type=f.metadata["type"],
                       help=f.metadata["help"])
    p.add_argument("--pretrained", action="store_true", help="start from the model's pretrained weights (minilm_*)")
    p.add_argument("--limit", type=int, help="train on the first N examples only (image classifiers: of each class; "
                                             "detectors: N images)")
    p.add_argument("--val-limit", type=int, help="validate on the first N examples only")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state/last.safetensors if present")
    p.add_argument("--out", help="checkpoint folder (default: $ZOO_CACHE/checkpoints/NAME-TASK)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. --set attention=bahdanau --set hidden_size=256 (JSON values)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--no-write", action="store_true", help="do not append the train row")
    g = p.add_argument_group("image classifiers and detectors")
    g.add_argument("--data", help="image classifiers: an ImageFolder (DIR/<class>/<images>); detectors: coco128, "
                                  "coco (the bundled 24 images), a YOLO folder or an ultralytics data yaml")
    g.add_argument("--image-size", type=int, help="input size in px (classifiers: default 128, the whole image "
                                                  "resized; detectors: imgsz, default 640)")
    g.add_argument("--recipe", choices=RECIPES, default="default",
                   help="image classifiers: fast = the frozen stem computed once and cached, more epochs on the "
                        "rest (zoo.harness.train.vision_fast; sets --image-size 160 --freeze last:13 --epochs 12 "
                        "--batch-size 64 --lr 0.001 unless given)")
    g.add_argument("--freeze", help=FREEZE_HELP + " (default none); yolov5n: none, bn (BatchNorm statistics; "
                   "its default without --classes) or backbone (and layers 0-9)")
    g.add_argument("--no-augment", action="store_true", help="no random crop / flip (timm's train transform)")
    g.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing (default 0.1)")
    g.add_argument("--mixup", type=float, help="--recipe fast: mixup of the cached activations, Beta(a, a) (0: off)")
    g.add_argument("--dropout", type=float, help="--recipe fast: dropout before the classifier while training")
    g.add_argument("--block-lr", type=float, help="--recipe fast: the pretrained blocks' learning rate as a fraction "
                                                  "of the head's (default 1)")
    g.add_argument("--random-init", action="store_true", help="train from random weights (default: pretrained "
                                                               "backbone / detector weights where zoo has them)")
    g.add_argument("--linear-probe", action="store_true",
                   help="baseline: frozen backbone, sklearn LogisticRegression on its features as the head")
    g.add_argument("--C", type=float, default=1.0, help="--linear-probe: inverse L2 strength (default 1.0)")
    g.add_argument("--val-data", help="image classifiers: an ImageFolder scored after every epoch (top-1 vs "
                                      "training minutes in the row's history; not counted as training time)")
    g.add_argument("--heldout", type=int, default=0,
                   help="yolov5n: score the N images after the training ones (mAP before and after training)")
    g.add_argument("--classes", help="yolov5n: keep these COCO-80 class ids, e.g. 0,2, relabelled 0..k-1 (a new head)")
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
    kind = trainer_kind(spec)
    if kind == "vision":
        return _run_vision(args)
    if kind == "detection":
        return _run_detection(args)
    if args.data is not None:
        raise UserError(f"{args.name} is a text model: give --task (sst2, multi30k, squad), not --data")
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
        _say_row(args)
    return 0


def _say_row(args) -> None:
    """Where the train row went (one stderr line), unless --no-write."""
    if not args.no_write:
        say_written(raw_path("train"))


def _given(args) -> dict:
    return {f.name: getattr(args, f.name) for f in cli_fields() if getattr(args, f.name) is not None}


def _run_vision(args) -> int:
    if args.data is None:
        raise UserError(f"zoo train {args.name} needs --data DIR: an ImageFolder (DIR/<class name>/<images>)")
    if args.task is not None or args.set or args.pretrained:
        raise UserError("image classifiers take --data (not --task / --set); pretrained weights are the default "
                        "(--random-init for none)")
    run = VisionRun(image_size=args.image_size or VisionRun.image_size, freeze=args.freeze or "none",
                    augment=not args.no_augment, pretrained=not args.random_init,
                    label_smoothing=VisionRun.label_smoothing if args.label_smoothing is None else args.label_smoothing,
                    limit=args.limit, threads=args.threads, recipe=args.recipe,
                    mixup=args.mixup or 0.0, dropout=args.dropout or 0.0,
                    block_lr=1.0 if args.block_lr is None else args.block_lr)
    config = image_config(**_given(args))
    if args.recipe == "fast":
        given = {k for k, v in (("image_size", args.image_size), ("freeze", args.freeze),
                                ("label_smoothing", args.label_smoothing)) if v is not None}
        run, config = fast_recipe(run, config, given, set(_given(args)))
    if args.linear_probe:
        if _given(args) or args.resume or args.recipe != "default":
            raise UserError("--linear-probe fits a LogisticRegression once: training-loop flags do not apply")
        r = linear_probe(args.name, args.data, run, out=args.out, C=args.C, write=not args.no_write)
        print(f"{args.name} linear probe on {args.data}: train accuracy {r['train_accuracy']:.2f}% "
              f"({r['items']} images) in {r['train_time_s']:.0f} s")
    else:
        r = train_image_classifier(args.name, args.data, config, run, out=args.out,
                                   resume=args.resume, write=not args.no_write, val_data=args.val_data)
        if "checkpoint_sha256" not in r:
            return 0  # torchrun: rank 0 reports
        print(f"{args.name} on {args.data}: {r['steps']} steps in {r['train_time_s']:.0f} s "
              f"({r['trainable_params']:,} of {r['params']:,} parameters trained)")
    print(f"checkpoint: {r['checkpoint']} (sha256 {r['checkpoint_sha256'][:12]}…); score it with "
          f"zoo eval {args.name} --checkpoint {r['checkpoint']} --data HELDOUT_DIR")
    _say_row(args)
    return 0


def _classes(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise UserError(f"--classes takes COCO-80 class ids separated by commas, e.g. 0,2; got {text!r}") from None


def _run_yolov5(args) -> int:
    """yolov5n: fine-tuned from its official weights in zoo's own loop (zoo.harness.train.yolov5)."""
    if args.linear_probe or args.random_init or args.task or args.set:
        raise UserError(f"{args.name} fine-tunes from its official weights: --linear-probe, "
                        "--random-init, --task and --set do not apply")
    run = DetectRun(imgsz=args.image_size or DetectRun.imgsz, limit=args.limit, heldout=args.heldout,
                    classes=_classes(args.classes), augment=not args.no_augment, threads=args.threads,
                    freeze=args.freeze)
    r = train_yolov5(args.name, args.data, detection_config(**_given(args)), run, out=args.out, resume=args.resume,
                     write=not args.no_write)
    if "checkpoint_sha256" not in r:
        return 0  # torchrun: rank 0 reports
    m = r["metrics"]
    scores = (f"; held-out mAP50-95 {m['map']:.2f} / mAP50 {m['map50']:.2f} (pretrained {m['pretrained_map']:.2f} / "
              f"{m['pretrained_map50']:.2f})" if "map" in m else "")
    print(f"{args.name} on {args.data}: {r['steps']} steps in {r['train_time_s']:.0f} s, train loss "
          f"{r['history'][0]['train_loss']:.4f} -> {r['final_train_loss']:.4f}{scores}")
    bad = {k: v for k, v in r["labels"].items() if k not in ("boxes", "examples") and v}
    print(f"labels: {r['labels']['boxes']} boxes" + (f"; skipped or changed: {bad}" if bad else "; none bad"))
    print(f"checkpoint: {r['checkpoint']} (sha256 {r['checkpoint_sha256'][:12]}…, the EMA weights)")
    return 0


def _run_detection(args) -> int:
    if args.data is None:
        raise UserError(f"zoo train {args.name} needs --data: coco128, coco, a YOLO folder or a data yaml")
    if get_spec(args.name).source == "zoo":
        return _run_yolov5(args)
    if args.heldout or args.classes:
        raise UserError("--heldout and --classes are for yolov5n (zoo's own detector training)")
    unused = [k for k in ("lr", "optimizer", "max_minutes", "schedule") if getattr(args, k) is not None]
    if unused or args.resume or args.linear_probe or args.freeze is not None or args.no_augment:
        raise UserError("detectors train through ultralytics' trainer: --epochs, --batch-size, --image-size, "
                        "--limit, --seed, --random-init, --out and --threads apply, nothing else")
    r = train_detector(args.name, args.data, epochs=args.epochs or 1, batch=args.batch_size or 16,
                       imgsz=args.image_size or 640, limit=args.limit, seed=args.seed or 0,
                       pretrained=args.pretrained, out=args.out, threads=args.threads,
                       write=not args.no_write)
    print(r["summary"])
    _say_row(args)
    return 0
