"""TaskRecords: what the workspace keeps about the tasks of the tasks extension (`<workspace>/tasks/tasks.json`).

The work itself (the job, the transfer) is the task's state; a record adds only what the work cannot say:
when the task was handed out, the arguments an approval is picked up with, its result once picked up, and
what tasks/cancel asked and the person answered. 0600 in a 0700 folder, replaced atomically under a lock,
so every server process on the workspace (and the next one, after a restart) reads the same records.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RECORDS = Path("tasks") / "tasks.json"
MAX_RECORDS = 500  # the oldest go first; a task without a record is still answered from its work

Record = dict[str, Any]


class TaskRecords:
    def __init__(self, workspace: Path) -> None:
        self.path = workspace / RECORDS

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Record]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}

    def get(self, task_id: str) -> Record | None:
        return self._read().get(task_id)

    def update(self, task_id: str, change: Callable[[Record | None], Record | None]) -> Record | None:
        """Read, change and write one record under the lock; `change` returns the new record (None: drop it)."""
        with self._locked():
            records = self._read()
            new = change(records.get(task_id))
            if new is None:
                records.pop(task_id, None)
            else:
                records.pop(task_id, None)
                records[task_id] = new  # the newest last: pruning drops from the front
            while len(records) > MAX_RECORDS:
                records.pop(next(iter(records)))
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(records, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            return new
