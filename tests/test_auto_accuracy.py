"""``zoo bench --backend auto`` checks accuracy itself: a lower-precision candidate without an eval row is
scored on the task's local data against fp32 eager, calibrated on other items of it (a seeded split,
recorded), each candidate within its own time limit; ``--accuracy-check never`` keeps reading rows only.

The digits classifier of tests/helpers.py (trained in the session) stands in for real weights, its image
folder for the task's local data; toy "int8" backends stand in for quantizers: one exact, one broken, one
slow, each calibrating, so what they were calibrated on can be checked against what was scored."""

from __future__ import annotations

import time

import helpers
import pytest
import torch
from helpers import FAST

import zoo
from zoo.harness import backends
from zoo.harness.backends import (
    Backend,
    BackendConfig,
    Capabilities,
    Prepared,
    make_to_inputs,
    register_backend,
)
from zoo.harness.eval import holdout
from zoo.harness.speed import accuracy_auto
from zoo.harness.speed.runner import bench

CALIBRATED_ON: list[dict] = []
LIMIT_S = 10.0  # each candidate's check; the exact one needs ~1-5 s for 176 digits
SCORING = [False]  # whether an accuracy check is running (ToySlow is slow there only)


class _Toy(Backend):
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32", "int8"))

    def needs_calibration(self, config):
        return True

    def answer(self, model, x):
        return model(x)

    def prepare(self, model, config, device, example_inputs, calibration=None):
        calibration.batches()
        CALIBRATED_ON.append(dict(calibration.info))

        def run(x):
            with torch.inference_mode():
                return self.answer(model, x)

        return Prepared(config, run, make_to_inputs(device, None, False), {}, module=None)


class ToyExact(_Toy):
    name = "toyexact"  # "int8" that answers as fp32 does: within any budget


class ToyBroken(_Toy):
    name = "toybroken"

    def answer(self, model, x):
        return torch.zeros_like(model(x))  # always class 0: over budget


class ToySlow(_Toy):
    name = "toyslow"

    def answer(self, model, x):
        # slow in the accuracy check only: bench also calls every candidate on real photos untimed (the
        # deviation from fp32 eager, 8 batches of them), where sleeping would cost minutes and test nothing
        if SCORING[0]:
            time.sleep(LIMIT_S + 1)
        return model(x)


CANDIDATES = [BackendConfig("eager"), BackendConfig("toyexact", "int8"), BackendConfig("toybroken", "int8"),
              BackendConfig("toyslow", "int8")]


@pytest.fixture
def setup(monkeypatch, digits, results_dir):
    import zoo.harness.speed.measure as sm

    data, ckpt, _ = digits
    backends.list_backends()  # load the real ones into the registry first, so the copy below holds them
    monkeypatch.setattr(backends.registry, "_BACKENDS", dict(backends.registry._BACKENDS))
    for cls in (ToyExact, ToyBroken, ToySlow):
        register_backend(cls)
    monkeypatch.setattr(sm, "auto_candidates", lambda *a, **k: list(CANDIDATES))
    monkeypatch.setattr(holdout, "local_data", lambda task: data)
    monkeypatch.setattr(accuracy_auto, "local_data", lambda task: data)
    real_score = accuracy_auto.score

    def scoring(*a, **k):
        SCORING[0] = True
        try:
            return real_score(*a, **k)
        finally:
            SCORING[0] = False

    monkeypatch.setattr(accuracy_auto, "score", scoring)
    accuracy_auto._PLANS.clear()
    CALIBRATED_ON.clear()
    return zoo.create_model(helpers.MODEL, checkpoint=ckpt)


def _row(model, **kw):
    (row,) = bench(model=model, batch_sizes=(8,), backend="auto", write=False, peak=False, stages=False, **FAST, **kw)
    assert row["status"] == "ok"
    return row


@pytest.mark.slow
def test_auto_scores_candidates_itself_on_items_it_did_not_calibrate_on(setup):
    row = _row(setup, accuracy_time_limit=LIMIT_S)
    cands = {c["config"]: c for c in row["metrics"]["candidates"]}
    exact, broken, slow = (cands[f"{n}+int8"]["accuracy"] for n in ("toyexact", "toybroken", "toyslow"))
    assert exact["status"] == "within budget" and exact["loss_points"] == 0 and exact["eligible"]
    assert exact["scores"]["n"] == exact["fp32_eager"]["n"] == 240 - 64
    assert broken["status"] == "over budget" and not broken["eligible"] and broken["loss_points"] > 50
    assert slow["status"].startswith("timed out") and not slow["eligible"]
    assert row["metrics"]["accuracy_timed_out"] == ["toyslow+int8"]
    split = row["metrics"]["accuracy_split"]
    assert split["n_calibration"] == 64 and split["n_scored"] == 176 and split["disjoint"]
    assert all(c["split"] == split for c in CALIBRATED_ON)  # every quantizer drew from the calibration part only
    assert exact["split"] == split
    assert row["backend_used"] in ("eager+fp32", "toyexact+int8")  # never the broken or the timed-out one
    assert row["settings"]["accuracy_check"] == "auto" and row["settings"]["accuracy_time_limit"] == LIMIT_S
    from zoo.commands.bench import accuracy_notes

    notes = "\n".join(accuracy_notes([row]))
    assert "toyexact+int8 top1" in notes and "vs fp32 eager" in notes and "timed out for toyslow+int8" in notes
    assert "scored on 176" in notes and "calibrated on 64 others" in notes


def test_calibration_and_scored_items_are_disjoint(digits):
    data, _, _ = digits
    split = holdout.holdout_split(zoo.get_spec(helpers.MODEL), data)
    scored = {str(s) for s in split.scored.sources}
    assert not scored & {str(p) for p in split.calibration}
    assert len(scored) + len(split.calibration) == 240
    again = holdout.holdout_split(zoo.get_spec(helpers.MODEL), data)
    assert again.record == split.record  # seeded: the same split every time
    other = holdout.holdout_split(zoo.get_spec(helpers.MODEL), data, seed=1)
    assert other.record["calibration_ids_sha256"] != split.record["calibration_ids_sha256"]


def test_accuracy_check_never_keeps_reading_rows_only(setup):
    row = _row(setup, accuracy_check="never")
    cands = {c["config"]: c for c in row["metrics"]["candidates"]}
    assert cands["toyexact+int8"]["accuracy"]["status"] == "not checked: no eval row"
    assert row["backend_used"] == "eager+fp32" and "accuracy_split" not in row["metrics"]
    assert all("split" not in c for c in CALIBRATED_ON)  # calibrated as before, from the task's pool


def test_accuracy_check_flag_is_validated():
    from zoo.errors import UserError
    from zoo.harness.speed.config import BenchConfig

    with pytest.raises(UserError, match="--accuracy-check must be one of auto, never"):
        BenchConfig(accuracy_check="sometimes")
    assert "--accuracy-check never" in BenchConfig(backend="auto", accuracy_check="never").command(["m"])
