"""zoo predict MODEL|EXPORT_DIR INPUT... [--json] [--top-k K] [--save DIR] [--context TEXT|FILE] [--batch-size B]

Run a model on your own inputs, for every task. MODEL is a registered name (its pretrained weights, or
``--checkpoint``) or a folder written by ``zoo export`` (run by its own runtime: no torch). INPUT:
  image models: image files, folders (their images) and globs ("photos/*.jpg");
  text models: the texts as arguments, a file (one text per line) or ``-`` / a pipe for stdin;
  question answering: the questions so, with ``--context`` (the text, or a file holding it);
  tabular models: a file of comma-separated rows.
A table by default (class names and scores; one line per box for detection), ``--json`` one JSON line per
input. ``--save DIR`` writes annotated copies of the images (detection). A progress bar shows on stderr.

A registered image model with its published weights is served, from the second call on, by the fp32 ONNX copy
the first call keeps in $ZOO_CACHE/predict (``zoo.prediction.warm``: no torch import, the same scores);
``--no-cache`` runs PyTorch every time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import __version__
from ..console import print_table, progress
from ..errors import UserError
from ..io import atomic_write_text
from ..harness import export, loading  # their names load on first use: an export folder runs without torch
from ..prediction import warm
from ..prediction.draw import save_annotated
from ..prediction.items import input_kind
from ..prediction.runtime import load
from ..registry import get_spec
from ._model_options import add_source_options, apply_source_options


def register(sub) -> None:
    p = sub.add_parser("predict", help="run a model or an exported folder on your images or texts")
    p.add_argument("model", metavar="MODEL|EXPORT_DIR", help="registered model name (zoo list) or a `zoo export` folder")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files, folders, globs; texts, a text file (one per line) or - for stdin")
    p.add_argument("--context", help="question answering: the context text, or a file holding it")
    p.add_argument("--json", action="store_true", help="one JSON line per input instead of the table")
    p.add_argument("--top-k", type=int, default=5, help="classes shown per input (classification)")
    p.add_argument("--conf", type=float, default=0.25, help="detection: boxes scoring below this are not shown")
    p.add_argument("--save", metavar="DIR", help="detection: write each image with its boxes drawn into DIR")
    p.add_argument("--batch-size", type=int, default=8, help="items per forward pass")
    p.add_argument("--checkpoint", help="a state-dict file or `zoo train` folder instead of the pretrained weights")
    p.add_argument("--random-init", action="store_true",
                   help="predict with random weights on purpose (for a model with none here; outputs are noise)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (registered models only)")
    p.add_argument("--no-cache", action="store_true",
                   help="run the PyTorch model; neither use nor keep the fp32 ONNX copy that serves repeat calls")
    add_source_options(p)
    p.set_defaults(func=run, intermixed="inputs")  # inputs may follow the options (cli.main)


def _lines(path_or_dash: str) -> list[str]:
    text = sys.stdin.read() if path_or_dash == "-" else Path(path_or_dash).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _texts(inputs: list[str]) -> list[str]:
    """Each argument is a text, except ``-`` (stdin) and an existing file (its lines); none: a pipe on stdin."""
    if not inputs:
        if sys.stdin.isatty():
            raise UserError("no input: give texts as arguments, a file (one per line), or pipe them in")
        inputs = ["-"]
    out: list[str] = []
    for a in inputs:
        out += _lines(a) if a == "-" or Path(a).is_file() else [a]
    if not out:
        raise UserError("no input: the file or stdin held no text")
    return out


def _rows(inputs: list[str]) -> list:
    import numpy as np  # deferred: only tabular inputs need parsing

    rows = []
    for a in inputs or ["-"]:
        for i, line in enumerate(_lines(a), 1):
            try:
                rows.append(np.array([float(v) for v in line.replace(",", " ").split()], dtype=np.float32))
            except ValueError:
                raise UserError(f"{a} line {i}: not a row of numbers") from None
    return rows


def gather_items(kind: str, inputs: list[str], context: str | None) -> list:
    """What ``predict`` gets from the command line, by the model's input kind (``zoo.prediction.items``)."""
    if context is not None and kind != "qa":
        raise UserError("--context is for question-answering models")
    if kind == "image":
        if not inputs:
            raise UserError("no input: give image files, folders or globs")
        return list(inputs)
    if kind == "qa":
        if context is None:
            raise UserError("a question-answering model needs --context TEXT (or a file holding it)")
        ctx = Path(context).read_text(encoding="utf-8") if Path(context).is_file() else context
        return [{"question": q, "context": ctx} for q in _texts(inputs)]
    if kind == "text":
        return _texts(inputs)
    return _rows(inputs)


