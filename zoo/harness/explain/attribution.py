"""Attribution maps: why a classifier said what it said (the article's misconception 5, "networks are black boxes").

    expl = explain("efficientnet_lite0", "photo.jpg")              # Grad-CAM + saliency, real weights when here
    write_png(expl, "photo_explained.png")                          # panels at the photo's own resolution
    expl = explain("bilstm", "a gorgeous , witty movie .")          # integrated gradients over the tokens

Image classifiers (captum): Grad-CAM (``LayerGradCam``) on the last convolutional feature map, chosen per
family (``conv_layer``: timm EfficientNet ``bn2`` = conv head + BN + ReLU6, ResNet ``layer4``, Inception
``Mixed_7c``, else the last ``Conv2d`` whose output is still spatial; ``layer=`` overrides), a saliency map
(``Saliency``: |d score / d pixel|, max over colour channels) and integrated gradients (``IntegratedGradients``,
black baseline, |attribution| summed over channels). Maps are computed on the model's input (the spec's
resize + centre crop) and mapped back onto the original image: the PNG has one panel per map, each at the
input image's own resolution (width = panels x image width, height = image height); pixels the crop cut off
are shown darkened. Grad-CAM is upsampled bilinearly from the feature map (7x7 for Lite0 at 224 px).

Text classifiers: integrated gradients on the embedding layer (``LayerIntegratedGradients``, baseline = padding
for every non-special token), gradient x input on it (``LayerGradientXActivation``), or, for transformers,
the last layer's attention from the first token ([CLS]) averaged over heads. Tokens are drawn as coloured
boxes (red: for the explained class, blue: against) in a PNG ``TEXT_WIDTH`` pixels wide.

Which class is explained: ``target`` (an index or a class name), else the predicted class. The score shown
is the softmax probability of that class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ...datasets.labels import label_names
from ...errors import UserError
from ...models.base import RANDOM_INIT
from ...registry import get_spec, model_task
from ...spec import weights_label
from ...tasks import get_task
from ...transforms import load_image
from .. import loading

IMAGE_METHODS = ("gradcam", "saliency", "ig")
TEXT_METHODS = ("ig", "gradxinput", "attention")
DEFAULT_METHODS = {"image-classification": ("gradcam", "saliency"), "text-classification": ("ig",)}
METHOD_TITLES = {"gradcam": "Grad-CAM", "saliency": "saliency |d score/d pixel|", "ig": "integrated gradients",
                 "gradxinput": "gradient x input", "attention": "attention from [CLS] (last layer)"}
RANDOM_NOTE = "random weights: the map explains a random network"
TEXT_WIDTH = 800  # px: the width of a text explanation's PNG
IG_STEPS = 32
# Family rule for Grad-CAM's layer: the first attribute of the network found here (module path in ``net``).
FAMILY_LAYERS = ("bn2", "layer4", "Mixed_7c")


@dataclass
class Explanation:
    """One input, its prediction and its attribution maps (image: original-resolution HxW arrays, NaN outside
    the model's crop; text: one score per token)."""

    model: str
    task: str
    target: int
    target_name: str | None
    score: float  # softmax probability of ``target``
    predicted: int
    predicted_name: str | None
    weights: str  # weights label ("random-init", "sha256 …")
    real_weights: bool
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    image: Image.Image | None = None
    tokens: list[str] = field(default_factory=list)
    layer: str | None = None  # Grad-CAM's layer (module path in the network)

    @property
    def notes(self) -> list[str]:
        return [] if self.real_weights else [RANDOM_NOTE]


# --- model and weights -------------------------------------------------------------------------------------

def load_model(name: str, checkpoint: str | None = None):
    """(model, real weights?) for ``name``: a given checkpoint, else the task's default one (a ``zoo train``
    folder), else the spec's pretrained weights when they are a whole classifier; random init when none of
    these is here (offline and not cached), which the caller says out loud."""
    task_name = model_task(name)  # UnknownModelError (a UserError) for an unknown name
    if task_name == "object-detection":
        raise UserError(f"{name} is a detection model; zoo explain explains classifiers (image or text), "
                        "not boxes")
    if task_name not in DEFAULT_METHODS:
        raise UserError(f"{name} is a {task_name} model; zoo explain takes image- or text-classification models")
    task = get_task(task_name)
    torch.manual_seed(0)  # a head or network left at random init is the same one every run
    model, _ = loading.load_model(name, checkpoint or "auto", task=task)
    for m in model.modules():  # in-place activations would overwrite the feature maps captum's hooks hold
        if getattr(m, "inplace", False) is True:
            m.inplace = False
    return model, model.weights_id != RANDOM_INIT


def _names(spec):
    """index -> class name: the spec's own (a model trained on an ImageFolder), else the known label set's."""
    return (spec.extra or {}).get("class_names") or label_names(spec.task, spec.num_classes)


def class_index(spec, target: str | int | None) -> int | None:
    """``target`` as a class index: an integer, or a class name the model's label set knows ("tabby", "positive")."""
    if target is None:
        return None
    text = str(target).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
    else:
        names = _names(spec) or []
        found = [i for i, n in enumerate(names) if str(n).lower() == text.lower()]
        if not found:
            raise UserError(f"--target {text!r}: not a class of {spec.name} (give an index 0-{spec.num_classes - 1}"
                            f"{' or a class name' if names else ''})")
        idx = found[0]
    if not 0 <= idx < spec.num_classes:
        raise UserError(f"--target {idx} is outside 0-{spec.num_classes - 1} ({spec.name} has {spec.num_classes} classes)")
    return idx


def _class_name(spec, idx: int) -> str | None:
    names = _names(spec)
    try:
        return None if names is None else str(names[idx])
    except (IndexError, KeyError):
        return None


# --- image attributions ------------------------------------------------------------------------------------

def captum_attr():
    """``captum.attr``, or one line saying how to install it (an optional dependency: zoo[explain])."""
    try:
        import captum.attr as attr  # deferred: captum is heavy and optional
    except ImportError:
        raise UserError("attribution maps need captum: pip install 'zoo[explain]' (or captum)") from None
    return attr


def conv_layer(net: torch.nn.Module, example: torch.Tensor, name: str | None = None) -> tuple[str, torch.nn.Module]:
    """Grad-CAM's layer: ``name`` (a module path in ``net``), else the family rule (FAMILY_LAYERS), else the
    last ``Conv2d`` whose output on ``example`` is still spatial (more than 1x1)."""
    modules = dict(net.named_modules())
    if name is not None:
        if name not in modules or not name:
            close = [n for n in modules if n and name.split(".")[0] in n][:4]
            raise UserError(f"--layer {name!r} is not a module of {type(net).__name__}"
                            f"{'; e.g. ' + ', '.join(close) if close else ''}")
        return name, modules[name]
    for fam in FAMILY_LAYERS:
        if fam in modules and (fam != "bn2" or "conv_head" in modules):
            return fam, modules[fam]
    spatial: list[str] = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: spatial.append(n) if o.shape[-1] * o.shape[-2] > 1 else None)
             for n, m in modules.items() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            net(example)
    finally:
        for h in hooks:
            h.remove()
    if not spatial:
        raise UserError(f"{type(net).__name__} has no convolutional layer with a spatial output: Grad-CAM needs one "
                        "(use --method saliency or ig)")
    return spatial[-1], modules[spatial[-1]]


