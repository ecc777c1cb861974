"""Rows of schema 1 -> schema 2: the same measured values under the version-2 field names.

What changes (values are moved or renamed, never recomputed):
- speed rows: ``metrics.error`` (the output deviation against fp32 eager) -> ``metrics.output_deviation``,
  and the same in every ``metrics.candidates[i]``; "error" now only ever means a failure message.
- vision eval rows: ``metrics.n`` -> ``n``, ``metrics.skipped`` -> ``skipped``,
  ``metrics.images_per_s`` -> ``metrics.items_per_s``.
- text eval rows (were in nlp.jsonl): ``task`` "sst2" / "multi30k" / "squad" -> the task
  (text-classification / translation / question-answering); ``settings.task`` -> ``settings.data``;
  ``metrics.eval_time_s`` -> ``metrics.seconds``.
- every row: ``schema`` 1 -> 2.

And one change within schema 2 (``upgrade_machine``, applied to every row read and by ``migrate``): a
``machine`` recorded before the ISA flags were gets ``"isa": null`` -- the flags are unknown, and are never
guessed from the CPU model name (machines named "AMD EPYC" have had AVX2 only, or AVX-512 VNNI + bf16).

``upgrade_row`` is also what ``make_row`` applies to rows built by callers still using the version-1 names,
and what the reader applies to version-1 rows of a raw file that was never migrated.
"""

from __future__ import annotations

import copy
from typing import Any

from .schema import SCHEMA_VERSION

# The --task names text evaluation used in schema 1 (they name a data set) -> the task they are.
TEXT_DATA_TASKS = {"sst2": "text-classification", "multi30k": "translation", "squad": "question-answering"}


def _rename(d: dict[str, Any], old: str, new: str) -> None:
    if old in d:
        if new in d:
            raise ValueError(f"both {old!r} and {new!r} present: cannot rename")
        d[new] = d.pop(old)


def _upgrade_speed(row: dict[str, Any]) -> None:
    m = row.get("metrics") or {}
    if isinstance(m.get("error"), dict) or (m.get("error") is None and "error" in m):
        _rename(m, "error", "output_deviation")
    for c in m.get("candidates") or []:
        if isinstance(c, dict) and isinstance(c.get("error"), dict):
            _rename(c, "error", "output_deviation")


def _upgrade_eval(row: dict[str, Any]) -> None:
    m = row.setdefault("metrics", {})
    if row.get("task") in TEXT_DATA_TASKS:
        settings = row.setdefault("settings", {})
        if settings.get("task") == row["task"]:
            _rename(settings, "task", "data")
        row["task"] = TEXT_DATA_TASKS[row["task"]]
        _rename(m, "eval_time_s", "seconds")
    if "n" in m and "n" not in row:
        row["n"] = m.pop("n")
    if "skipped" in m and "skipped" not in row:
        row["skipped"] = m.pop("skipped")
    _rename(m, "images_per_s", "items_per_s")


def needs_machine_upgrade(row: dict[str, Any]) -> bool:
    return isinstance(row.get("machine"), dict) and "isa" not in row["machine"]


def upgrade_machine(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``machine.isa`` explicit: null ("isa unknown") where the row did not record the flags."""
    if not needs_machine_upgrade(row):
        return row
    return {**row, "machine": {**row["machine"], "isa": None}}


def upgrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 copy of ``row`` (a schema-1 row, or a row built with schema-1 field names)."""
    out = upgrade_machine(copy.deepcopy(row))
    kind = out.get("kind")
    if kind == "speed":
        _upgrade_speed(out)
    elif kind == "eval":
        _upgrade_eval(out)
    out["schema"] = SCHEMA_VERSION
    return out
