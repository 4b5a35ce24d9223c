"""The copies this server runs: start, status, wait, cancel and list, by id, for as long as the server runs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ...core.errors import UnknownTransfer
from ...core.transfer import LOCAL_ID_RE, MAX_LISTED, TransferStatus, iso, progress_figures
from ...core.transfer.local import Direction, LocalPlan
from ..ssh import SshPool
from .engine import WORKERS, Job, run
from .scan import plan_copy

log = logging.getLogger(__name__)

_MAX_NAMES = 20  # paths listed in a plan's or status's lists
_PROGRESS_EVERY_S = 0.5


class LocalTransfers:
    def __init__(self, ssh: SshPool) -> None:
        self._ssh = ssh
        self._jobs: dict[str, Job] = {}

    async def plan(self, *, node: str, direction: Direction, local: Path, remote: str) -> LocalPlan:
        """Both sides inspected: what would be copied, and which destination files differ."""
        return await plan_copy(self._ssh, node=node, direction=direction, local=local, remote=remote)

    # -- start, status, wait, cancel, list ----------------------------------------------------

    def start(self, plan: LocalPlan, *, overwrite: bool) -> TransferStatus:
        job = self._jobs.get(plan.id)
        if job is not None and job.state == "running":
            return self._status(job)
        job = Job(plan, overwrite, started=time.time())
        self._jobs.pop(plan.id, None)
        self._jobs[plan.id] = job  # re-inserted: the dict's order is the start order
        job.task = asyncio.create_task(run(self._ssh, job), name=f"transfer {plan.id}")
        log.info("%s: %s of %d files, %d bytes started", plan.id, plan.direction, len(plan.files), plan.bytes_total)
        return self._status(job)

    def status(self, transfer_id: str) -> TransferStatus:
        return self._status(self._job(transfer_id))

    async def wait(
        self,
        transfer_id: str,
        wait_s: float,
        on_progress: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> TransferStatus:
        job = self._job(transfer_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait_s)
        reported = -1
        while job.task is not None and not job.task.done():
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.wait({job.task}, timeout=min(_PROGRESS_EVERY_S, left))
            if on_progress is not None and job.bytes_done != reported and job.state == "running":
                reported = job.bytes_done
                await on_progress(job.bytes_done, job.plan.bytes_total)
        if on_progress is not None and job.state == "done" and reported != job.plan.bytes_total:
            await on_progress(job.plan.bytes_total, job.plan.bytes_total)
        return self._status(job)

    async def cancel(self, transfer_id: str) -> TransferStatus:
        job = self._job(transfer_id)
        if job.task is not None and not job.task.done():
            job.task.cancel()
            await asyncio.wait({job.task})
        return self._status(job)

    def list(self) -> list[TransferStatus]:
        return [self._status(j) for j in reversed(self._jobs.values())][:MAX_LISTED]

    async def aclose(self) -> None:
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _job(self, transfer_id: str) -> Job:
        job = self._jobs.get(transfer_id)
        if job is None:
            known = "a local transfer id" if LOCAL_ID_RE.fullmatch(transfer_id) else "not a local transfer id"
            raise UnknownTransfer(
                f"No transfer {transfer_id} in this server ({known}; local transfers end with the server).",
                "Use an id from transfer_data list, or start the transfer again: it resumes.",
            )
        return job

    def _status(self, job: Job) -> TransferStatus:
        p = job.plan
        now = job.ended if job.ended is not None else time.time()
        elapsed = max(1e-3, now - job.started)
        done = job.state == "done"
        bytes_done = p.bytes_total if done else min(job.bytes_done, p.bytes_total)
        percent, rate, eta = progress_figures(job.state, bytes_done, p.bytes_total, job.moved, elapsed)
        notes = list(job.errors)
        if job.kept:
            shown = ", ".join(job.kept[:_MAX_NAMES]) + (" …" if len(job.kept) > _MAX_NAMES else "")
            notes.append(f"{len(job.kept)} existing different file(s) left unchanged (no overwrite): {shown}")
        if p.skipped:
            notes.append(f"{len(p.skipped)} symlink(s) or special file(s) not copied: {', '.join(p.skipped[:5])}")
        return TransferStatus(
            id=p.id,
            node=p.node,
            state=job.state,
            mode="copy",
            source=p.source,
            destination=p.destination,
            streams=max(1, min(WORKERS, len(p.files))),
            files_total=len(p.files),
            files_done=len(p.files) if done else job.files_done,
            bytes_total=p.bytes_total,
            bytes_done=bytes_done,
            percent=percent,
            rate_bytes_per_s=rate,
            eta_s=eta,
            started=iso(job.started),
            ended=iso(job.ended) if job.ended is not None else None,
            cause=job.cause,
            fix=job.fix,
            errors=notes[-5:],
            survives_restart=False,
        )