def gradcam(model, x: torch.Tensor, target: torch.Tensor, layer: torch.nn.Module) -> torch.Tensor:
    """(B, H, W) Grad-CAM maps at the input's size (ReLU of the channel-weighted feature map, upsampled)."""
    ca = captum_attr()
    attr = ca.LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    return ca.LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0].detach()


def saliency(model, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, H, W) |gradient of the target logit w.r.t. each pixel|, max over colour channels (Simonyan et al. 2014)."""
    grads = captum_attr().Saliency(model).attribute(x.clone().requires_grad_(True), target=target, abs=True)
    return grads.amax(1).detach()


def integrated_gradients(model, x: torch.Tensor, target: torch.Tensor, steps: int = IG_STEPS) -> torch.Tensor:
    """(B, H, W) |integrated gradients| from a black image (zeros in [0, 1] pixel space), summed over channels."""
    attr = captum_attr().IntegratedGradients(model).attribute(
        x, baselines=_black(model, x), target=target, n_steps=steps, internal_batch_size=max(1, len(x)) * 8)
    return attr.abs().sum(1).detach()


def _black(model, x: torch.Tensor) -> torch.Tensor:
    pre = model.spec.preprocess
    mean = torch.tensor(pre.mean, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=x.dtype).view(1, 3, 1, 1)
    return ((0 - mean) / std).expand_as(x).contiguous()


def image_maps(model, x: torch.Tensor, target: torch.Tensor, methods: Sequence[str],
               layer: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """method -> (B, H, W) map on the model's input for each of ``methods`` (IMAGE_METHODS)."""
    out = {}
    for m in methods:
        if m == "gradcam":
            out[m] = gradcam(model, x, target, layer)
        elif m == "saliency":
            out[m] = saliency(model, x, target)
        elif m == "ig":
            out[m] = integrated_gradients(model, x, target)
        else:
            raise UserError(f"unknown method {m!r} for an image classifier; expected {', '.join(IMAGE_METHODS)}")
    return out


