"""python -m zoo.results.migrate: schema-1 raw rows -> schema 2, nothing measured changed or lost.

tests/data/raw_v1 holds real schema-1 rows copied from results/raw before the migration: vision and text eval
rows, train rows, speed rows (with candidates, stages and an overhead row), study and frameworks rows.
"""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from zoo.results import read_all
from zoo.results.migrate import lost_numbers, main, migrate, numeric_leaves
from zoo.results.upgrade import upgrade_row

V1 = Path(__file__).resolve().parent / "data" / "raw_v1"


@pytest.fixture
def raw(tmp_path) -> Path:
    d = tmp_path / "raw"
    shutil.copytree(V1, d)
    return d


def _old_rows() -> list[dict]:
    return [json.loads(line) for p in sorted(V1.glob("*.jsonl")) for line in p.read_text().splitlines()]


def _identity(r: dict) -> tuple:
    return (r["kind"], r["model"], r["time"], r.get("key"), r.get("run_id"), r.get("framework"),
            json.dumps(r.get("seeds")), str((r.get("settings") or {}).get("seed")))


def test_every_numeric_leaf_of_every_old_row_survives(raw):
    old = _old_rows()
    assert {r["schema"] for r in old} == {1}
    migrate(raw)
    new = [r for rows in read_all(raw).values() for r in rows]
    assert len(new) == len(old)
    by_id = {_identity(r): r for r in new}
    assert len(by_id) == len(new)
    for r in old:
        moved = by_id[_identity(upgrade_row(r))]
        assert not lost_numbers(r, moved), r["kind"]
        # and nothing numeric was invented either
        assert numeric_leaves({k: v for k, v in moved.items() if k != "schema"}) == \
            numeric_leaves({k: v for k, v in r.items() if k != "schema"})


def test_rows_are_routed_and_renamed(raw):
    migrate(raw)
    rows = read_all(raw)
    assert set(rows) == {"eval", "train", "speed", "studies", "frameworks"}  # nlp.jsonl emptied and removed
    assert not (raw / "nlp.jsonl").exists()
    tasks = Counter(r["task"] for r in rows["eval"])
    assert tasks == {"image-classification": 2, "text-classification": 1, "translation": 1, "question-answering": 1}
    text = next(r for r in rows["eval"] if r["task"] == "translation")
    assert text["settings"]["data"] == "multi30k" and "task" not in text["settings"]
    assert "seconds" in text["metrics"] and "eval_time_s" not in text["metrics"]
    vision = rows["eval"][0]
    assert vision["n"] == 200 and vision["skipped"] == 0 and "items_per_s" in vision["metrics"]
    assert not {"n", "skipped", "images_per_s"} & set(vision["metrics"])
    auto = next(r for r in rows["speed"] if "candidates" in r["metrics"])
    assert "error" not in auto["metrics"] and auto["metrics"]["output_deviation"]["top1_agreement"] == 1.0
    assert all("error" not in c for c in auto["metrics"]["candidates"])
    assert {r["kind"] for r in rows["train"]} == {"train"}


def test_migration_is_idempotent_and_check_writes_nothing(raw, capsys):
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    assert main([str(raw), "--check"]) == 1
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    assert "would change" in capsys.readouterr().out
    assert main([str(raw)]) == 0
    after = {p.name: p.read_bytes() for p in raw.iterdir()}
    assert migrate(raw) == [] and main([str(raw), "--check"]) == 0
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == after


def test_a_corrupt_file_stops_the_migration_before_anything_is_written(raw):
    with open(raw / "speed.jsonl", "ab") as f:
        f.write(b'{"kind": "speed", oops}\n')
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    assert main([str(raw)]) == 2
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
