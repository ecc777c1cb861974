"""The raw store under concurrency: concurrent writers lose nothing; damaged raw files are read exactly or refused with a line number.

The writers are forked from this process (zoo is already imported here), so the stress test spends its time
appending, not importing torch in five fresh interpreters.
"""

import json
import multiprocessing
import os
import re
import signal
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zoo.results import CorruptResultsError, append_row, check_appendable, read_rows
from zoo.results.store import encode_row
from zoo.results.upgrade import upgrade_row

V1 = Path(__file__).resolve().parent / "data" / "raw_v1"
WRITERS, APPENDS = 4, 500


def _real_rows() -> list[dict]:
    """Realistic rows: real schema-1 rows (speed with latencies and candidates, eval, study) upgraded."""
    rows = []
    for name in ("speed", "eval", "studies", "nlp"):
        rows += [upgrade_row(json.loads(line)) for line in (V1 / f"{name}.jsonl").read_text().splitlines()[:2]]
    return rows


def _writer(path: str, writer: int, count: int | None, base: dict) -> None:
    seq = 0
    while count is None or seq < count:
        append_row(path, {**base, "settings": {"writer": writer, "seq": seq}})
        seq += 1


@pytest.fixture
def shm_dir(tmp_path):
    """A RAM-backed folder when there is one: each append fsyncs, and 2,000 fsyncs on a shared VM disk take
    ~20 s; what this test checks (locking, whole-line writes) does not depend on the disk."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="zoo-test-") as d:
        yield Path(d)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks writers")
def test_concurrent_writers_lose_nothing_while_one_is_killed(shm_dir):
    path = shm_dir / "speed.jsonl"
    base = _real_rows()[0]
    assert len(encode_row(base)) > 3000  # a real speed row, several pages of writes apart
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, APPENDS, base)) for w in range(WRITERS)]
    victim = ctx.Process(target=_writer, args=(str(path), WRITERS, None, base))
    t0 = time.monotonic()
    for p in (*procs, victim):
        p.start()
    marker = f'"writer": {WRITERS}}}'.encode()
    while time.monotonic() - t0 < 20 and (not path.exists() or path.read_bytes().count(marker) < 20):
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)  # mid-run: the others keep appending
    victim.join()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, "a writer failed (see its traceback above)"

    rows = read_rows(path)  # every line parses and validates
    seqs: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        seqs[r["settings"]["writer"]].append(r["settings"]["seq"])
    for w in range(WRITERS):
        assert seqs[w] == list(range(APPENDS)), f"writer {w}: rows lost, duplicated or out of order"
    killed = seqs[WRITERS]
    assert len(killed) >= 20 and killed == list(range(len(killed)))  # only its unfinished row is missing
    assert {k: v for k, v in rows[0].items() if k != "settings"} == {k: v for k, v in base.items() if k != "settings"}


# --- the reader under damage ------------------------------------------------------------------------------

ROWS = _real_rows()
DATA = b"".join(encode_row(r) for r in ROWS)
LINE = re.compile(r"\.jsonl:\d+: ")


def _damaged(kind: str, at: int, xor: int) -> bytes:
    if kind == "truncate":
        return DATA[:at]
    return DATA[:at] + bytes([DATA[at] ^ xor]) + DATA[at + 1:]


@example(kind="truncate", at=len(DATA) - 1, xor=1)  # a whole last row short of only its newline
@example(kind="truncate", at=DATA.index(b"\n", len(DATA) // 2), xor=1)  # so is a cut just before any row's newline
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["truncate", "flip"]), at=st.integers(0, len(DATA) - 1), xor=st.integers(1, 255))
def test_damaged_file_is_read_exactly_or_refused_with_a_line_number(kind, at, xor):
    data = _damaged(kind, at, xor)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "speed.jsonl"
        path.write_bytes(data)
        try:
            rows = read_rows(path)
        except CorruptResultsError as e:
            assert LINE.search(str(e)) and "\n" not in str(e), str(e)
            with pytest.raises(CorruptResultsError):
                append_row(path, ROWS[0])  # a damaged file is never appended to ...
        else:
            # ... and one that reads is read exactly: all rows, or (cut inside a line) the whole lines kept
            expected = ROWS if kind == "flip" and data.endswith(b"\n") else ROWS[: data.count(b"\n")]
            assert rows == expected
            check_appendable(path)
        whole = data[: data.rfind(b"\n") + 1]
        if kind == "truncate" and DATA[at:at + 1] == b"\n":  # whole rows, the last short of only its newline:
            assert path.read_bytes() == data + b"\n"           # completed (at the end of DATA or of any row)
        elif whole != data:  # a torn tail (issue 26): moved to a quarantine file beside it, the whole lines kept
            assert path.read_bytes() == whole
            (q,) = Path(d).glob("speed.jsonl.quarantine-*")
            assert q.read_bytes() == data[len(whole):] + b"\n"
        else:
            assert path.read_bytes() == data  # never rewritten
