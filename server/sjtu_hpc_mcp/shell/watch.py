"""JobWatch: the jobs of one entry node that calls are waiting for, polled by one background task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

from ..core.errors import HpcError
from ..core.results import MAX_WAIT_S
from ..core.slurm import outcome as oc

log = logging.getLogger(__name__)

OnChange = Callable[[str], Awaitable[None]]

# The shared poll: at least MIN_GAP_S apart per node; BASE_S after a change, then backing off.
MIN_GAP_S = 2.0
BASE_S = 2.0
FACTOR = 1.5
MAX_S = 15.0
MAX_REMEMBERED = 5000  # job states kept for calls that come back (a long-lived server)


class JobWatch:
    """The jobs of one entry node that calls are waiting for, polled by one background task.

    Each poll is one `sacct` for every watched job. A call that joins with jobs not seen yet
    wakes the task, which still keeps MIN_GAP_S since the previous poll; otherwise the interval
    grows from BASE_S by FACTOR up to MAX_S while no job changes state.
    """

    def __init__(self, node: str, poll: Callable[[list[str]], Awaitable[dict[str, oc.JobUsage]]]) -> None:
        self.node = node
        self.poll = poll
        self.interest: Counter[str] = Counter()
        self.latest: dict[str, oc.JobUsage] = {}
        self.covered: dict[str, int] = {}  # job id → generation of the last poll that asked for it
        self.generation = 0
        self.polls = 0
        self.error: tuple[int, HpcError] | None = None  # the generation of a failed poll, and why
        self.updated = asyncio.Event()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.last_poll = -1e9
        self.interval = BASE_S

    async def _loop(self) -> None:
        while self.interest:
            gap = MIN_GAP_S - (time.monotonic() - self.last_poll)
            if gap > 0:
                await asyncio.sleep(gap)
            ids = sorted(self.interest)
            if not ids:
                break
            self.last_poll = time.monotonic()
            changed = False
            self.generation += 1
            self.polls += 1
            try:
                found = await self.poll(ids)
            except HpcError as exc:
                self.error = (self.generation, exc)
                log.info("poll on %s failed: %s", self.node, exc.code)
            else:
                self.error = None
                for job_id in ids:
                    new, old = oc.usage_for(found, job_id), self.latest.get(job_id)
                    if new is not None:
                        changed |= old is None or old.state != new.state
                        self.latest[job_id] = new
                    self.covered[job_id] = self.generation
            log.info("poll %d on %s: %d jobs%s", self.polls, self.node, len(ids), " (changed)" if changed else "")
            self.interval = BASE_S if changed else min(MAX_S, self.interval * FACTOR)
            done, self.updated = self.updated, asyncio.Event()
            done.set()
            self.wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.interval)

    def _ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._loop(), name=f"watch {self.node}")

    def _known(self, job_id: str, since: int) -> bool:
        latest = self.latest.get(job_id)
        return self.covered.get(job_id, 0) > since or (latest is not None and latest.finished)

    async def wait(
        self, job_ids: Sequence[str], wait_s: float, on_change: OnChange | None = None
    ) -> dict[str, oc.JobUsage | None]:
        """Until every job has ended or wait_s has passed (the first answer may take up to MAX_WAIT_S)."""
        start = time.monotonic()
        since = self.generation
        for job_id in job_ids:
            self.interest[job_id] += 1
        if any(job_id not in self.covered for job_id in job_ids):
            self.wake.set()
        self._ensure_running()
        told: dict[str, str] = {}
        ready = False
        try:
            while True:
                ready = all(self._known(j, since) for j in job_ids)
                if not ready and self.error is not None and self.error[0] > since:
                    raise self.error[1]
                if ready:
                    for job_id in job_ids:
                        u = self.latest.get(job_id)
                        state = u.state if u is not None else "UNKNOWN"
                        if told.get(job_id) != state:
                            told[job_id] = state
                            if on_change is not None:
                                with suppress(Exception):
                                    await on_change(f"job {job_id}: {state}")
                    if all((u := self.latest.get(j)) is not None and u.finished for j in job_ids):
                        break
                now = time.monotonic()
                until = start + (wait_s if ready else MAX_WAIT_S)
                if now >= until:
                    break
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.updated.wait(), until - now)
            # The last poll failed (the node went away): the states seen before are stale, so say why
            # instead of reporting them as current. Jobs already ended stay ended.
            unfinished = any((u := self.latest.get(j)) is None or not u.finished for j in job_ids)
            if unfinished and self.error is not None and self.error[0] > since:
                raise self.error[1]
        finally:
            for job_id in job_ids:
                self.interest[job_id] -= 1
                if self.interest[job_id] <= 0:
                    del self.interest[job_id]
            if not self.interest:
                self.wake.set()
            if len(self.latest) > MAX_REMEMBERED:  # a long-lived server: forget jobs nobody waits for
                for job_id in [j for j in self.latest if j not in self.interest]:
                    self.latest.pop(job_id, None)
                    self.covered.pop(job_id, None)
        return {j: self.latest.get(j) for j in job_ids}

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self.task
