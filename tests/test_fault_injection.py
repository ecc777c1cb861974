"""Issue 26: random kill points over eval, bench, train, report and export; after each, what is on disk holds.

A seeded loop: each trial runs one zoo command (through zoo.cli.main) in a process of its own that SIGKILLs
itself at a random file-system call (os.write, os.replace, os.rename, os.fsync, os.unlink, os.ftruncate,
os.link, os.mkdir: the steps of every commit protocol) before or after it runs. Then this process checks,
after what the next run would do first (the store's torn-tail repair, the report journal, the checkpoint and
export swap journals):
- the run ended by the signal, or (a kill point past its last call) exited 0;
- every raw file parses and no row is duplicated;
- the report's files are the last complete state (the old report or the new one, never a mix);
- the training folder holds the checkpoint the last train row names;
- the export folder is the old complete export or the new complete one (it loads and predicts; its card's
  Markdown is the one its JSON gives), never half of one;
- no side files are left (journals, .zoo-new/.zoo-old, temp files; a killed export's partial folder is
  swept by the next export, which each export trial runs).
Only the killed run needs a process of its own: the whole runs that count the calls, the ``report --check``
and the next run after each kill run here, in process. The killed runs are forks of a zygote, an interpreter
this test starts that imports torch and zoo (PRELOAD) but runs neither and holds one thread (it checks), so
a trial costs the command, not an interpreter's start and imports. Not forks of this process, which may
have run torch: a child forked from torch's thread pools can hang on a lock no thread will release. Each
child takes this process's environment and folder from its request, and a run that hangs fails the test
after TIMEOUT_S.
``ZOO_FAULT_TRIALS=N`` runs N kill points per command (a longer soak; ``ZOO_FAULT_SEED`` picks other ones).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
import torch

from zoo.io import recover_folder
from zoo.report.commit import JOURNAL, finish_interrupted
from zoo.results import read_all, read_rows
from zoo.results.provenance import sha256_file

SEED = int(os.environ.get("ZOO_FAULT_SEED", "26"))
TRIALS = {"eval": 3, "bench": 2, "train": 3, "report": 4, "export": 3}
TIMEOUT_S = 300  # for the zygote's imports, and for each killed run (the longest takes seconds)
WRAPPED = ("write", "replace", "rename", "fsync", "unlink", "ftruncate", "link", "mkdir")


def trials() -> dict[str, int]:
    n = os.environ.get("ZOO_FAULT_TRIALS")
    return {name: int(n) for name in TRIALS} if n else dict(TRIALS)


def _commands(tmp: Path) -> dict[str, list[str]]:
    return {
        # no DataLoader workers: the whole runs are in this process, which must not fork after running torch
        "eval": ["eval", "mlp", "--data", "digits", "--random-init", "--limit", "40", "--workers", "0"],
        "bench": ["bench", "mlp", "--batch-size", "1", "--warmup", "1", "--min-iters", "2", "--min-duration", "0",
                  "--no-stages", "--force", "--threads", "1"],
        "train": ["train", "lstm", "--task", "sst2", "--max-steps", "2", "--limit", "32", "--val-limit", "16",
                  "--epochs", "1", "--threads", "1", "--out", str(tmp / "ck")],
        "report": ["report", "--raw", str(tmp / "results" / "raw"), "--out", str(tmp / "results")],
        # the digits CNN of tests/helpers.py (random weights: no accuracy check), to ONNX: a small whole export
        "export": ["export", helpers.MODEL, "--out", str(tmp / "exp"), "--backend", "onnxruntime", "--dtype", "fp32",
                   "--random-init", "--force"],
    }


def _wrap_os(count: list[int], kill_at: int | None = None, after: bool = False) -> dict:
    """Count the wrapped os calls in ``count[0]``; SIGKILL this process at call ``kill_at``. Returns the
    real functions (to put back)."""
    def wrap(real):
        def call(*a, **k):
            count[0] += 1
            if count[0] == kill_at and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            out = real(*a, **k)
            if count[0] == kill_at and after:
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        return call

    real = {name: getattr(os, name) for name in WRAPPED}
    for name in WRAPPED:
        setattr(os, name, wrap(real[name]))
    return real


def _short_latency() -> None:
    """The export's latency loop runs >= 3 s of calls by default; a few calls measure the same protocol."""
    from zoo.harness.export import writer

    real = writer.measure_latency
    writer.measure_latency = lambda predictor, images, **k: real(predictor, images, min_s=0.0, min_calls=2, warmup=1)


def _child(argv: list[str], kill_at: int | None, after: bool, report_fd: int) -> None:
    """In a child of the zygote: run ``argv`` with the wrapped calls counted, SIGKILLed at call ``kill_at``
    (None: never). Writes the count to ``report_fd`` when it ends on its own."""
    import zoo.cli

    _short_latency()
    real_write = os.write
    _wrap_os(count := [0], kill_at, after)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    rc = zoo.cli.main(argv)
    real_write(report_fd, str(count[0]).encode())
    os._exit(rc)


