"""The row schema (version 2): the fields of every row kind, checked when a row is written and when it is read.

Every row, any kind (``make_row`` fills the provenance fields):
    schema: int (2)            kind: str                    model: str | None
    spec_hash: str | None      weights: str | None ("random-init" or the loaded file's sha256)
    dataset: str | None        dataset_sha256: str | None
    settings: dict (what was asked for)                      metrics: dict (what was measured)
    machine: dict (cpu, cores, physical_cores, threads, isa: list of zoo.results.provenance.ISA_FLAGS it has,
             or null when unknown -- rows before the flags were recorded --, mem_gib, gpu, driver, os, python)  versions: dict  commit: str | None  time: str (ISO 8601, UTC)
  optional: error: str | None (a FAILURE MESSAGE only, never a measured value), command: str,
            device: str, note: str | None

kind "eval" (results/raw/eval.jsonl; every task, vision and text; written by ``zoo eval``):
    model: str   task: str (a zoo.spec.known_tasks() name)   dataset: str (data set name)   n: int (items scored)
    metrics: {<the task's score keys>: number, ...; optional "seconds": wall time of the loop (s),
              "items_per_s": items scored per second}
      score keys used so far: image-classification top1, top5 (%), correct1, correct5;
      object-detection map, map50 (%); text-classification accuracy, f1, precision, recall (%);
      translation bleu, chrf; question-answering exact_match, f1 (%)
  optional: skipped: int (unreadable items skipped), skipped_files: list, n_split: int | None (items in the
    split when --limit scored fewer), references: list of dicts (published figures beside the measured
    ones), data_path, layout, class_mapping, architecture, source, predictions: str | None (path),
    signatures: dict (e.g. sacrebleu), params: int | None, train: dict (how the checkpoint was trained),
    checkpoint_sha256: str | None, backend: dict | None (``zoo eval --backend``: label, numerics, config, setup),
    data_warnings: dict (entries of the data dropped or skipped, by reason: invalid_boxes, duplicate_image_ids,
    linked_class_folders, ...; absent when none)
  settings usually: batch_size, device, limit, dtype, split, data (the --data name, e.g. "sst2"), ...

kind "speed" (results/raw/speed.jsonl; ``zoo bench``):
    status: "ok" | "error"   key: str (the resume key)   command: str   device: str
  optional: backend_used, flags: list, scenario, task, error: str (only when status is "error"),
    noisy: true (other processes or drifting rounds made the timing untrustworthy; a "noisy: ..." flag says
    why; tables of ratios leave such rows out unless asked)
    metrics: p50_ms, p90_ms, p99_ms, mean_ms, min_ms, items_per_s, latencies_ms [...], peak_mem_mib, ...;
      output_deviation: {rel_l2, top1_agreement | box_agreement, error_items, ...} -- the outputs against
      fp32 eager (was metrics["error"] in schema 1); candidates: [{config, p50_ms, output_deviation, ...}]
      (a candidate that failed has "failed": message); noise: {other_cores, cores, load_before, load_after,
      round_spread, iqr_over_median, window_s, reason (only when noisy)} (zoo.harness.speed.noise)
kind "speed_overhead": status, command, device; metrics overhead_pct, ratios, ...
kind "train" (results/raw/train.jsonl; ``zoo train``): model: str, history: list (one dict per epoch),
    device: str, checkpoint_sha256: str | None; metrics train_time_s, steps, items, best_val, best_epoch, ...
kind "study" (results/raw/studies.jsonl; ``zoo study``): study, title, run_id, command, device: str;
    seeds: list; curves: dict; study_wall_s: number
kind "frameworks" (results/raw/frameworks.jsonl): framework, framework_version: str; note: str | None
kind "peers" (results/raw/peers.jsonl; python -m zoo.experiments.peers): peer, status ("ok" | "skipped" |
    "error"), command, device: str; scope: "forward" | "end to end" | None; library: dict (the peer's versions);
    metrics p50_ms, items_per_s, zoo_pick_p50_ms, speed_vs_zoo, share_of_peak, layer_profile (OpenVINO's
    per-layer counters) with layers_ / mac_layers_share_of_peak, ...; note: why a peer was skipped

A field a kind does not list is an error, so a typo or a new field fails at write time: add a new field to
its kind here (one line) when a harness starts writing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..spec import known_tasks

SCHEMA_VERSION = 2

_NUM = "number"  # int or float, not bool
_STR, _INT, _DICT, _LIST, _NONE = str, int, dict, list, type(None)
_TYPE_NAMES = {str: "str", int: "int", dict: "dict", list: "list", type(None): "null", float: "float", bool: "bool"}


class RowSchemaError(UserError, ValueError):
    """A row does not match the schema of its kind; the message names the field."""


@dataclass(frozen=True)
class Kind:
    """The fields of one row kind beyond the common ones: name -> allowed types."""

    name: str
    required: dict[str, tuple] = field(default_factory=dict)
    optional: dict[str, tuple] = field(default_factory=dict)


COMMON_REQUIRED: dict[str, tuple] = {
    "schema": (_INT,), "kind": (_STR,), "model": (_STR, _NONE), "spec_hash": (_STR, _NONE),
    "weights": (_STR, _NONE), "dataset": (_STR, _NONE), "dataset_sha256": (_STR, _NONE), "settings": (_DICT,),
    "metrics": (_DICT,), "machine": (_DICT,), "versions": (_DICT,), "commit": (_STR, _NONE), "time": (_STR,),
}
COMMON_OPTIONAL: dict[str, tuple] = {
    "error": (_STR, _NONE), "command": (_STR,), "device": (_STR,), "note": (_STR, _NONE),
}

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("eval",
         required={"model": (_STR,), "task": (_STR,), "dataset": (_STR,), "n": (_INT,)},
         optional={"skipped": (_INT,), "skipped_files": (_LIST,), "n_split": (_INT, _NONE), "references": (_LIST,),
                   "data_path": (_STR,), "layout": (_STR, _NONE), "class_mapping": (_STR, _NONE),
                   "architecture": (_STR, _NONE), "source": (_STR, _NONE), "predictions": (_STR, _NONE),
                   "signatures": (_DICT,), "params": (_INT, _NONE), "train": (_DICT, _NONE),
                   "checkpoint_sha256": (_STR, _NONE), "backend": (_DICT, _NONE), "data_warnings": (_DICT,)}),
    Kind("speed",
         required={"status": (_STR,), "key": (_STR,), "command": (_STR,), "device": (_STR,)},
         optional={"backend_used": (_STR, _NONE), "flags": (_LIST,), "scenario": (_STR, _NONE),
                   "task": (_STR, _NONE), "noisy": (bool,)}),
    Kind("speed_overhead", required={"status": (_STR,), "command": (_STR,), "device": (_STR,)}),
    Kind("train",
         required={"model": (_STR,), "history": (_LIST,), "device": (_STR,), "checkpoint_sha256": (_STR, _NONE)},
         optional={"task": (_STR, _NONE)}),
    Kind("study",
         required={"study": (_STR,), "title": (_STR,), "run_id": (_STR,), "seeds": (_LIST,), "curves": (_DICT,),
                   "study_wall_s": (_NUM,), "command": (_STR,), "device": (_STR,)}),
    Kind("frameworks",
         required={"framework": (_STR,), "framework_version": (_STR,), "note": (_STR, _NONE)}),
    Kind("peers",
         required={"peer": (_STR,), "status": (_STR,), "command": (_STR,), "device": (_STR,)},
         optional={"scope": (_STR, _NONE), "library": (_DICT,)}),
)}

SPEED_STATUSES = ("ok", "error")


def _type_ok(value: Any, types: tuple) -> bool:
    for t in types:
        if t == _NUM:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif t is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif isinstance(value, t):
            return True
    return False


def _names(types: tuple) -> str:
    return " or ".join("number" if t == _NUM else _TYPE_NAMES.get(t, str(t)) for t in types)


def _check_fields(row: dict[str, Any], required: dict[str, tuple], optional: dict[str, tuple], kind: str) -> None:
    for name, types in required.items():
        if name not in row:
            raise RowSchemaError(f"field {name!r}: missing (required in {kind!r} rows)")
    for name, value in row.items():
        types = required.get(name, optional.get(name))
        if types is None:
            raise RowSchemaError(f"field {name!r}: not a field of {kind!r} rows (see zoo/results/schema.py)")
        if not _type_ok(value, types):
            raise RowSchemaError(f"field {name!r}: must be {_names(types)}, got {_TYPE_NAMES.get(type(value), type(value).__name__)}")


def _check_machine(row: dict[str, Any]) -> None:
    isa = row["machine"].get("isa")
    if isa is not None and not (isinstance(isa, list) and all(isinstance(f, str) for f in isa)):
        raise RowSchemaError("field 'machine.isa': must be a list of CPU flag names, or null (unknown)")


def _check_eval(row: dict[str, Any]) -> None:
    if row["task"] not in known_tasks():
        raise RowSchemaError(f"field 'task': {row['task']!r} is not a task ({', '.join(known_tasks())})")
    for k, v in row["metrics"].items():
        if not _type_ok(v, (_NUM, _NONE, _DICT, _LIST)):
            raise RowSchemaError(f"field 'metrics.{k}': must be a number, null, dict or list")
    if not any(_type_ok(v, (_NUM,)) for v in row["metrics"].values()):
        raise RowSchemaError("field 'metrics': an eval row needs at least one numeric score")


def _check_speed(row: dict[str, Any]) -> None:
    if row["status"] not in SPEED_STATUSES:
        raise RowSchemaError(f"field 'status': {row['status']!r} is not one of {', '.join(SPEED_STATUSES)}")
    if row["status"] == "error" and not row.get("error"):
        raise RowSchemaError("field 'error': a speed row with status 'error' needs the failure message")
    m = row["metrics"]
    if "error" in m:
        raise RowSchemaError("field 'metrics.error': the output deviation is 'metrics.output_deviation' since schema 2")
    if not _type_ok(m.get("output_deviation"), (_DICT, _NONE)):
        raise RowSchemaError("field 'metrics.output_deviation': must be a dict")
    for i, c in enumerate(m.get("candidates") or []):
        if not isinstance(c, dict) or "error" in c:
            raise RowSchemaError(f"field 'metrics.candidates[{i}]': a dict whose deviation is 'output_deviation'")


_EXTRA_CHECKS = {"eval": _check_eval, "speed": _check_speed}


def validate(row: Any) -> None:
    """Raise RowSchemaError (one line, naming the field) when ``row`` is not a valid row of its kind."""
    if not isinstance(row, dict):
        raise RowSchemaError(f"a row must be a JSON object, got {type(row).__name__}")
    kind = row.get("kind")
    if kind not in KINDS:
        raise RowSchemaError(f"field 'kind': {kind!r} is not a row kind ({', '.join(KINDS)})")
    if row.get("schema") != SCHEMA_VERSION:
        raise RowSchemaError(f"field 'schema': {row.get('schema')!r}, expected {SCHEMA_VERSION}")
    spec = KINDS[kind]
    required = {**COMMON_REQUIRED, **spec.required}
    optional = {**COMMON_OPTIONAL, **spec.optional}
    _check_fields(row, required, optional, kind)
    _check_machine(row)
    check = _EXTRA_CHECKS.get(kind)
    if check is not None:
        check(row)
