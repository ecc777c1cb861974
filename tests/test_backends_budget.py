"""The accuracy budget: ``--backend auto`` picks a bf16/fp16/int8 configuration only when an eval row on real
data shows it within budget of the fp32 eager eval row on the same data; rows built here, tiny models."""

from __future__ import annotations

import helpers
import pytest
import torch
from helpers import FAST, tiny

from zoo.harness import backends
from zoo.harness.backends import (
    Backend,
    BackendConfig,
    Capabilities,
    Prepared,
    make_to_inputs,
    register_backend,
)
from zoo.harness.speed import accuracy_budget as ab
from zoo.harness.speed.config import BenchConfig
from zoo.harness.speed.runner import bench
from zoo.results import append_row, make_row, raw_path

WEIGHTS = "ab" * 32  # a "real" weights sha256
INT8 = BackendConfig("toyq", "int8")


def eval_row(model: str, top1: float, backend: BackendConfig | None = None, *, weights: str = WEIGHTS,
             dataset_sha256: str = "d" * 64, n: int = 200, time: str = "2026-11-30T10:00:00Z") -> dict:
    extra = {"backend": {"label": backend.label, "numerics": backend.numerics}} if backend else {}
    return helpers.eval_row(model, {"top1": top1, "top5": 90.0}, weights=weights, dataset_sha256=dataset_sha256, n=n,
                            time=time, **extra)


def test_fp32_configs_need_no_check_and_random_weights_are_flagged():
    assert ab.check("m", "image-classification", WEIGHTS, BackendConfig("onnxruntime"), rows=[])["status"] == \
        "not needed: fp32"
    c = ab.check("m", "image-classification", "random-init", BackendConfig("openvino", "int8"), rows=[])
    assert c["eligible"] and c["status"] == "accuracy not checked: random weights"
    # quantized weights under an fp32 dtype (dynamic int8) are checked too
    assert ab.check("m", "text-classification", WEIGHTS, BackendConfig("int8"), rows=[])["eligible"] is False


@pytest.mark.parametrize("top1, eligible, status", [(79.5, True, "within budget"), (78.9, False, "over budget")])
def test_budget_compares_with_the_fp32_eager_row_on_the_same_data(top1, eligible, status):
    cfg = BackendConfig("openvino", "int8")
    rows = [eval_row("m", 80.0), eval_row("m", top1, cfg),
            eval_row("m", 10.0, dataset_sha256="e" * 64),  # another data set's fp32 row is never the baseline
            eval_row("m", 99.0, weights="cd" * 32)]  # other weights' rows are not these weights' accuracy
    c = ab.check("m", "image-classification", WEIGHTS, cfg, rows=rows)
    assert (c["eligible"], c["status"]) == (eligible, status)
    assert c["loss_points"] == pytest.approx(80.0 - top1) and c["budget_points"] == 1.0
    assert c["eval_row"]["backend"] == "openvino+int8" and c["fp32_eval_row"]["scores"] == {"top1": 80.0}
    assert ("why" in c) is (not eligible)
    assert ab.check("m", "image-classification", WEIGHTS, cfg, budget=2.0, rows=rows)["eligible"]


def test_no_eval_row_is_not_picked_and_says_which_eval_would_check_it():
    cfg = BackendConfig("compile", "bf16", precision="autocast", channels_last=True, freezing=True)
    c = ab.check("m", "image-classification", WEIGHTS, cfg, rows=[eval_row("m", 80.0)])
    assert not c["eligible"] and c["status"] == "not checked: no eval row"
    assert "zoo eval m --data ../shared/data/imagenet_sample_dev --backend compile --dtype bf16 --precision autocast" \
        in c["commands"]
    # a backend row without an fp32 eager row on the same data cannot be compared either
    c = ab.check("m", "image-classification", WEIGHTS, cfg, rows=[eval_row("m", 80.0, cfg)])
    assert not c["eligible"] and "no fp32 eager eval row" in c["status"]
    # a row with the same numerics but another layout checks it (channels_last does not change the answers)
    rows = [eval_row("m", 80.0), eval_row("m", 79.8, BackendConfig("compile", "bf16", precision="autocast"))]
    assert ab.check("m", "image-classification", WEIGHTS, cfg, rows=rows)["eligible"]


def test_text_budget_counts_the_larger_loss_of_accuracy_and_f1():
    cfg = BackendConfig("openvino", "int8")
    base = make_row("eval", model="t", weights=WEIGHTS, dataset="sst2 test", dataset_sha256="s" * 64, settings={},
                    metrics={"accuracy": 80.0, "f1": 80.0}, task="text-classification", n=1821)
    cand = {**base, "metrics": {"accuracy": 80.0, "f1": 78.0}, "backend": {"numerics": "openvino+int8"}}
    c = ab.check("t", "text-classification", WEIGHTS, cfg, rows=[base, cand])
    assert c["status"] == "over budget" and c["loss_points"] == pytest.approx(2.0) and c["metric"] == "accuracy/f1"