# What the commands import, imported once in the zygote rather than in each child (a module missing here, or
# left out, is imported by the child that needs it: slower, and its import's own os calls, if any, become
# calls a kill point can fall on). Not onnxruntime: importing it starts a thread.
PRELOAD = ("zoo.cli", "zoo.commands.eval", "zoo.commands.bench", "zoo.commands.train", "zoo.commands.report",
           "zoo.commands.export", "zoo.harness.eval.runner", "zoo.harness.speed.runner", "zoo.harness.speed.cost",
           "zoo.harness.train.loop", "zoo.harness.train.text", "zoo.harness.export.writer", "zoo.prediction.runtime",
           "zoo.models._mlp_nets", "zoo.models.text.rnn", "zoo.models.text.tokenizer", "zoo.datasets.text",
           "zoo.datasets.classification", "zoo.report.plots", "sklearn.datasets", "sklearn.metrics",
           "sklearn.model_selection", "torch._dynamo", "onnx", "transformers", "matplotlib.figure",
           "matplotlib.backends.backend_agg")


def _threads() -> int:
    """This process's threads (the OS's count where /proc has it: native threads too)."""
    import threading

    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else threading.active_count()


def _zygote(reply_fd: int) -> None:
    """The zygote's loop, in an interpreter of its own: import PRELOAD (nothing of torch runs here, so no
    thread pool exists to fork), then per request line on stdin fork a child that applies the request's
    environment and folder and runs ``_child``; answers on ``reply_fd`` with the child's pid, then its exit
    status (negative for a signal) and the calls it counted (None when killed)."""
    import importlib
    import traceback

    def reply(**msg) -> None:
        os.write(reply_fd, (json.dumps(msg) + "\n").encode())

    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # an optional package not installed: the child fails as it would
            importlib.import_module(name)
    reply(threads=_threads())
    for line in sys.stdin.buffer:
        req = json.loads(line)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.close(reply_fd)
                os.environ.clear()
                os.environ.update(req["env"])
                os.chdir(req["cwd"])
                _child(req["argv"], req["kill_at"], req["after"], w)
            except BaseException:  # noqa: BLE001  (nothing may leave a forked child: it would go on as a zygote)
                traceback.print_exc()
            finally:
                os._exit(70)
        os.close(w)
        reply(pid=pid)
        _, status = os.waitpid(pid, 0)
        count = os.read(r, 64).decode()
        os.close(r)
        reply(status=os.waitstatus_to_exitcode(status), count=int(count) if count else None)


_ZYGOTE = "import sys; sys.path.insert(0, {tests!r}); import test_fault_injection as t; t._zygote(int(sys.argv[1]))"


class Zygote:
    """A fresh interpreter that has imported torch and zoo (PRELOAD) but never run them; each killed run is a
    fork of it. Not a fork of this process: this one has run torch, and a child forked from torch's thread
    pools can hang on a lock no thread will release. Nor the multiprocessing forkserver: one may already run
    in this process, started by another test with other imports and another environment."""

    def __init__(self, timeout_s: float = TIMEOUT_S):
        self.timeout_s = timeout_s
        r, w = os.pipe()
        code = _ZYGOTE.format(tests=str(Path(__file__).resolve().parent))
        # pyarrow (pandas imports it) starts jemalloc's purging thread at import unless told not to (an
        # allocator setting: what the children do on disk is the same)
        env = {**os.environ, "JE_ARROW_MALLOC_CONF": "background_thread:false"}
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(w)], pass_fds=(w,), stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, env=env)
        os.close(w)
        self.replies, self.buf, self.child = r, b"", None

    def _reply(self, what: str) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                self.close()
                raise AssertionError(f"{what} did not end within {self.timeout_s:g} s")
            chunk = os.read(self.replies, 4096)
            if not chunk:
                raise AssertionError(f"the zygote exited ({self.proc.wait()}) during {what}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def ready(self) -> None:
        threads = self._reply("the zygote's imports")["threads"]
        assert threads == 1, f"the zygote runs {threads} threads after its imports: its forks could hang"

    def run(self, argv: list[str], kill_at: int | None, after: bool) -> tuple[int, int | None]:
        """``argv`` in a fork of the zygote, with this process's environment and folder, killed at call
        ``kill_at``: (its exit status, negative for the signal that ended it; the calls it counted, None
        when killed)."""
        req = {"argv": argv, "kill_at": kill_at, "after": after, "env": dict(os.environ), "cwd": os.getcwd()}
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        self.child = self._reply("starting a child")["pid"]
        out = self._reply(f"zoo {' '.join(argv)}")
        self.child = None
        return out["status"], out["count"]

    def close(self) -> None:
        if self.child is not None:  # a run that hung
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGKILL)
            self.child = None
        if self.proc.stdin.closed:
            return
        self.proc.stdin.close()  # the zygote's loop ends
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.replies)


def run_here(argv: list[str]) -> tuple[int, int]:
    """The command run to its end in this process: (exit status, the wrapped calls it made)."""
    import zoo.cli

    real = _wrap_os(count := [0])
    try:
        rc = zoo.cli.main(argv)
    finally:
        for name, fn in real.items():
            setattr(os, name, fn)
    return rc, count[0]


