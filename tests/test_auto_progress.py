"""``zoo bench --backend auto`` says on stderr which candidate it is setting up (i/N, label, seconds elapsed)."""

from __future__ import annotations

import re

from zoo.harness.backends import BASELINE, BackendConfig
from zoo.harness.speed import measure


def test_auto_shows_progress_per_candidate(registered_tiny, results_dir, capsys, monkeypatch):
    from zoo.cli import main

    two = [BASELINE, BackendConfig("eager", "fp32", channels_last=True)]  # cheap stand-ins for compile, ORT, ...
    monkeypatch.setattr(measure, "auto_candidates", lambda *a, **k: list(two))
    assert main(["bench", registered_tiny, "--backend", "auto", "--no-write", "--warmup", "1", "--min-iters", "2",
                 "--min-duration", "0.05", "--rounds", "2"]) == 0
    err = capsys.readouterr().err.splitlines()
    steps = [line for line in err if "candidate " in line and "setting up" in line]
    assert len(steps) == 2, err
    pattern = rf"^{registered_tiny}: batch 1, candidate (\d)/2 (\S+): setting up \(\d+ s elapsed\)$"
    got = [re.match(pattern, line).groups() for line in steps]
    assert got == [("1", "eager+fp32"), ("2", "eager+fp32+channels_last")]
    assert any("timing 2 of 2 candidates in 2 alternating rounds" in line for line in err)
