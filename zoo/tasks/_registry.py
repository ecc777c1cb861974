"""Task name -> the registered Task instance (``zoo.tasks`` re-exports these)."""

from __future__ import annotations

from ..errors import UserError
from ..spec import add_task
from .base import Task

_TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of a Task subclass under its ``name``; a second class for the same
    name is refused (a module imported twice re-registers its own class)."""
    if not cls.name or not cls.score_keys:
        raise ValueError(f"task class {cls.__name__} needs a name and score_keys")
    have = _TASKS.get(cls.name)
    if have is not None and (type(have).__module__, type(have).__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"task {cls.name!r} is already registered by {type(have).__module__}")
    _TASKS[cls.name] = cls()
    add_task(cls.name)  # specs and eval rows may name it from now on
    return cls


def get_task(name: str) -> Task:
    """The task scoring models whose ``spec.task`` is ``name``; a one-line UserError when zoo has none."""
    try:
        return _TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; zoo has tasks for: {', '.join(sorted(_TASKS))}") from None


def list_tasks() -> list[str]:
    return sorted(_TASKS)
