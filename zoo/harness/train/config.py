"""TrainConfig: every setting of one training run, in one frozen dataclass (as nanoGPT's config block).

    cfg = TrainConfig(optimizer="adam", lr=3e-3, batch_size=32, epochs=10, seed=0)
    train(model, (x, y), cfg, loss_fn=F.cross_entropy)
    cfg.settings()                       # the row's "settings" (JSON-able), saved whole in the checkpoint
    cfg.command_args(TrainConfig())      # ["--optimizer", "adam", "--lr", "0.003", ...]: what differs from a base

Bad values are refused when the config is made (``UserError``, one line), before any data is read. The
``zoo train`` flags are generated from the fields marked ``cli`` (name ``lr`` -> ``--lr``), so the flags, the
recorded settings and the reproducing command line come from this one list.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ...errors import UserError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "step:EVERY:GAMMA")
DTYPES = ("fp32", "bf16", "fp16")
# Settings that decide the path of the weights: a resumed run must use the checkpoint's values. The budget
# (epochs, max_steps, max_minutes, patience) and the device may change between a run and its continuation.
TRAJECTORY = ("optimizer", "lr", "momentum", "betas", "weight_decay", "decay_biases", "l1", "l2", "schedule",
              "warmup", "warmup_steps", "clip_norm", "batch_size", "shuffle", "drop_last", "seed", "dtype")


def _opt(default: Any, help: str, type: Any = None, aliases: tuple[str, ...] = (), none: str | None = None) -> Any:
    """A field that ``zoo train`` exposes as ``--name`` (plus ``aliases``), parsed with ``type``; ``none``:
    how the command line writes the value None (e.g. clip_norm 0), if it can."""
    return field(default=default, metadata={"cli": True, "help": help, "type": type, "aliases": aliases, "none": none})


def batch_size_arg(s: str) -> int | str:
    """``--batch-size`` takes a positive int or ``full``."""
    return s if s == "full" else int(s)


@dataclass(frozen=True)
class TrainConfig:
    """All settings of a training run. Units: lr per optimizer step, max_minutes of training time."""

    # optimizer
    optimizer: str = _opt("sgd", "sgd, momentum (SGD with momentum), adam or adamw", str)
    lr: float = _opt(0.01, "peak learning rate", float)
    momentum: float = _opt(0.9, "momentum of the 'momentum' optimizer", float)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = _opt(0.0, "optimizer weight decay (decoupled for adamw)", float)
    decay_biases: bool = True  # False: weight decay on 2+-dim tensors only (not biases / norm scales), as BERT
    l1: float = _opt(0.0, "explicit L1 penalty on weight matrices (not biases)", float)
    l2: float = _opt(0.0, "explicit L2 penalty on weight matrices (not biases)", float)
    # schedule and clipping
    schedule: str = _opt("constant", "constant, cosine, linear or step:EVERY:GAMMA (after warm-up)", str)
    warmup: float = _opt(0.0, "linear warm-up over this fraction of the steps", float)
    warmup_steps: int = 0  # the same as a step count (warmup and warmup_steps: not both)
    clip_norm: float | None = _opt(None, "gradient-norm clipping (0: off)", float, ("--clip",), none="0")
    # data
    batch_size: int | None = _opt(32, "global batch size (all processes); 'full': full batch", batch_size_arg,
                                  none="full")
    epochs: int = _opt(1, "epochs (passes over the training data)", int)
    shuffle: bool = True
    drop_last: bool = False
    seed: int = _opt(0, "seed of the data order (and of the RNG state training starts from)", int)
    # budget and stopping
    max_steps: int | None = _opt(None, "stop after this many optimizer steps", int)
    max_minutes: float | None = _opt(None, "stop after this much training time (validation not counted)", float)
    patience: int | None = _opt(None, "early stopping: stop after N epochs in a row without a better validation", int)
    monitor: str = "loss"  # validation score watched for the best epoch: val_<monitor>
    monitor_mode: str = "min"
    restore_best: bool = True  # with patience: end with the best epoch's weights
    keep_best: bool = False  # end with the best epoch's weights even without patience
    record_partial: bool = False  # record (and validate) an epoch cut short by the budget
    divergence_factor: float | None = 10.0  # stop when the running loss exceeds this x the first loss
    # precision, device, state
    dtype: str = _opt("fp32", "fp32, or bf16 / fp16: forward and loss under autocast (fp32 weights)", str)
    device: str | None = _opt(None, "cpu or cuda[:i] (default: where the model is; torchrun: cuda:LOCAL_RANK)", str)
    checkpoint_every: int | None = _opt(None, "write the resumable state every N steps (and each epoch end)", int,
                                        ("--save-every",), none="0")

    def __post_init__(self) -> None:
        set_ = object.__setattr__.__get__(self)  # frozen: normalize through object.__setattr__
        if self.batch_size == "full":
            set_("batch_size", None)
        if self.clip_norm == 0:
            set_("clip_norm", None)
        if self.checkpoint_every == 0:
            set_("checkpoint_every", None)
        set_("betas", tuple(self.betas))
        _validate(self)

    @property
    def max_time_s(self) -> float | None:
        return None if self.max_minutes is None else 60.0 * self.max_minutes

    def settings(self) -> dict[str, Any]:
        """Every field, JSON-able: the row's settings and the checkpoint's record of the run."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "TrainConfig":
        """The config back from ``settings()``; an unknown name is a UserError naming the valid ones."""
        check_names(settings)
        return cls(**settings)

    def replace(self, **changes: Any) -> "TrainConfig":
        check_names(changes)
        return dataclasses.replace(self, **changes)

    def command_args(self, base: "TrainConfig") -> list[str]:
        """``zoo train`` flags that turn ``base`` into this config (CLI fields only, in field order)."""
        args = []
        for f in cli_fields():
            value = getattr(self, f.name)
            if value != getattr(base, f.name):
                text = f.metadata["none"] if value is None else str(value)
                if text is None:
                    raise ValueError(f"the command line cannot set {f.name} back to None")
                args += [cli_flag(f.name), text]
        return args


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def cli_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli")]