def crop_box(pre, width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in original-image pixels of what the spec's resize + centre crop keeps
    (may reach outside the image when the crop pads)."""
    ch, cw = pre.crop_size
    if pre.resize_size is None:
        sx = sy = 1.0
    elif isinstance(pre.resize_size, tuple):
        sy, sx = pre.resize_size[0] / height, pre.resize_size[1] / width
    else:
        short = min(width, height)
        sx = sy = pre.resize_size / short
    rw, rh = width * sx, height * sy
    top, left = round((rh - ch) / 2), round((rw - cw) / 2)
    return left / sx, top / sy, (left + cw) / sx, (top + ch) / sy


def to_original(amap: np.ndarray, box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """A map over the model's crop -> an (height, width) map over the original image; NaN outside the crop."""
    left, top, right, bottom = box
    bw, bh = max(1, round(right - left)), max(1, round(bottom - top))
    resized = np.asarray(Image.fromarray(amap.astype(np.float32), mode="F").resize((bw, bh), Image.BILINEAR))
    out = np.full((height, width), np.nan, dtype=np.float32)
    x0, y0 = round(left), round(top)
    xs, ys = max(0, x0), max(0, y0)
    xe, ye = min(width, x0 + bw), min(height, y0 + bh)
    if xe > xs and ye > ys:
        out[ys:ye, xs:xe] = resized[ys - y0:ye - y0, xs - x0:xe - x0]
    return out


def read_image(path: str | Path) -> Image.Image:
    """The input image in RGB, or one line saying why it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"input {path} does not exist" if not p.exists() else f"input {path} is not a file")
    try:
        return load_image(p)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise UserError(f"input {path} is not a readable image ({type(e).__name__})") from None


def explain_image(model, image: Image.Image, *, target: int | None = None, methods: Sequence[str] | None = None,
                  layer: str | None = None) -> Explanation:
    """The prediction on ``image`` and each method's map on the original image (see the module docstring)."""
    methods = tuple(methods or DEFAULT_METHODS["image-classification"])
    x = model.preprocess([image]).inputs
    with torch.no_grad():
        probs = model(x).float().softmax(-1)[0]
    pred = int(probs.argmax())
    tgt = pred if target is None else target
    layer_name, module = conv_layer(model.net, x, layer) if "gradcam" in methods else (None, None)
    maps = image_maps(model, x, torch.tensor([tgt]), methods, module)
    box = crop_box(model.spec.preprocess, image.width, image.height)
    spec = model.spec
    return Explanation(spec.name, spec.task, tgt, _class_name(spec, tgt), float(probs[tgt]), pred,
                       _class_name(spec, pred), weights_label(model.weights_id), model.weights_id != RANDOM_INIT,
                       {m: to_original(v[0].numpy(), box, image.width, image.height) for m, v in maps.items()},
                       image=image, layer=layer_name)


# --- text attributions -------------------------------------------------------------------------------------

def _embedding(model) -> torch.nn.Module:
    net = model.net
    return net.get_input_embeddings() if hasattr(net, "get_input_embeddings") else net.embed


def _baseline_ids(tokenizer, ids: torch.Tensor) -> torch.Tensor:
    special = set(tokenizer.all_special_ids) - {tokenizer.pad_token_id}
    keep = torch.tensor([[int(t) in special for t in row] for row in ids.tolist()])
    return torch.where(keep, ids, torch.full_like(ids, tokenizer.pad_token_id or 0))


def token_scores(model, ids: torch.Tensor, mask: torch.Tensor, target: int, method: str) -> np.ndarray:
    """One attribution per token of the (1, T) sequence for ``target`` by ``method`` (TEXT_METHODS)."""
    def forward(input_ids, attention_mask):
        return model({"input_ids": input_ids, "attention_mask": attention_mask})

    if method == "attention":
        if not model.hf:
            raise UserError(f"{model.spec.name} exposes no attention; use --method ig or gradxinput")
        net = model.net
        if hasattr(net, "set_attn_implementation"):
            net.set_attn_implementation("eager")  # sdpa kernels return no attention weights
        with torch.no_grad():
            att = net(input_ids=ids, attention_mask=mask, output_attentions=True).attentions[-1]
        return att[0].mean(0)[0].numpy()
    ca = captum_attr()
    layer = _embedding(model)
    if method == "ig":
        attr = ca.LayerIntegratedGradients(forward, layer).attribute(
            ids, baselines=_baseline_ids(model.tokenizer, ids), additional_forward_args=(mask,), target=target,
            n_steps=IG_STEPS)
    elif method == "gradxinput":
        attr = ca.LayerGradientXActivation(forward, layer).attribute(ids, additional_forward_args=(mask,), target=target)
    else:
        raise UserError(f"unknown method {method!r} for a text classifier; expected {', '.join(TEXT_METHODS)}")
    return attr.sum(-1)[0].detach().numpy()


def explain_text(model, text: str, *, target: int | None = None, methods: Sequence[str] | None = None) -> Explanation:
    methods = tuple(methods or DEFAULT_METHODS["text-classification"])
    inputs = model.preprocess([text]).inputs
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        probs = model(inputs).float().softmax(-1)[0]
    pred = int(probs.argmax())
    tgt = pred if target is None else target
    maps = {m: token_scores(model, ids, mask, tgt, m) for m in methods}
    tokens = model.tokenizer.convert_ids_to_tokens(ids[0].tolist())
    spec = model.spec
    return Explanation(spec.name, spec.task, tgt, _class_name(spec, tgt), float(probs[tgt]), pred,
                       _class_name(spec, pred), weights_label(model.weights_id), model.weights_id != RANDOM_INIT,
                       maps, tokens=list(tokens))


def explain(name: str, item: str, *, target: str | int | None = None, methods: Sequence[str] | None = None,
            layer: str | None = None, checkpoint: str | None = None) -> Explanation:
    """Explain ``name``'s prediction on ``item`` (an image path, or the text itself for a text classifier)."""
    spec = get_spec(name)
    if spec.task == "image-classification":
        image = read_image(item)  # bad input fails before the model is built
    elif spec.task == "text-classification":
        if not str(item).strip():
            raise UserError("the input text is empty")
    model, _ = load_model(name, checkpoint)
    tgt = class_index(model.spec, target)
    allowed = IMAGE_METHODS if spec.task == "image-classification" else TEXT_METHODS
    bad = [m for m in methods or () if m not in allowed]
    if bad:
        raise UserError(f"unknown method {bad[0]!r} for {spec.task}; expected {', '.join(allowed)}")
    if spec.task == "image-classification":
        return explain_image(model, image, target=tgt, methods=methods, layer=layer)
    return explain_text(model, str(item), target=tgt, methods=methods)
