"""The copy itself: folders first, then files by a few workers, each streamed in chunks into a partial file.

Memory is bounded: at most `_BUDGET` chunks of `CHUNK` bytes are in flight per copy, `DEPTH` per file.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import posixpath
import time
from collections import deque
from dataclasses import dataclass, field

from ...core.errors import ConnectionLost, HpcError
from ...core.transfer.local import CHUNK, DEPTH, LocalPlan, PlanFile, join, partial_name, resume_offset
from ...core.transfer.locations import State
from ..ssh import SshPool
from ..sshlib import asyncssh
from .files import End, Handle, LocalEnd, RemoteEnd, conn_lost, reason

log = logging.getLogger(__name__)

_TAIL_CHECK = 64 << 10  # bytes before the resume point compared with the source
WORKERS = 8  # files copied concurrently (small files are bound by round trips)
_BUDGET = 16  # chunks in flight per copy, over all its files


@dataclass
class Job:
    plan: LocalPlan
    overwrite: bool
    started: float
    task: asyncio.Task[None] | None = None
    state: State = "running"
    ended: float | None = None
    bytes_done: int = 0
    files_done: int = 0
    moved: int = 0  # bytes actually sent this run (for the rate)
    kept: list[str] = field(default_factory=list)  # existing different files left alone
    errors: list[str] = field(default_factory=list)
    cause: str | None = None
    fix: str | None = None
    budget: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(_BUDGET))


_RESUME_FIX = "Start the same transfer again; it resumes where it stopped."


class _Lost(Exception):
    """The SSH connection went away: the whole run stops."""


class _Fatal(Exception):
    """A failure that would repeat for every file (this computer's disk is full)."""


async def run(ssh: SshPool, job: Job) -> None:
    p = job.plan
    try:
        async with ssh.sftp(p.node) as sftp:
            remote = RemoteEnd(sftp)
            local = LocalEnd()
            src, dst = (local, remote) if p.direction == "upload" else (remote, local)
            await _copy(job, src, dst)
        if job.errors:
            job.state = "failed"
            job.cause = f"{len(job.errors)} file(s) could not be copied; the others were"
            job.fix = (
                "Read the errors (a remote 'Failure' is often a full pool or quota: check free space), "
                "fix them, then start again; it resumes."
            )
        else:
            job.state = "done"
    except asyncio.CancelledError:
        job.state, job.cause, job.fix = "cancelled", "cancelled; what was copied stays", _RESUME_FIX
        raise
    except HpcError as exc:
        job.state, job.cause = "failed", exc.message
        job.fix = _RESUME_FIX if isinstance(exc, ConnectionLost) else exc.fix
    except _Lost:
        job.state, job.cause, job.fix = "failed", f"the connection to {p.node} was lost", _RESUME_FIX
    except _Fatal as exc:
        job.state, job.cause = "failed", str(exc)
        job.fix = "Free space on this computer, then start again; it resumes."
    except Exception as exc:
        log.exception("%s failed", p.id)
        job.state, job.cause, job.fix = "failed", f"unexpected error: {type(exc).__name__}", _RESUME_FIX
    finally:
        job.ended = time.time()
        log.info("%s: %s, %d of %d bytes", p.id, job.state, job.bytes_done, p.bytes_total)


async def _copy(job: Job, src: End, dst: End) -> None:
    p = job.plan
    root = p.dest_root
    try:
        await dst.mkdir(posixpath.dirname(root) if not p.is_dir else root, parents=True)
        for rel in p.dirs:  # parents first; an existing link where a folder goes is not followed
            path = join(root, rel)
            s = await dst.lstat(path)
            if s is None:
                await dst.mkdir(path, parents=False)
            elif s.kind != "d":
                raise HpcError("E_DEST_NOT_DIR", f"{path} is not a folder at the destination.", "Remove it.")
    except (OSError, asyncssh.SFTPError) as exc:
        if isinstance(exc, conn_lost()):
            raise _Lost from None
        raise HpcError(
            "E_MKDIR", f"Cannot create folders under {root}: {reason(exc)}.", "Check permissions and space."
        ) from None
    queue: deque[PlanFile] = deque(p.files)

    async def worker() -> None:
        while queue:
            f = queue.popleft()
            try:
                await _copy_file(job, src, dst, f)
            except (OSError, asyncssh.SFTPError, HpcError) as exc:
                if isinstance(exc, conn_lost()):
                    raise _Lost from None
                full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
                if full and isinstance(dst, LocalEnd):
                    raise _Fatal("this computer's disk is full") from None
                job.errors.append(f"{f.path or posixpath.basename(p.source_root)}: {reason(exc)}"[:300])
                del job.errors[:-50]

    tasks = [asyncio.create_task(worker()) for _ in range(max(1, min(WORKERS, len(p.files))))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            failure = None if t.cancelled() else t.exception()
            if failure is not None:
                raise failure
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks)


async def _copy_file(job: Job, src: End, dst: End, f: PlanFile) -> None:
    p = job.plan
    source = join(p.source_root, f.path)
    target = join(p.dest_root, f.path)
    now = await src.lstat(source)  # the plan may be old: copy the file as it is now
    if now is None or now.kind != "f":
        raise HpcError("E_SOURCE_CHANGED", f"{source} vanished or is no longer a file.", "Start again.")
    existing = await dst.lstat(target)
    if existing is not None:
        if existing.kind == "f" and existing.size == now.size and existing.mtime == now.mtime:
            job.bytes_done += f.size
            job.files_done += 1
            return
        if not job.overwrite or existing.kind == "d":
            job.kept.append(f.path or ".")
            job.bytes_done += f.size
            job.files_done += 1
            return
    parent = posixpath.dirname(target)
    partial = posixpath.join(parent, partial_name(posixpath.basename(target)))
    old = await dst.lstat(partial)
    if old is not None and old.kind != "f":
        await dst.remove(partial)  # never write through a link planted under the partial name
        old = None
    reader = await src.open_read(source)
    try:
        writer = await dst.open_partial(partial)
        try:
            offset = resume_offset(old.size, now.size) if old is not None else 0
            if offset:
                tail = min(_TAIL_CHECK, offset)
                a = await reader.read(tail, offset - tail)
                b = await writer.read(tail, offset - tail)
                if a != b:
                    offset = 0  # the source changed since the partial file was written
            if old is not None:
                await writer.truncate(offset)
            job.bytes_done += offset
            await _stream(job, reader, writer, offset, now.size, source)
        finally:
            await writer.close()
    finally:
        await reader.close()
    await dst.finish(partial, target, now.mtime, now.mode, replace=existing is not None)
    job.files_done += 1


async def _stream(job: Job, reader: Handle, writer: Handle, offset: int, size: int, source: str) -> None:
    """Chunks in order of offset, `DEPTH` in flight; progress counted as the oldest completes."""

    async def chunk(at: int, n: int) -> int:
        async with job.budget:
            data = await reader.read(n, at)
            if len(data) != n:
                raise HpcError("E_SOURCE_CHANGED", f"{source} became shorter while copying.", "Start again.")
            await writer.write(data, at)
            return n

    pending: deque[asyncio.Task[int]] = deque()
    try:
        while offset < size or pending:
            while offset < size and len(pending) < DEPTH:
                n = min(CHUNK, size - offset)
                pending.append(asyncio.create_task(chunk(offset, n)))
                offset += n
            n = await pending.popleft()
            job.bytes_done += n
            job.moved += n
    finally:
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
