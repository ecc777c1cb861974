"""zoo eval NAME [--data PATH] [--task TASK] [--checkpoint FILE] [--predictions OUT.jsonl] [--limit N]
[--device DEV] [--batch-size B] [--workers W]

Accuracy of a registered model on a data set: top-1/top-5 (image classification), COCO mAP (detection),
or the text task's metric. Appends one row to results/raw/eval.jsonl. Under
``torchrun --nproc_per_node N -m zoo eval ...`` the data is sharded and the counts summed exactly.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("eval", help="measure a model's accuracy (top-1/top-5, COCO mAP, text metrics)")
    p.add_argument("name", help="registered model name (zoo list)")
    p.add_argument("--data", help="image folder (ImageNet layout / ImageFolder), COCO json or YOLO folder")
    p.add_argument("--task", help="text models: the task / data set to evaluate on")
    p.add_argument("--split", default="test", help="text models: data split (default: test)")
    p.add_argument("--checkpoint", help="state dict file (safetensors or plain torch) to load instead of the spec's weights")
    p.add_argument("--labels", help="label file for --data (labels.tsv or '<file> <index>' list) if not inside it")
    p.add_argument("--predictions", metavar="OUT.jsonl", help="write one JSON line per sample (must not exist)")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples (sorted order)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("--batch-size", type=int, help="default: 32 for classification, 8 for detection, 64 for text")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (default: cores - 1, at most 8)")
    p.add_argument("--decode", choices=("pil", "gpu"), default="pil",
                   help="gpu: decode JPEGs on CUDA with nvjpeg (tensor resize; falls back to pil without CUDA)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", action="store_true", default=None,
                   help="load the spec's pretrained weights (default for vision models that have some)")
    w.add_argument("--random-init", action="store_true", help="do not load pretrained weights")
    p.add_argument("--no-write", action="store_true", help="do not append the row to results/raw/eval.jsonl")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import UserError
    from ..harness.evaluate import evaluate

    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers must be 0 or more, got {args.workers}")
    evaluate(
        args.name, args.data, args.task, checkpoint=args.checkpoint, split=args.split, limit=args.limit,
        device=args.device, batch_size=args.batch_size, workers=args.workers, predictions=args.predictions,
        write=not args.no_write, labels=args.labels, decode=args.decode,
        pretrained=False if args.random_init else (True if args.pretrained else None),
    )
    return 0