def check_names(names: Any) -> None:
    valid = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise UserError(f"unknown training setting {unknown[0]!r}; valid settings: {', '.join(valid)}")


def _validate(c: TrainConfig) -> None:
    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            raise UserError(f"{label(name)} must be {what}, got {getattr(c, name)!r}")

    def count(name: str, least: int, optional: bool = False) -> None:
        value = getattr(c, name)
        if not (optional and value is None):
            need(_int(value), name, "an int" + (" or None" if optional else ""))
            need(value >= least, name, f"at least {least}")

    need(c.optimizer in OPTIMIZERS, "optimizer", "one of " + ", ".join(OPTIMIZERS))
    need(_number(c.lr) and c.lr > 0, "lr", "a positive number")
    need(_number(c.momentum) and 0 <= c.momentum < 1, "momentum", "in [0, 1)")
    need(len(c.betas) == 2 and all(_number(b) and 0 <= b < 1 for b in c.betas), "betas", "two numbers in [0, 1)")
    for name in ("weight_decay", "l1", "l2", "warmup"):
        need(_number(getattr(c, name)) and getattr(c, name) >= 0, name, "a number >= 0")
    need(c.warmup < 1, "warmup", "a fraction of the steps below 1")
    count("warmup_steps", 0)
    if c.warmup and c.warmup_steps:
        raise UserError("give warmup (a fraction of the steps) or warmup_steps, not both")
    _check_schedule(c.schedule)
    need(c.clip_norm is None or (_number(c.clip_norm) and c.clip_norm > 0), "clip_norm", "a positive number or 0 (off)")
    count("batch_size", 1, optional=True)
    count("epochs", 1)
    count("seed", -(2**63))
    for name in ("max_steps", "patience", "checkpoint_every"):
        count(name, 1, optional=True)
    need(c.max_minutes is None or (_number(c.max_minutes) and c.max_minutes > 0), "max_minutes", "a positive number")
    need(c.monitor_mode in ("min", "max"), "monitor_mode", "'min' or 'max'")
    need(c.divergence_factor is None or (_number(c.divergence_factor) and c.divergence_factor > 0),
         "divergence_factor", "a positive number or None")
    need(c.dtype in DTYPES, "dtype", "one of " + ", ".join(DTYPES))
    need(c.device is None or isinstance(c.device, str), "device", "a string such as cpu or cuda:0")


def label(name: str) -> str:
    """How errors name a setting: its ``zoo train`` flag when it has one (``--max-minutes``), else its name."""
    return cli_flag(name) if TrainConfig.__dataclass_fields__[name].metadata.get("cli") else name


def _check_schedule(schedule: Any) -> None:
    if schedule in ("constant", "cosine", "linear"):
        return
    if isinstance(schedule, str) and schedule.startswith("step"):
        try:
            _, every, gamma = schedule.split(":")
            if int(every) >= 1 and float(gamma) > 0:
                return
        except ValueError:
            pass
        raise UserError(f"bad step schedule {schedule!r}; write step:EVERY:GAMMA, e.g. step:100:0.5")
    raise UserError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
