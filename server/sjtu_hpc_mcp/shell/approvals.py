"""Work that waits for a person (two-factor approval) runs as a task the server owns.

A tool call starts it, waits a bounded time while reporting progress, and returns; the next call
(or credential_status) picks the outcome up. Clients give up on a call after one to four minutes,
while a person may take longer to approve.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

Progress = Callable[[float, str], Awaitable[None]]


@dataclass
class Pending:
    kind: str
    task: asyncio.Task[Any]
    started: float = field(default_factory=time.monotonic)
    detail: str = ""

    @property
    def waited_s(self) -> int:
        return int(time.monotonic() - self.started)


class Approvals:
    def __init__(self) -> None:
        self._pending: dict[str, Pending] = {}

    def get(self, kind: str) -> Pending | None:
        return self._pending.get(kind)

    def start(self, kind: str, work: Coroutine[Any, Any, Any], detail: str = "") -> Pending:
        if kind in self._pending:
            work.close()
            return self._pending[kind]
        p = Pending(kind, asyncio.create_task(work, name=f"approval:{kind}"), detail=detail)
        self._pending[kind] = p
        return p

    async def wait(self, kind: str, seconds: float, progress: Progress | None = None) -> Pending | None:
        """Wait up to `seconds` for the task; return it if done (still registered), else None."""
        p = self._pending.get(kind)
        if p is None:
            return None
        deadline = time.monotonic() + seconds
        while not p.task.done():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if progress is not None:
                await progress(p.waited_s, f"waiting for two-factor approval ({p.waited_s} s)")
            await asyncio.wait({p.task}, timeout=min(1.0, left))
        return p

    def take(self, kind: str) -> Any:
        """The finished task's result (or its exception, raised); forgets the task."""
        p = self._pending.pop(kind)
        return p.task.result()

    async def aclose(self) -> None:
        for p in self._pending.values():
            p.task.cancel()
        for p in list(self._pending.values()):
            with contextlib.suppress(BaseException):
                await p.task
        self._pending.clear()