def _warm_eligible(args, spec) -> bool:
    """Whether this call may be served by (or leave) the warm copy: published weights on the CPU, nothing given
    that the copy does not hold."""
    return (not args.no_cache and warm.enabled() and not args.checkpoint and not args.random_init
            and args.device == "cpu" and warm.warm_folder(spec) is not None)


def load_predictor(args):
    """An export folder's runtime predictor; the registered model's warm copy (``zoo.prediction.warm``); or the
    model with its weights (``load_model``: the pretrained weights, ``--checkpoint``, or random init only when
    ``--random-init`` asks for it)."""
    folder = Path(args.model).expanduser()
    if folder.is_dir():
        return load(folder)
    spec = get_spec(args.model)
    if _warm_eligible(args, spec):
        cached = warm.load_warm(spec, __version__)
        if cached is not None:
            return cached
    weights = args.checkpoint or ("random" if args.random_init else "auto")
    model, loaded = loading.load_model(args.model, weights, device=args.device, overrides=predict_overrides(spec))
    if loaded.random and not args.random_init:
        why = loaded.unavailable or "none are published or trained here"
        raise UserError(f"{spec.name} has no trained weights here ({why}): give --checkpoint (e.g. from `zoo train "
                        f"{spec.name}`), or --random-init to see the pipeline run on random weights")
    return model


def keep_warm(args, model) -> None:
    """After a PyTorch prediction: write the warm copy for the next call. A failure costs only the speed-up
    (one line on stderr), never the prediction; a graph the exporter cannot write is noted, and not tried again."""
    if not hasattr(model, "net") or not _warm_eligible(args, model.spec):
        return
    folder = warm.warm_folder(model.spec)
    if warm.refusal(folder).exists():
        return
    try:
        kept = export.write_warm_copy(model, folder)
    except UserError as e:
        try:
            atomic_write_text(warm.refusal(folder), f"{e}\n")
        except OSError:
            pass  # not remembered: the next call tries again
        print(f"zoo: predictions stay on PyTorch ({str(e).splitlines()[0][:200]}); not tried again", file=sys.stderr)
        return
    except OSError as e:
        print(f"zoo: predictions stay on PyTorch: no fast copy kept ({str(e).splitlines()[0][:200]})", file=sys.stderr)
        return
    if kept is not None:
        print(f"zoo: kept an fp32 ONNX copy for faster repeat predictions in {kept} (--no-cache: never)",
              file=sys.stderr)


def predict_overrides(spec) -> dict:
    """Build settings for predicting rather than scoring: zoo's YOLOv5 takes detect.py's NMS (best class per
    box, IoU 0.45) instead of val.py's multi-label one; other detectors are filtered by ``--conf``."""
    post = spec.extra.get("postprocess") if isinstance(spec.extra, dict) else None
    return {"nms": "predict"} if spec.source == "zoo" and isinstance(post, dict) and "multi_label" in post else {}


def run(args) -> int:
    apply_source_options(args)
    model = load_predictor(args)
    kind = input_kind(model.spec.task)
    items = gather_items(kind, args.inputs, args.context)
    with progress(desc="predict", unit="item") as bar:
        results = model.predict(items, top_k=args.top_k, conf=args.conf if model.spec.task == "object-detection"
                                else None, batch_size=args.batch_size, progress=bar.update)
    if args.json:
        for r in results:
            print(r.to_json())
    else:
        print_results(model.spec.task, results, args.top_k)
    if args.save:
        if model.spec.task != "object-detection":
            raise UserError("--save draws boxes: it is for object-detection models only")
        written = save_annotated(results, [r.source for r in results], args.save)
        print(f"{len(written)} annotated image(s) in {args.save}", file=sys.stderr)
    keep_warm(args, model)
    return 0


def print_results(task: str, results: list, top_k: int) -> None:
    if task == "object-detection":
        rows = [[r.source, b.name if b.name is not None else b.label, f"{b.score:.3f}",
                 ", ".join(f"{v:.0f}" for v in b.xyxy)] for r in results for b in r.boxes]
        rows += [[r.source, "(no boxes)", "", ""] for r in results if not r.boxes]
        print_table(["input", "class", "score", "box x1, y1, x2, y2"], rows)
    elif task == "translation":
        print_table(["input", "translation"], [[r.source, r.text] for r in results])
    elif task == "question-answering":
        print_table(["question", "answer", "chars"], [[r.source, r.text, f"{r.start}-{r.end}"] for r in results])
    else:
        rows = [[r.source if r.source is not None else i, r.name if r.name is not None else r.label, f"{r.score:.3f}",
                 ", ".join(str(t) for t in r.topk[1:top_k])] for i, r in enumerate(results)]
        print_table(["input", "class", "score", f"next {max(top_k - 1, 0)}"], rows)