def generated(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "raw" not in p.relative_to(out).parts and not p.name.startswith(".zoo-report")}


def side_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if ".zoo-" in p.name or p.name.endswith((".tmp", ".journal.new", ".partial")))


def recover(tmp: Path) -> None:
    """What the next run does first, before anything else."""
    from zoo.harness.train.out_folder import recorded, sweep_stale_temps
    from zoo.results import check_appendable

    for p in (tmp / "results" / "raw").glob("*.jsonl"):  # the store: a torn tail moved aside under the lock
        check_appendable(p)
    finish_interrupted(tmp / "results" / JOURNAL)
    recover_folder(tmp / "ck", recorded)
    sweep_stale_temps(tmp / "ck")
    recover_folder(tmp / "exp", lambda sha: True)  # zoo export: a killed swap is finished (the new one was whole)


def check_export(exp: Path, before: dict[str, bytes], names: set[str]) -> None:
    """The export folder is the one before the trial, or a new complete one: the files ``names`` a whole run
    wrote, of one run (the card's Markdown is the one its JSON gives; config and card agree), and it predicts."""
    from zoo.harness.export.card import CARD_JSON, CARD_MD, card_markdown
    from zoo.models.vision import sample_image_files
    from zoo.prediction.runtime import CONFIG, ExportedModel

    if not exp.exists():
        assert not before, "the export folder went away"
        return
    files = generated(exp)
    if files == before:
        return
    card, cfg = json.loads(files[CARD_JSON]), json.loads(files[CONFIG])
    assert files[CARD_MD].decode() == card_markdown(card), "the card's Markdown is not its JSON's"
    assert cfg["artifact"] == card["artifact"] and cfg["preprocess"] == card["preprocess"], "config and card differ"
    assert set(files) == names and {CONFIG, CARD_JSON, CARD_MD, cfg["artifact"]["file"]} <= names, sorted(files)
    assert isinstance(ExportedModel(exp).predict(sample_image_files(1)[0]).score, float)


def check(tmp: Path, *, partial_ok: bool = False) -> None:
    """``partial_ok``: a killed export's temporary folder may be left until the next export sweeps it."""
    raw = tmp / "results" / "raw"
    rows = read_all(raw)  # every file parses (CorruptResultsError otherwise)
    for topic, rs in rows.items():
        lines = [json.dumps(r, sort_keys=True) for r in rs]
        assert len(lines) == len(set(lines)), f"{topic}: a row is duplicated"
    trains = read_rows(raw / "train.jsonl")
    ck = tmp / "ck" / "model.safetensors"
    if trains:
        assert ck.is_file() and sha256_file(ck) == trains[-1]["checkpoint_sha256"], "the checkpoint is not the row's"
    else:
        assert not ck.exists()
    left = [p for p in side_files(tmp) if not (partial_ok and Path(p).parts[0].endswith(".partial"))]
    assert left == [], "side files left"


@pytest.fixture
def torch_threads():
    """The in-process runs set torch's threads (--threads 1); the rest of the session gets its own back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def zygote(tmp_path, monkeypatch):
    """The test's environment and folder, then the zygote (started first: its imports run while the test's
    whole runs do; it takes the environment each child runs in from each request anyway)."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "results" / "raw"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # also: no BLAS/OpenMP threads start in the zygote
    monkeypatch.chdir(tmp_path)
    z = Zygote()
    yield z
    z.close()


@pytest.mark.slow
def test_random_kill_points_leave_every_file_whole(tmp_path, monkeypatch, torch_threads, zygote):
    from zoo.harness.export import writer

    monkeypatch.setattr(writer, "measure_latency", writer.measure_latency)
    _short_latency()
    cmds = _commands(tmp_path)
    rng = random.Random(SEED)
    calls = {}
    for name in cmds:  # whole runs first: how many calls each makes
        rc, calls[name] = run_here(cmds[name])
        assert rc == 0 and calls[name], name
    zygote.ready()
    exported = set(generated(tmp_path / "exp"))
    plan = [n for n, k in trials().items() for _ in range(k)]
    killed = 0
    for name in plan:
        before, exp_before = generated(tmp_path / "results"), generated(tmp_path / "exp")
        rc, count = zygote.run(cmds[name], rng.randint(1, calls[name]), rng.random() < 0.5)
        assert rc in (0, -signal.SIGKILL), f"zoo {' '.join(cmds[name])} ended with {rc} after {count} calls"
        killed += rc == -signal.SIGKILL
        recover(tmp_path)
        if generated(tmp_path / "results") != before:  # then it must be the complete new report of these rows
            assert run_here(cmds["report"][:1] + ["--check"] + cmds["report"][1:])[0] == 0, f"{name}: report is a mix"
        check_export(tmp_path / "exp", exp_before, exported)
        check(tmp_path, partial_ok=True)
        assert run_here(cmds[name])[0] == 0  # and the next run goes on
        recover(tmp_path)
        check(tmp_path)
    assert killed >= len(plan) // 2, killed  # a kill point after the last call lets a run finish