class ToyQuant(Backend):
    """An 'int8' backend that answers instantly (the fastest candidate whenever it is allowed)."""

    name = "toyq"
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32", "int8"))

    def prepare(self, model, config, device, example_inputs):
        with torch.inference_mode():
            out = model(example_inputs)
        return Prepared(config, lambda x: out, make_to_inputs(device, None, False), {}, module=None)


@pytest.fixture
def toyq(monkeypatch):
    import zoo.harness.speed.measure as sm

    backends.list_backends()  # the package's own backends registered first, so the copy below holds them
    monkeypatch.setattr(backends.registry, "_BACKENDS", dict(backends.registry._BACKENDS))
    register_backend(ToyQuant)
    monkeypatch.setattr(sm, "auto_candidates", lambda *a, **k: [BackendConfig("eager"), INT8])


def _auto_row(model, **kw):
    (row,) = bench(model=model, batch_sizes=(1,), backend="auto", write=False, peak=False, stages=False, **FAST, **kw)
    assert row["status"] == "ok", row.get("error")
    return row


def test_auto_never_picks_a_config_over_budget_and_says_why(toyq, results_dir):
    model = tiny()
    model.weights_id = WEIGHTS
    name = model.spec.name
    for r in (eval_row(name, 80.0), eval_row(name, 70.0, INT8)):
        append_row(raw_path("eval"), r)
    row = _auto_row(model)
    assert row["backend_used"] == "eager+fp32"
    (cand,) = [c for c in row["metrics"]["candidates"] if c["config"] == "toyq+int8"]
    assert cand["accuracy"]["status"] == "over budget" and "loses 10.00 points of top1" in cand["accuracy"]["why"]
    # within a budget of 15 points it may be picked (it is the fastest), and the row says which check allowed it
    row = _auto_row(model, accuracy_budget=15.0)
    assert row["backend_used"] == "toyq+int8" and row["settings"]["accuracy_budget"] == 15.0
    check = row["metrics"]["accuracy_check"]
    assert check["status"] == "within budget" and check["budget_points"] == 15.0 and check["loss_points"] == 10.0
    assert check["eval_row"]["time"] == "2026-11-30T10:00:00Z"
    # the budget is recorded, not part of the key (it changes the pick, not the measurement)
    assert BenchConfig(accuracy_budget=15.0).row_key("m", 1) == BenchConfig().row_key("m", 1)


def test_auto_without_an_eval_row_keeps_fp32_and_random_weights_are_flagged(toyq, results_dir):
    model = tiny()
    model.weights_id = WEIGHTS
    row = _auto_row(model)
    assert row["backend_used"] == "eager+fp32"
    (cand,) = [c for c in row["metrics"]["candidates"] if c["config"] == "toyq+int8"]
    assert cand["accuracy"]["status"] == "not checked: no eval row" and "zoo eval" in cand["accuracy"]["why"]
    row = _auto_row(tiny())  # random-init weights: measured and picked, flagged
    assert row["backend_used"] == "toyq+int8"
    assert row["metrics"]["accuracy_check"]["status"] == "accuracy not checked: random weights"


def test_accuracy_budget_flag_is_validated():
    from zoo.errors import UserError

    with pytest.raises(UserError, match="--accuracy-budget must be a number >= 0"):
        BenchConfig(accuracy_budget=-1.0)
    assert "--accuracy-budget 0.5" in BenchConfig(backend="auto", accuracy_budget=0.5).command(["m"])


def test_backend_eval_rows_are_budget_checks_not_the_models_accuracy():
    from zoo.report.base import rows_of_kind
    from zoo.report.leaderboard import split_rows

    plain, quant = eval_row("m", 80.0), eval_row("m", 10.0, INT8)
    assert rows_of_kind({"eval": [plain, quant]}, "eval") == [plain]
    assert split_rows({"eval": [plain, quant]})[1] == [plain]


def test_accuracy_budget_table_pairs_each_configuration_with_its_fp32_row():
    from zoo.report.accuracy_budget import tables

    quant = eval_row("m", 70.0, INT8, time="2026-11-30T11:00:00Z")
    older = eval_row("m", 79.9, INT8, time="2026-11-30T09:00:00Z")  # the latest row of a configuration counts
    (table,) = tables({"eval": [eval_row("m", 80.0), older, quant, eval_row("n", 50.0)]})
    (row,) = table.rows
    cells = dict(zip(table.columns, row))
    assert cells["configuration"] == "toyq+int8" and cells["loss (points)"] == pytest.approx(10.0)
    assert cells["verdict"] == "over budget" and cells["fp32 eager"] == "80.00" and cells["budget"] == 1.0
    assert tables({"eval": [eval_row("m", 80.0)]})[0].rows == []


def test_skip_leaves_candidates_out_and_records_them(toyq, results_dir):
    row = _auto_row(tiny(), skip="toyq+int8")
    assert row["backend_used"] == "eager+fp32" and list(row["settings"]["skip"]) == ["toyq+int8"]
    assert {"config": "toyq+int8", "skipped": "--skip"} in row["metrics"]["candidates"]
    assert "--skip toyq+int8,compile" in BenchConfig(backend="auto", skip="toyq+int8, compile").command(["m"])
