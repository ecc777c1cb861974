"""Accuracy on n items carries a 95 % Wilson interval; a sample says it is one."""

import pytest

from zoo.report.base import data_label, interval_text, score_interval, wilson


def test_wilson_matches_the_known_value():
    # 8 of 10 right: Wilson 95 % interval 0.4902–0.9433 (Wilson 1927; e.g. Newcombe 1998, table I)
    low, high = wilson(80.0, 10)
    assert low == pytest.approx(49.02, abs=0.01) and high == pytest.approx(94.33, abs=0.01)
    assert interval_text(92.0, 200) == "87.4–95.0"
    assert wilson(None, 10) is None and wilson(90.0, 0) is None


def test_only_proportions_get_an_interval():
    row = {"metrics": {"top1": 92.0, "map": 40.0}, "n": 200}
    assert score_interval(row, "top1") == "87.4–95.0"
    assert score_interval(row, "map") is None  # mAP is not a share of items


def test_a_sample_says_it_is_not_the_published_data_set():
    row = {"dataset": "imagenet_sample_dev", "n": 200,
           "references": [{"reference_dataset": "ImageNet-1K val", "reference_comparable": False}]}
    assert data_label(row) == "imagenet_sample_dev: sample of 200, not ImageNet-1K val"
    assert data_label({"dataset": "SQuAD", "n": 500, "n_split": 5609}) == "SQuAD: 500 of 5609 items"
    assert data_label({"dataset": "SST-2", "n": 1821, "n_split": 1821}) == "SST-2 (1821 items)"
