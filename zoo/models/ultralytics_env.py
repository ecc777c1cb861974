"""ultralytics' process-wide side effects, undone in one place: its offline settings before it is imported
(``import_ultralytics``) and torch's thread count after it runs (``keep_threads``). Torch-free at import."""

from __future__ import annotations

import contextlib

from ..offline import configure_ultralytics


@contextlib.contextmanager
def keep_threads():
    """Restore torch's intra-op thread count after the block: ultralytics sets it to cores - 1 for the whole
    process when it is imported, builds a model, trains or predicts (PERF-NOTES). The one place zoo undoes it."""
    import torch  # deferred: this module is imported by torch-free code (derived ultralytics specs)

    threads = torch.get_num_threads()
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def import_ultralytics():
    """ultralytics, imported with zoo's offline settings and the caller's torch thread count kept."""
    configure_ultralytics()
    with keep_threads():
        # deferred: ultralytics must be imported after configure_ultralytics() set its environment
        import ultralytics  # noqa: F401
        from ultralytics.nn.tasks import DetectionModel
    return DetectionModel
