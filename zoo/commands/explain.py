"""zoo explain NAME INPUT [--out FILE.png] [--target CLASS] [--method gradcam,saliency,ig|ig,gradxinput,attention]
[--layer MODULE] [--checkpoint PATH]"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError
from ..harness.explain import (DEFAULT_METHODS, IMAGE_METHODS, METHOD_TITLES, TEXT_METHODS, check_out, explain,
                               write_png)
from ..registry import get_spec
from ._model_options import add_source_options, apply_source_options


def register(sub) -> None:
    p = sub.add_parser("explain", help="write a PNG showing which pixels or tokens drove a classifier's prediction",
                       description="Image classifiers: Grad-CAM and a saliency map over the input image (each panel "
                       "at the image's own resolution). Text classifiers: integrated gradients over the tokens. "
                       "Uses the model's real weights when they are here (else says the map explains a random "
                       "network).")
    p.add_argument("name", help="a registered image- or text-classification model (zoo list)")
    p.add_argument("input", help="an image file (image classifiers), or the sentence itself (text classifiers)")
    p.add_argument("--out", help="PNG to write (default: <input stem>_<model>_explain.png, or <model>_explain.png "
                   "for text, in the current folder)")
    p.add_argument("--target", help="the class to explain: an index or a class name (default: the predicted class)")
    p.add_argument("--method", help=f"comma-separated; image: {', '.join(IMAGE_METHODS)} (default "
                   f"{','.join(DEFAULT_METHODS['image-classification'])}); text: {', '.join(TEXT_METHODS)} "
                   f"(default {','.join(DEFAULT_METHODS['text-classification'])})")
    p.add_argument("--layer", help="Grad-CAM's layer, a module path in the network (default: chosen per family)")
    p.add_argument("--checkpoint", help="weights to explain: a state-dict file or a `zoo train` folder")
    add_source_options(p)
    p.set_defaults(func=run)


def default_out(name: str, item: str, task: str) -> Path:
    safe = re.sub(r"[^\w.-]+", "_", name)  # "timm:convnext_tiny", "onnx:/path/m.onnx": no ":" or "/" in a file name
    return Path(f"{Path(item).stem}_{safe}_explain.png" if task == "image-classification" else f"{safe}_explain.png")


def run(args) -> int:
    apply_source_options(args)
    if get_spec(args.name).source == "onnx":  # before building: the harness would look for a conv layer first
        raise UserError(f"{args.name} runs in onnxruntime, which computes no gradients; zoo explain needs them "
                        "(explain the PyTorch model it was exported from)")
    methods = [m.strip() for m in args.method.split(",") if m.strip()] if args.method else None
    if args.out:
        check_out(args.out)  # before the model is built
    expl = explain(args.name, args.input, target=args.target, methods=methods, layer=args.layer,
                   checkpoint=args.checkpoint)
    out, (width, height) = write_png(expl, Path(args.out) if args.out else default_out(args.name, args.input, expl.task))
    shown = ", ".join(METHOD_TITLES.get(m, m) + (f" on {expl.layer}" if m == "gradcam" else "") for m in expl.maps)
    target = expl.target_name or expl.target
    pred = expl.predicted_name or expl.predicted
    line = f"{expl.model} (weights {expl.weights}): predicted {pred}"
    line += f"; explained {target} (p {expl.score:.3f})" if expl.target != expl.predicted else f" (p {expl.score:.3f})"
    print(line)
    for note in expl.notes:
        print(note)
    print(f"{shown} -> {out} ({width}x{height} px)")
    return 0
