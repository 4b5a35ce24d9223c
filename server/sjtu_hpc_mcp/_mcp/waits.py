"""How long a call may wait: its full bound, or nothing when the tasks extension follows its outcome."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_AS_TASK: contextvars.ContextVar[bool] = contextvars.ContextVar("sjtu_hpc_mcp_as_task", default=False)


@contextlib.contextmanager
def followed_as_task() -> Iterator[None]:
    """Within it, the call's outcome goes back as a task the client follows (the tasks extension): the call
    waits for nothing that the task will wait for."""
    token = _AS_TASK.set(True)
    try:
        yield
    finally:
        _AS_TASK.reset(token)


def wait_bound(seconds: float) -> float:
    """How long this call may wait for a person or the work: nothing when a task follows it."""
    return 0.0 if _AS_TASK.get() else seconds
