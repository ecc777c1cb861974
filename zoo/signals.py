"""Signals around the steps that must not stop half way (zoo report's swap, a checkpoint replacement).

``deferred()`` holds SIGINT and SIGTERM while its block runs and delivers them when it ends, to whatever
handler was there before, so Ctrl-C or a ``kill`` lands before or after the block, never inside it. It
swaps Python-level handlers rather than blocking the signals in the kernel: Python runs every handler in
the main thread, but a signal the kernel hands to another thread (torch's worker threads do not block
any) would otherwise still interrupt the main thread at its next bytecode.

``Terminated`` is what the CLI turns SIGTERM into (``terminate_as_exception``), so ``finally`` blocks and
``with`` statements (temporary folders, locks) clean up on a ``kill`` as they do on Ctrl-C.
SIGKILL cannot be caught: what must survive it is written so that a later run can finish or undo it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HELD = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM arrived (raised from the handler ``terminate_as_exception`` installs)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` (when nobody else installed a handler for it)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def deferred(signals: tuple[int, ...] = HELD) -> Iterator[list[int]]:
    """Hold ``signals`` for the block; deliver them after it (in arrival order, each once). Yields the list
    of signals held so far. Outside the main thread (where Python cannot set handlers) it holds nothing."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def hold(signum, frame) -> None:
        if signum not in pending:
            pending.append(signum)

    old = {s: signal.signal(s, hold) for s in signals}
    try:
        yield pending
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in pending:
            signal.raise_signal(s)  # now to the handler restored above: KeyboardInterrupt, Terminated, exit
