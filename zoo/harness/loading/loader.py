"""The loader (``zoo.harness.loading.load_model``); see the package docstring."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import registry
from ...errors import UserError
from ...models.base import RANDOM_INIT
from ...spec import WEIGHTS_CHOICES, ModelSpec
from ...tasks import get_task
from ...weights import WeightsHashMismatch, WeightsUnavailable
from .weights import cached, load_checkpoint_into, open_checkpoint

__all__ = ["WEIGHTS_CHOICES", "Loaded", "load_model", "resolve_weights"]



@dataclass
class Loaded:
    """What weights a loaded model holds, for its row."""

    weights: str  # what was asked: auto / pretrained / random / the checkpoint path
    source: str  # what it got: "checkpoint", "pretrained" or "random"
    checkpoint: str | None = None  # the checkpoint path loaded (given or the task's default)
    checkpoint_sha256: str | None = None
    train: dict[str, Any] = field(default_factory=dict)  # how a zoo train checkpoint was trained
    unavailable: str | None = None  # why "auto" fell back to random init, when it did

    @property
    def random(self) -> bool:
        return self.source == "random"


def resolve_weights(spec, task, weights: Any = "auto", *, fetch: bool = True) -> tuple[str, Path | None]:
    """(source, checkpoint path): what ``load_model`` will load for these arguments, without loading it."""
    if weights is None:
        weights = "auto"
    if isinstance(weights, (str, Path)) and str(weights) not in WEIGHTS_CHOICES:
        return "checkpoint", Path(weights).expanduser()
    if weights == "random":
        return "random", None
    if weights == "pretrained":
        if spec.weights is None:
            raise UserError(f"{spec.name} has no published weights; train it or give a checkpoint")
        return "pretrained", None
    default = task.default_checkpoint(spec) if task is not None else None
    if default is not None:
        return "checkpoint", Path(default)
    whole = spec.weights is not None and (task is None or task.pretrained_by_default(spec))
    if whole and (fetch or cached(spec)):
        return "pretrained", None
    return "random", None


def load_model(name: Any, weights: Any = "auto", *, task=None, device: str = "cpu", overrides: dict | None = None,
               fetch: bool = True):
    """(ZooModel in eval mode on ``device``, ``Loaded``). ``name``: a model name or its spec (a caller that
    resolved the name passes the spec: the registry is asked once); ``task``: the task object whose defaults
    apply (default: the model's own task); ``overrides``: builder settings (imgsz, conf ...)."""
    spec = name if isinstance(name, ModelSpec) else registry.get_spec(name)
    if task is None:
        task = get_task(spec.task)
    source, path = resolve_weights(spec, task, weights, fetch=fetch)
    asked = str(weights if weights is not None else "auto")
    if source == "checkpoint":
        model, info = open_checkpoint(spec, path, task, overrides)
        return model.to(device).eval(), Loaded(asked, source, str(path), model.weights_id, info)
    try:
        model = registry.build(spec, pretrained=source == "pretrained", **(overrides or {}))
    except (WeightsUnavailable, UserError) as e:
        if asked != "auto" or source != "pretrained" or not _unavailable(e):
            raise
        model = registry.build(spec, pretrained=False, **(overrides or {}))
        return model.to(device).eval(), Loaded(asked, "random", unavailable=str(e))
    got = "random" if model.weights_id == RANDOM_INIT else source
    return model.to(device).eval(), Loaded(asked, got)


def _unavailable(error: Exception) -> bool:
    """A pretrained file that cannot be had or does not verify (not a bad setting): auto goes on without it."""
    return isinstance(error, (WeightsUnavailable, WeightsHashMismatch))

