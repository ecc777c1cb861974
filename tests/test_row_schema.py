"""The row schema: every committed raw row is valid; validate() names the field it rejects."""

import json
from pathlib import Path

import pytest
from helpers import eval_row

from zoo.results import (
    KINDS,
    SCHEMA_VERSION,
    RowSchemaError,
    make_row,
    read_rows,
    schema,
    validate,
)

RAW = Path(__file__).resolve().parents[1] / "results" / "raw"
RAW_FILES = sorted(RAW.glob("*.jsonl"))


def test_there_are_committed_raw_rows():
    assert RAW_FILES and {p.stem for p in RAW_FILES} >= {"eval", "speed", "studies", "train", "frameworks"}


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: p.name)
def test_every_committed_row_is_valid_and_migrated(path):
    """Each line is a schema-2 row with its checksum (migrated once; no schema-1 row read through the upgrade)."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stored = json.loads(line)
        assert stored.get("schema") == SCHEMA_VERSION and "checksum" in stored, f"{path.name}:{i} not migrated"
    rows = read_rows(path)  # checksum + schema validation of every row
    assert rows


def test_rows_live_in_the_file_of_their_kind():
    kinds = {p.stem: {r["kind"] for r in read_rows(p)} for p in RAW_FILES}
    assert kinds["eval"] == {"eval"} and kinds["train"] == {"train"}
    assert "nlp" not in kinds
    assert {"text-classification", "translation", "question-answering", "image-classification"} <= {
        r["task"] for r in read_rows(RAW / "eval.jsonl")}


def test_docstring_names_every_kind():
    for kind in KINDS:
        assert f'kind "{kind}"' in schema.__doc__, kind


def _eval():
    return eval_row("m", {"bleu": 22.7, "chrf": 45.5}, task="translation", dataset="Multi30k en-de test", n=1000,
                    weights=None, settings={"data": "multi30k"})


@pytest.mark.parametrize("change, field", [
    (lambda r: r.pop("n"), "'n': missing"),
    (lambda r: r.update(n=True), "'n': must be int, got bool"),
    (lambda r: r.update(n=10.0), "'n': must be int, got float"),
    (lambda r: r.update(task="multi30k"), "'task': 'multi30k' is not a task"),
    (lambda r: r.update(metrics={"bleu": "22.7"}), "'metrics.bleu'"),
    (lambda r: r.update(metrics={}), "'metrics': an eval row needs"),
    (lambda r: r.update(settings=None), "'settings': must be dict"),
    (lambda r: r.update(weigths="random-init"), "'weigths': not a field of 'eval' rows"),
    (lambda r: r.update(kind="evaluation"), "'kind': 'evaluation' is not a row kind"),
    (lambda r: r.update(schema=1), "'schema': 1, expected 2"),
    (lambda r: r.update(error={"rel_l2": 0.1}), "'error': must be str or null"),
])
def test_validate_names_the_field(change, field):
    row = _eval()
    validate(row)
    change(row)
    with pytest.raises(RowSchemaError, match=field.replace("(", r"\(")) as e:
        validate(row)
    assert "\n" not in str(e.value)


def test_speed_rows_keep_error_for_failures_only():
    ok = make_row("speed", model="m", status="ok", key="k", command="c", device="cpu",
                  metrics={"p50_ms": 1.0, "output_deviation": {"rel_l2": 1e-3, "top1_agreement": 1.0}})
    validate(ok)
    bad = {**ok, "metrics": {**ok["metrics"], "error": {"rel_l2": 1e-3}}}
    with pytest.raises(RowSchemaError, match="metrics.output_deviation"):
        validate(bad)
    failed = {**ok, "status": "error"}
    with pytest.raises(RowSchemaError, match="'error': a speed row with status 'error' needs"):
        validate(failed)
    validate({**failed, "error": "build failed: out of memory"})
    with pytest.raises(RowSchemaError, match="'status'"):
        validate({**ok, "status": "oom"})


def test_every_kind_has_a_row_that_passes():
    rows = [
        _eval(),
        make_row("speed_overhead", model="m", status="ok", command="pytest", device="cpu", metrics={"overhead_pct": 1.0}),
        make_row("train", model="bilstm", history=[{"epoch": 1}], device="cpu", checkpoint_sha256=None,
                 metrics={"steps": 3}),
        make_row("study", model="mlp", study="s", title="t", run_id="r", seeds=[0], curves={}, study_wall_s=1,
                 command="zoo study s", device="cpu"),
        make_row("frameworks", model="resnet50", framework="timm", framework_version="1.0", note=None),
        make_row("speed", model="m", status="ok", key="k", command="c", device="cpu"),
        make_row("peers", model="resnet50", peer="torch eager fp32", scope="forward", status="ok",
                 command="python -m zoo.experiments.peers", device="cpu", library={"torch": "2"},
                 metrics={"p50_ms": 1.0, "items_per_s": 1000.0}),
    ]
    assert {r["kind"] for r in rows} == set(KINDS)
    for r in rows:
        validate(json.loads(json.dumps(r)))
