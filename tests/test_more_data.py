"""Misconception 4 study (zoo study more_data) at tiny scale: rows of kind "study" naming the real weights,
seeded subsets and label flips that do what they say, and the table and plot built from the rows."""

from __future__ import annotations

import pytest
import torch

from zoo.report import more_data as report
from zoo.studies import run_study
from zoo.studies.more_data import flip, stratified


def test_subsets_and_flips():
    labels = torch.arange(10).repeat(40)  # 400 items, 40 per class
    idx = stratified(labels, 100, 10, seed=3)
    assert torch.bincount(labels[idx], minlength=10).tolist() == [10] * 10
    assert torch.equal(idx, stratified(labels, 100, 10, seed=3)) and not torch.equal(idx, stratified(labels, 100, 10, 4))
    noisy = flip(labels, 0.3, 10, seed=1)
    changed = noisy != labels
    assert int(changed.sum()) == 120  # exactly 30 %, each to a different class
    assert torch.equal(noisy, flip(labels, 0.3, 10, seed=1)) and torch.equal(flip(labels, 0.0, 10, 0), labels)


def test_tiny_study_rows_table_and_plot(tmp_path):
    rows = run_study("more_data", seeds=[0, 1], scale="tiny", write=False)
    assert {r["kind"] for r in rows} == {"study"} and {r["study"] for r in rows} == {"more_data"}
    assert all(len(r["weights"]) == 64 for r in rows)  # the Lite0 weights' sha256, not random-init
    exps = [r["settings"]["experiment"] for r in rows]
    assert exps.count("learning_curve") == 4 and exps.count("label_noise") == 4 and exps.count("augmentation") == 4
    noisy = [r for r in rows if r["settings"]["noise"] == 0.3]
    assert all(r["metrics"]["labels_flipped"] == 6 for r in noisy)
    aug = [r for r in rows if r["settings"]["augment"]]
    assert all(r["metrics"]["n_fit"] == 2 * r["settings"]["n_train"] for r in aug)  # clean + 1 view each
    for r in rows:
        assert 0 <= r["metrics"]["heldout_top1"] <= 100
        if r["settings"]["noise"] == 0:
            assert r["metrics"]["train_top1_given_labels"] == r["metrics"]["train_top1_true_labels"]
    table, = report.tables({"studies": rows})
    assert len(table.rows) == 6 and table.rows[0][:2] == ["learning curve", 10] and table.rows[0][-1] == 2
    assert any("backbone frozen" in n for n in table.notes) and not any("random-init" in n for n in table.notes)
    png, = report.plots({"studies": rows}, tmp_path)
    assert png.is_file() and png.stat().st_size > 10_000
    assert report.tables({"studies": []}) == [] and report.plots({}, tmp_path) == []
