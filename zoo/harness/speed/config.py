"""``BenchConfig``: every setting of one ``zoo bench`` measurement, in one frozen dataclass.

Each field declares its role once, in its metadata: ``key`` (part of a row's identity, so resume skips
what was measured before), ``record`` (copied into the row's settings), ``flag`` / ``switches`` (how it
is written on a ``zoo bench`` command line and parsed back from one). The row key, the recorded
settings, the reproducing command line and the CLI options are all derived from these fields.

Fields hold what was asked for; ``resolved()`` fills in the defaults that depend on other fields
(fp32 unless auto; the rest from the backend's ``setting_defaults``, e.g. inductor freezing and bf16
autocast for compile on CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence

from ...errors import UserError
from ...results import isa_label, machine_info
from .. import backends  # the package; its registry (torch) loads on first use of backends.get_backend etc.
from ..backends.catalog import AUTO, PRECISIONS, check_backend_name, check_dtype, listed
from .timing import TimingPolicy

ACCURACY_CHECKS = ("auto", "never")


def _setting(default: Any, *, key: bool = False, record: bool = False, flag: str | None = None,
             switches: dict[Any, str] | None = None, type: Any = None, metavar: str | None = None,
             help: str = "") -> Any:
    meta = {"key": key, "record": record or key, "flag": flag, "switches": switches or {}, "type": type,
            "metavar": metavar, "help": help}
    return field(default=default, metadata=meta)


def parse_batch_sizes(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """``"1,8,32"`` (or a sequence) -> (1, 8, 32); a one-line UserError for anything else."""
    try:
        sizes = tuple(int(s) for s in (str(text).split(",") if isinstance(text, (str, int)) else text) if str(s).strip())
    except (TypeError, ValueError):
        raise UserError(f"--batch-size: expected integers like 1,8,32, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise UserError(f"--batch-size: batch sizes must be positive integers, got {text!r}")
    return sizes


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how. Keys of a row are made of the ``key`` fields (resolved), the model, the
    batch size asked for, the device kind and the machine's CPU/GPU model; timing knobs are not part of it."""

    device: str = _setting("cpu", record=True, flag="--device", help="cpu or cuda[:i] (default cpu)")
    batch_sizes: tuple[int, ...] = _setting(  # also "1,8" or a list: __post_init__ parses it (one-line errors)
        (1,), flag="--batch-size", metavar="N[,N...]",
        help="batch size or comma-separated sweep, e.g. 1,8,32 (default 1)")
    backend: str = _setting(
        "eager", key=True, flag="--backend", metavar="{backend_choices}", help="one of {backends} (default eager)")
    dtype: str | None = _setting(
        None, key=True, flag="--dtype", metavar="{dtype_choices}",
        help="one of {dtypes} (default fp32; with --backend auto, auto may pick a lower precision)")
    channels_last: bool = _setting(
        False, key=True, switches={True: "--channels-last"}, help="channels_last memory format (vision)")
    precision: str | None = _setting(
        None, key=True, flag="--precision", metavar="{{cast,autocast,bf16}}",
        help="how bf16/fp16 is applied (default: autocast for compile on CPU, cast otherwise); openvino "
             "--dtype int8 --precision bf16: the layers left unquantized run in bf16 (CPUs with native bf16)")
    compile_mode: str | None = _setting(
        None, key=True, flag="--compile-mode", metavar="MODE",
        help="torch.compile mode (default, reduce-overhead, max-autotune)")
    freezing: bool | None = _setting(
        None, key=True, switches={False: "--no-freezing"}, help="compile on CPU without inductor freezing")
    cuda_graphs: bool = _setting(
        False, key=True, switches={True: "--cuda-graphs"}, help="replay the forward as a CUDA graph (GPU)")
    threads: int | None = _setting(
        None, key=True, flag="--threads", type=int, metavar="N", help="torch intra-op threads (default: torch's)")
    pretrained: bool | str = _setting(
        "auto", key=True, switches={False: "--random-weights", True: "--pretrained"},
        help="random init even when weights are cached (default: cached weights, else random init) | "
             "require pretrained weights (error when missing; default: cached weights, else random init)")
    checkpoint: str | None = _setting(
        None, key=True, flag="--checkpoint", metavar="FILE|FOLDER",
        help="time these weights (a state-dict file or a `zoo train` folder) instead of the default ones; "
             "with --backend auto, the accuracy budget is checked on eval rows of this checkpoint")
    compare: bool = _setting(
        False, key=True, switches={True: "--compare"}, help="also time fp32 eager side by side; record the speedup")
    seq_len: int | None = _setting(
        None, key=True, flag="--seq-len", type=int, metavar="TOKENS",
        help="pad text inputs to this many tokens (e.g. 128)")
    accuracy_budget: float | None = _setting(  # recorded, not part of the key: it decides the pick, not the timing
        None, record=True, flag="--accuracy-budget", type=float, metavar="POINTS",
        help="with --backend auto, a bf16/fp16/int8 configuration is picked only if its eval row loses at most "
             "this many points of the headline score vs fp32 eager (default 1.0: top-1, mAP, accuracy/F1)")
    accuracy_check: str = _setting(  # recorded, not part of the key: it decides the pick, not the timing
        "auto", record=True, flag="--accuracy-check", metavar="{{auto,never}}",
        help="with --backend auto and real weights: auto = score each bf16/fp16/int8 candidate that has no eval "
             "row on the task's local data (calibrated on other items of it) | never = only read eval rows")
    accuracy_time_limit: float = _setting(
        600.0, record=True, flag="--accuracy-time-limit", type=float, metavar="SECONDS",
        help="seconds each candidate's own accuracy check may take; a candidate past it is not picked")
    skip: tuple[str, ...] = _setting(  # also "a,b" or a list: __post_init__ parses it
        (), record=True, flag="--skip", metavar="CONFIG[,CONFIG...]",
        help="with --backend auto, leave out the candidates whose label starts with one of these, e.g. "
             "openvino+int8,compile (recorded as skipped; cold setup of each int8 candidate takes 10-60 s)")
    stages: bool | None = _setting(
        None, switches={True: "--stages", False: "--no-stages"},
        help="time preprocess / postprocess / end to end (default: detection and text models) | skip the stage timing")
    warmup: int = _setting(
        5, record=True, flag="--warmup", type=int, metavar="N", help="untimed calls before timing (default 5)")
    min_iters: int = _setting(
        10, record=True, flag="--min-iters", type=int, metavar="N", help="at least this many timed calls (default 10)")
    min_duration_s: float = _setting(
        2.0, record=True, flag="--min-duration", type=float, metavar="SECONDS",
        help="at least this many seconds timed (default 2)")
    rounds: int = _setting(
        3, record=True, flag="--rounds", type=int, metavar="N",
        help="alternating rounds when comparing backends (default 3)")
    profile: bool = _setting(
        False, record=True, switches={True: "--profile"},
        help="also record where a call's time goes, by layer type, when the chosen runtime reports it (OpenVINO's "
             "per-layer counters, on a second compilation after the timing)")
    paired_peak: bool = _setting(
        False, record=True, switches={True: "--paired-peak"},
        help="also time the peak probes of the chosen configuration's precision beside it, in alternating rounds: "
             "the share of a peak measured in the same minutes (share_of_peak_paired; this CPU's speed drifts)")
    error_items: int = _setting(8)  # real items the output deviation is measured on
    peak: bool = _setting(True)  # measure the device's matmul peak (share of peak in the row)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_sizes", parse_batch_sizes(self.batch_sizes))
        skip = self.skip.split(",") if isinstance(self.skip, str) else (self.skip or ())
        object.__setattr__(self, "skip", tuple(str(x).strip() for x in skip if str(x).strip()))
        if not check_backend_name(self.backend):  # the catalog decides without torch when it can
            backends.get_backend(self.backend)  # a one-line UserError with the closest names
        if not check_dtype(self.dtype) and self.dtype not in backends.backend_dtypes():
            raise UserError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(backends.backend_dtypes())}")
        if self.accuracy_check not in ACCURACY_CHECKS:
            raise UserError(f"--accuracy-check must be one of {', '.join(ACCURACY_CHECKS)}, got {self.accuracy_check!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        if self.precision == "bf16" and (self.backend != "openvino" or self.dtype != "int8"):
            raise UserError("--precision bf16 is for --backend openvino --dtype int8 (the unquantized layers in "
                            "bf16); bf16 itself is --dtype bf16")
        for name, low in (("threads", 1), ("seq_len", 1), ("warmup", 0), ("min_iters", 1), ("rounds", 1),
                          ("error_items", 1), ("min_duration_s", 0), ("accuracy_budget", 0),
                          ("accuracy_time_limit", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < low):
                raise UserError(f"{_flag_of(name)} must be a number >= {low}, got {value!r}")

    # --- derived, written once ----------------------------------------------------------------------

    @property
    def cpu(self) -> bool:
        return not str(self.device).startswith("cuda")

    def resolved(self) -> dict[str, Any]:
        """The ``key`` fields with their defaults filled in: what a row records and its key is made of."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["key"]}
        # auto's candidates bring their own settings; its key records freezing as compile's CPU default
        if self.backend == AUTO:
            defaults = {"freezing": self.cpu}
        else:
            defaults = backends.get_backend(self.backend).setting_defaults(self.cpu)
        if self.dtype is None:
            out["dtype"] = None if self.backend == AUTO else "fp32"
        if self.freezing is None:
            out["freezing"] = defaults.get("freezing", False)
        if self.precision is None:
            out["precision"] = defaults.get("precision", "cast")
        return out

    def backend_config(self) -> backends.BackendConfig:
        """The single configuration an explicit ``--backend`` runs (not for auto)."""
        return backends.explicit_config(self.backend, self.dtype, self.precision, cpu=self.cpu, channels_last=self.channels_last,
                               compile_mode=self.compile_mode, freezing=self.freezing, cuda_graphs=self.cuda_graphs)

    def timing(self) -> TimingPolicy:
        return TimingPolicy(warmup=self.warmup, min_iters=self.min_iters, min_duration_s=self.min_duration_s)

    def recorded(self, threads_used: int | None = None) -> dict[str, Any]:
        """The settings a row records: the resolved key fields, the device, the timing policy, and the
        thread count used beside the one asked for (a key uses the one asked for)."""
        rec = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["record"]}
        return {**rec, **self.resolved(), **self.timing().as_dict(), "threads": threads_used,
                "threads_requested": self.threads}

    def row_key(self, name: str, batch_size: int, machine: dict[str, Any] | None = None) -> str:
        """Identity of one row: model, batch size asked for, device kind, the machine's CPU (model, cores and ISA
        tier when recorded) or GPU model, and the resolved key settings. ``machine``: a row's machine (default: this one)."""
        m = machine if machine is not None else machine_info()
        ident = {"model": name, "batch_size": int(batch_size), "device": str(self.device).split(":")[0],
                 "hw": m.get("gpu") if not self.cpu else f"{m.get('cpu')}|{m.get('cores')}", **self.resolved()}
        if ident.get("checkpoint") is None:  # keys of rows from before the setting existed stay as they were
            ident.pop("checkpoint", None)
        if self.cpu and m.get("isa") is not None:  # one CPU model name has come with AVX2 only or AVX-512 VNNI+bf16
            ident["hw"] += "|" + isa_label(m["isa"])
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def command(self, names: Sequence[str]) -> str:
        """The ``zoo bench`` command line that reproduces this configuration (flags only where not default,
        device, batch sizes and backend always)."""
        parts = ["zoo", "bench", *names]
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            always = f.name in ("device", "batch_sizes", "backend")
            if meta["flag"] and (always or value != f.default):
                text = ",".join(map(str, value)) if f.name in ("batch_sizes", "skip") else (
                    f"{value:g}" if isinstance(value, float) else str(value))
                parts += [meta["flag"], text]
            elif value != f.default and value in meta["switches"]:
                parts.append(meta["switches"][value])
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batch_sizes": list(self.batch_sizes)}

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "BenchConfig":
        """The configuration a row's recorded settings came from (its key is the row's key)."""
        names = {f.name for f in fields(cls) if f.metadata["record"]}
        kw = {k: v for k, v in settings.items() if k in names}
        kw["threads"] = settings.get("threads_requested", settings.get("threads"))
        if "requested_batch_size" in settings:
            kw["batch_sizes"] = (settings["requested_batch_size"],)
        if kw.get("precision") not in (None, *PRECISIONS):  # a backend's own resolved default (openvino: "hint"),
            kw["precision"] = None  # which the backend resolves to again
        return cls(**kw)


def _flag_of(name: str) -> str:
    f = {f.name: f for f in fields(BenchConfig)}[name]
    return f.metadata["flag"] or name


# --- the CLI side: the same fields, parsed from ``zoo bench`` options ----------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one option per flagged BenchConfig field; ``config_from_args`` reads them back."""
    names, dtypes = listed()  # read from source until the registry is loaded: no torch to build the parser
    names = [*names, AUTO]
    fmt = {"backends": ", ".join(names), "dtypes": ", ".join(dtypes),
           "backend_choices": "{" + ",".join(names) + "}", "dtype_choices": "{" + ",".join(dtypes) + "}"}
    for f in fields(BenchConfig):
        meta, helptext = f.metadata, f.metadata["help"].format(**fmt)
        if meta["flag"]:
            metavar = meta["metavar"].format(**fmt) if meta["metavar"] else None
            parser.add_argument(meta["flag"], dest=f.name, default=f.default, type=meta["type"] or str,
                                metavar=metavar, help=helptext)
            continue
        switches = list(meta["switches"].items())
        target = parser.add_mutually_exclusive_group() if len(switches) > 1 else parser
        for i, (value, flag) in enumerate(switches):
            part = helptext.split(" | ")[i] if " | " in helptext else helptext
            target.add_argument(flag, dest=f.name, action="store_const", const=value, default=f.default, help=part)


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(**{f.name: getattr(args, f.name) for f in fields(BenchConfig)
                          if f.metadata["flag"] or f.metadata["switches"]})
