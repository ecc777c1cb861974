"""``timm:<arch>[.<tag>]``: any timm architecture, its spec read from timm's pretrained cfg.

Without a tag the name takes timm's default tag for the architecture (the one ``timm.create_model(arch,
pretrained=True)`` loads). Preprocessing is what ``timm.data.resolve_data_config`` + ``create_transform``
give for that cfg (zoo.models.vision.preprocess_from_timm, the reader the registered timm models use); input size
and class count are the cfg's; weights are the cfg's HF hub file, unpinned (timm publishes no hash, so
loading them needs --allow-unpinned, as for the registered timm models). No reference figure: timm's
results tables are not part of the package.
"""

from __future__ import annotations

from ...errors import UserError
from ...spec import BuilderRef, ModelSpec, Weights
from ..vision import IMAGENET_NOTE, preprocess_from_timm
from ._common import cached_catalog, library_version, measure_cost, not_handled, unknown

_HASH_NOTE = "timm publishes no sha256 for its hub files; loading them needs --allow-unpinned"


def resolve(rest: str) -> ModelSpec:
    import timm  # deferred: timm imports torch
    from timm.models import get_pretrained_cfg

    name = f"timm:{rest}"
    arch, _, tag = rest.partition(".")
    if not timm.is_model(arch):
        raise unknown("timm", arch, timm.list_models())
    tagged = timm.list_pretrained(f"{arch}.*")
    if tag and rest not in tagged:
        raise unknown("timm", rest, tagged, what="pretrained tag")
    cfg = get_pretrained_cfg(rest)
    if cfg is None:
        raise UserError(f"{name}: timm has no pretrained cfg for {arch}, so its preprocessing is unknown")
    full = f"{arch}.{cfg.tag}" if cfg.tag else arch
    if not cfg.num_classes:
        raise not_handled(name, "feature-extraction", f" (timm's cfg for {full} has no classifier head)")
    try:
        pre = preprocess_from_timm(full)
    except ValueError as e:
        raise UserError(f"{name}: {e}") from None
    input_size = tuple(int(x) for x in cfg.input_size)
    params, flops = measure_cost(lambda: timm.create_model(full, pretrained=False), input_size)
    return ModelSpec(
        name=name, task="image-classification", source="timm", architecture=full,
        description=f"timm {arch}, pretrained cfg {cfg.tag or '(none)'} (derived from timm {library_version('timm')})",
        preprocess=pre, num_classes=int(cfg.num_classes), input_size=input_size,
        weights=_weights(cfg), params=params, flops=flops,
        notes="derived from timm's pretrained cfg; no reference figure (timm's results tables are not in the "
              "package)" + ("" if flops else "; FLOPs not measured (the network does not build on the meta device)"),
        extra={"derived": "timm", "timm_origin_url": cfg.origin_url or cfg.url or "", "paper_ids": cfg.paper_ids or ""},
        builder=BuilderRef("zoo.models._timm_nets:build"),
    )


def _weights(cfg) -> Weights | None:
    if not cfg.hf_hub_id:  # a cfg with only a URL (or nothing): zoo fetches hub files only for timm
        return None
    return Weights(kind="hf-hub", url=cfg.hf_hub_id, file_name=cfg.hf_hub_filename or "model.safetensors",
                   sha256="", hash_source=_HASH_NOTE, license=f"{cfg.license or 'unstated'} (timm pretrained cfg); "
                   f"{IMAGENET_NOTE if 'in1k' in (cfg.tag or '') else 'see the hub repo for the training data'}",
                   tag=cfg.tag or "", num_classes=int(cfg.num_classes))


def catalog() -> list[dict]:
    return cached_catalog("timm", _build_catalog)


def _build_catalog() -> list[dict]:
    import timm  # deferred: seconds; cached per timm version by cached_catalog
    from timm.models import get_pretrained_cfg

    tags: dict[str, list[str]] = {}
    for full in timm.list_pretrained():
        arch, _, tag = full.partition(".")
        tags.setdefault(arch, []).append(tag)
    out = []
    for arch in timm.list_models():
        cfg = get_pretrained_cfg(arch)
        out.append({"name": f"timm:{arch}", "task": "image-classification" if cfg and cfg.num_classes else None,
                    "library_task": "image-classification" if cfg and cfg.num_classes else "feature-extraction",
                    "source": "timm", "input": "x".join(map(str, cfg.input_size[1:])) if cfg else "",
                    "classes": cfg.num_classes if cfg else None, "weights": cfg.tag if cfg else "",
                    "tags": tags.get(arch, [])})
    return out
