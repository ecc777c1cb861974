"""Tasks: one module per task declares how its data loads, its prediction record, its streaming metric and its
score keys (the contract is in ``zoo.tasks.base``). ``get_task(spec.task)`` is how the evaluation loop finds
a model's task; every module in this package is imported here (like the commands), so a new task is one file
with a ``@register_task`` class.

    task = get_task("image-classification")
    data = task.load("/imagenet/val", spec=spec)
    metric = task.metric(data)
    metric.add_batch(predictions=model.predict(items), references=labels)
    metric.compute()    # {"top1": ..., "top5": ..., "n": ...}
"""

from __future__ import annotations

import importlib
import pkgutil

from ._registry import get_task, list_tasks, register_task
from .base import EvalData, Metric, Task, reference_check, tolerance_pp

__all__ = ["EvalData", "Metric", "Task", "get_task", "list_tasks", "reference_check", "register_task",
           "tolerance_pp"]

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_") and _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")
