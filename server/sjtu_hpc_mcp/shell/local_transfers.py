"""Copies between the person's computer (where the server runs) and a data node, over SFTP.

They run inside the server process on the pooled SSH connection, so they do not survive a server
restart; starting the same copy again resumes it:

- each file is written to `.<name>.sjtu-hpc-partial` next to its target and renamed into place when
  complete; a later run continues from the partial file's size (less a safety margin, after
  comparing the bytes just before it with the source);
- a destination file with the source's size and mtime is complete and skipped; mtimes and permission
  bits are preserved, parent folders created;
- an existing different destination file is never changed unless `overwrite` is given;
- a symlink in the source that points outside the source tree refuses the whole copy; one that stays
  inside is skipped and reported (the copy never follows links, so it cannot leave the tree);
- memory is bounded: at most `_BUDGET` chunks of `_CHUNK` bytes are in flight per copy, `_DEPTH` per file.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import posixpath
import stat as st
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from ..core.errors import ConnectionLost, HpcError, UnknownTransfer
from ..core.platform import within
from ..core.transfer import LOCAL_ID_RE, MAX_LISTED, State, TransferStatus
from .ssh import SshPool
from .sshlib import asyncssh

log = logging.getLogger(__name__)

Direction = Literal["upload", "download"]
Kind = Literal["f", "d", "l", "o"]  # file, folder, symlink, other (fifo, socket, device)

PARTIAL_SUFFIX = ".sjtu-hpc-partial"
_CHUNK = 1 << 20  # bytes per read/write call
_DEPTH = 4  # chunks in flight per file
_RESUME_BACKOFF = 2 * _DEPTH * _CHUNK  # writes can land out of order within the window: don't trust its tail
_TAIL_CHECK = 64 << 10  # bytes before the resume point compared with the source
_WORKERS = 8  # files copied concurrently (small files are bound by round trips)
_BUDGET = 16  # chunks in flight per copy, over all its files
_SCAN_CONCURRENCY = 8
_MAX_NAMES = 20  # paths listed in a plan's or status's lists
_PROGRESS_EVERY_S = 0.5


# -- pure helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    kind: Kind
    size: int = 0
    mtime: int = 0  # whole seconds: SFTP v3 carries no more
    mode: int = 0o644


@dataclass(frozen=True)
class PlanFile:
    path: str  # relative to the source; "" when the source is this file
    size: int
    mtime: int
    mode: int


@dataclass(frozen=True)
class Comparison:
    files: tuple[PlanFile, ...]
    dirs: tuple[str, ...]  # folders to create, parents first
    overwrites: list[str]  # destination files that exist with another size or mtime
    unchanged: int  # files already complete at the destination
    conflicts: list[str]  # a file where a folder goes, or the reverse
    skipped: list[str]  # symlinks inside the tree, fifos, sockets, devices


def local_transfer_id(node: str, direction: Direction, local: str, remote: str) -> str:
    """The same copy asked for again gets the same id: starting it again resumes it."""
    digest = hashlib.sha256(f"{node}\0{direction}\0{local}\0{remote}".encode()).hexdigest()[:12]
    return f"local-{digest}"


def partial_name(name: str) -> str:
    """`.<name>.sjtu-hpc-partial`, shortened with a hash when that would exceed 255 bytes."""
    full = f".{name}{PARTIAL_SUFFIX}"
    if len(full.encode("utf-8", "surrogateescape")) <= 255:
        return full
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    head = name.encode("utf-8", "surrogateescape")[:200].decode("utf-8", "ignore")
    return f".{head}~{digest}{PARTIAL_SUFFIX}"


def is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def link_target(root: str, rel: str, target: str) -> str:
    """Where a symlink at root/rel pointing to `target` leads, lexically (`..` folded)."""
    base = posixpath.dirname(posixpath.join(root, rel))
    return posixpath.normpath(posixpath.join(base, target))


def resume_offset(partial_size: int, source_size: int) -> int:
    """Where to continue a partial file: its size less the write window, on a chunk boundary."""
    if partial_size > source_size:
        return 0
    keep = max(0, partial_size - _RESUME_BACKOFF)
    return keep - keep % _CHUNK


def join(root: str, rel: str) -> str:
    return posixpath.join(root, rel) if rel else root


def compare(source: Mapping[str, Stat], dest: Mapping[str, Stat], source_is_dir: bool) -> Comparison:
    """What a copy does: `source` and `dest` map relative paths ("" is the root itself) to stats."""
    files: list[PlanFile] = []
    dirs: list[str] = []
    overwrites: list[str] = []
    conflicts: list[str] = []
    skipped: list[str] = []
    unchanged = 0
    for rel in sorted(source):
        s = source[rel]
        d = dest.get(rel)
        if s.kind == "d":
            if rel == "" and not source_is_dir:
                continue
            if d is not None and d.kind != "d":
                conflicts.append(rel or ".")
            elif d is None and rel:
                dirs.append(rel)
            continue
        if s.kind != "f":
            skipped.append(rel)
            continue
        if d is not None and d.kind == "d":
            conflicts.append(rel or ".")
            continue
        files.append(PlanFile(rel, s.size, s.mtime, s.mode))
        if d is None:
            continue
        if d.kind == "f" and d.size == s.size and d.mtime == s.mtime:
            unchanged += 1
        else:
            overwrites.append(rel or ".")
    return Comparison(tuple(files), tuple(dirs), overwrites, unchanged, conflicts, skipped)


def _not_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalPlan:
    id: str
    node: str
    direction: Direction
    local: Path
    remote: str
    is_dir: bool
    files: tuple[PlanFile, ...]
    dirs: tuple[str, ...]
    bytes_total: int
    overwrites: list[str]  # relative paths ("." for a single file), all of them
    unchanged: int
    skipped: list[str]  # symlinks inside the tree and special files: not copied

    @property
    def source(self) -> str:
        return f"local:{self.local}" if self.direction == "upload" else self.remote

    @property
    def destination(self) -> str:
        return self.remote if self.direction == "upload" else f"local:{self.local}"

    @property
    def source_root(self) -> str:
        return str(self.local) if self.direction == "upload" else self.remote

    @property
    def dest_root(self) -> str:
        return self.remote if self.direction == "upload" else str(self.local)


# -- the two ends -------------------------------------------------------------------------------


class _Handle(Protocol):
    async def read(self, size: int, offset: int) -> bytes: ...
    async def write(self, data: bytes, offset: int) -> None: ...
    async def truncate(self, size: int) -> None: ...
    async def close(self) -> None: ...


class _End(Protocol):
    async def lstat(self, path: str) -> Stat | None: ...
    async def listdir(self, path: str) -> list[tuple[str, Stat]]: ...
    async def resolve(self, path: str) -> str | None: ...
    async def readlink(self, path: str) -> str: ...
    async def mkdir(self, path: str, parents: bool) -> None: ...
    async def remove(self, path: str) -> None: ...
    async def open_read(self, path: str) -> _Handle: ...
    async def open_partial(self, path: str) -> _Handle: ...
    async def finish(self, partial: str, target: str, mtime: int, mode: int, replace: bool) -> None: ...


def _stat_of(mode: int, size: int, mtime: float) -> Stat:
    kind: Kind = "f" if st.S_ISREG(mode) else "d" if st.S_ISDIR(mode) else "l" if st.S_ISLNK(mode) else "o"
    return Stat(kind, size if kind == "f" else 0, int(mtime), st.S_IMODE(mode))


class _LocalHandle:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    async def read(self, size: int, offset: int) -> bytes:
        return await asyncio.to_thread(os.pread, self.fd, size, offset)

    async def write(self, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            n = await asyncio.to_thread(os.pwrite, self.fd, view, offset)
            view, offset = view[n:], offset + n

    async def truncate(self, size: int) -> None:
        await asyncio.to_thread(os.ftruncate, self.fd, size)

    async def close(self) -> None:
        os.close(self.fd)


class _LocalEnd:
    async def lstat(self, path: str) -> Stat | None:
        try:
            s = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _stat_of(s.st_mode, s.st_size, s.st_mtime)

    async def listdir(self, path: str) -> list[tuple[str, Stat]]:
        def scan() -> list[tuple[str, Stat]]:
            with os.scandir(path) as it:
                return [
                    (e.name, _stat_of((s := e.stat(follow_symlinks=False)).st_mode, s.st_size, s.st_mtime)) for e in it
                ]

        return await asyncio.to_thread(scan)

    async def resolve(self, path: str) -> str | None:
        return os.path.realpath(path)

    async def readlink(self, path: str) -> str:
        return os.readlink(path)

    async def mkdir(self, path: str, parents: bool) -> None:
        if parents:
            os.makedirs(path, exist_ok=True)
        else:
            os.mkdir(path)

    async def remove(self, path: str) -> None:
        os.unlink(path)

    async def open_read(self, path: str) -> _Handle:
        return _LocalHandle(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC))

    async def open_partial(self, path: str) -> _Handle:
        return _LocalHandle(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))

    async def finish(self, partial: str, target: str, mtime: int, mode: int, replace: bool) -> None:
        os.chmod(partial, mode & 0o777)
        os.utime(partial, (mtime, mtime))
        if replace:
            os.replace(partial, target)
            return
        try:  # a hard link never replaces an existing name: no file appears between check and rename
            os.link(partial, target, follow_symlinks=False)
        except FileExistsError:
            raise
        except OSError:
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "exists", target) from None
            os.rename(partial, target)
            return
        os.unlink(partial)


class _RemoteHandle:
    def __init__(self, fh: asyncssh.SFTPClientFile) -> None:
        self.fh = fh

    async def read(self, size: int, offset: int) -> bytes:
        data = await self.fh.read(size, offset)
        assert isinstance(data, bytes)
        return data

    async def write(self, data: bytes, offset: int) -> None:
        await self.fh.write(data, offset)

    async def truncate(self, size: int) -> None:
        await self.fh.truncate(size)

    async def close(self) -> None:
        await self.fh.close()


class _RemoteEnd:
    def __init__(self, sftp: asyncssh.SFTPClient) -> None:
        self.sftp = sftp

    @staticmethod
    def _stat(a: asyncssh.SFTPAttrs) -> Stat:
        kind: Kind = (
            "f"
            if a.type == asyncssh.FILEXFER_TYPE_REGULAR
            else "d"
            if a.type == asyncssh.FILEXFER_TYPE_DIRECTORY
            else "l"
            if a.type == asyncssh.FILEXFER_TYPE_SYMLINK
            else "o"
        )
        return Stat(kind, (a.size or 0) if kind == "f" else 0, int(a.mtime or 0), (a.permissions or 0o644) & 0o7777)

    async def lstat(self, path: str) -> Stat | None:
        try:
            return self._stat(await self.sftp.lstat(path))
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath, asyncssh.SFTPNotADirectory):
            return None

    async def listdir(self, path: str) -> list[tuple[str, Stat]]:
        return [
            (str(n.filename), self._stat(n.attrs))
            async for n in self.sftp.scandir(path)
            if n.filename not in (".", "..")
        ]

    async def resolve(self, path: str) -> str | None:
        try:
            return str(await self.sftp.realpath(path))
        except asyncssh.SFTPError:
            return None

    async def readlink(self, path: str) -> str:
        return str(await self.sftp.readlink(path))

    async def mkdir(self, path: str, parents: bool) -> None:
        if parents:
            await self.sftp.makedirs(path, exist_ok=True)
        else:
            await self.sftp.mkdir(path)

    async def remove(self, path: str) -> None:
        await self.sftp.remove(path)

    async def open_read(self, path: str) -> _Handle:
        return _RemoteHandle(await self.sftp.open(path, "rb", encoding=None))

    async def open_partial(self, path: str) -> _Handle:
        flags = asyncssh.FXF_READ | asyncssh.FXF_WRITE | asyncssh.FXF_CREAT
        fh = await self.sftp.open(path, flags, asyncssh.SFTPAttrs(permissions=0o600), encoding=None)
        return _RemoteHandle(fh)

    async def finish(self, partial: str, target: str, mtime: int, mode: int, replace: bool) -> None:
        await self.sftp.setstat(partial, asyncssh.SFTPAttrs(permissions=mode & 0o777, atime=mtime, mtime=mtime))
        if replace:
            await self.sftp.posix_rename(partial, target)
        else:
            try:  # plain SFTP rename never replaces an existing name (OpenSSH links, then unlinks)
                await self.sftp.rename(partial, target)
            except asyncssh.SFTPFailure:
                if await self.lstat(target) is not None:
                    raise FileExistsError(errno.EEXIST, "exists", target) from None
                raise


async def _scan(end: _End, root: str, descend: Callable[[str], bool] | None = None) -> dict[str, Stat]:
    """Relative path -> stat of everything under root (root itself as ""); links are not followed."""
    top = await end.lstat(root)
    if top is None:
        return {}
    found = {"": top}
    if top.kind != "d":
        return found
    sem = asyncio.Semaphore(_SCAN_CONCURRENCY)

    async def walk(rel: str) -> None:
        async with sem:
            entries = await end.listdir(join(root, rel))
        subs: list[str] = []
        for name, s in entries:
            if is_partial(name) and s.kind == "f":
                continue
            child = posixpath.join(rel, name) if rel else name
            found[child] = s
            if s.kind == "d" and (descend is None or descend(child)):
                subs.append(child)
        await asyncio.gather(*(walk(c) for c in subs))

    await walk("")
    return found


async def _check_links(end: _End, root: str, entries: Mapping[str, Stat]) -> None:
    """Refuse the copy if a symlink in the source tree leads outside it."""
    escaping: list[str] = []
    for rel, s in entries.items():
        if s.kind != "l":
            continue
        path = join(root, rel)
        lexical = link_target(root, rel, await end.readlink(path))
        resolved = await end.resolve(path)
        if not within(lexical, root) or (resolved is not None and not within(resolved, root)):
            escaping.append(rel)
    if escaping:
        shown = ", ".join(sorted(escaping)[:5]) + (" …" if len(escaping) > 5 else "")
        raise HpcError(
            "E_SYMLINK_ESCAPE",
            f"{len(escaping)} symlink(s) in {root} point outside it ({shown}); nothing was copied.",
            "Remove or replace those links, or copy the folders they point to on their own.",
        )


# -- running copies -----------------------------------------------------------------------------


@dataclass
class _Job:
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


def _conn_lost() -> tuple[type[BaseException], ...]:
    return (
        asyncssh.SFTPConnectionLost,
        asyncssh.SFTPNoConnection,
        asyncssh.ConnectionLost,
        asyncssh.DisconnectError,
        BrokenPipeError,
        ConnectionResetError,
        EOFError,
    )


class _Lost(Exception):
    """The SSH connection went away: the whole run stops."""


class _Fatal(Exception):
    """A failure that would repeat for every file (this computer's disk is full)."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.SFTPError):
        return str(exc.reason or type(exc).__name__)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, HpcError):
        return exc.message
    return type(exc).__name__


class LocalTransfers:
    def __init__(self, ssh: SshPool) -> None:
        self._ssh = ssh
        self._jobs: dict[str, _Job] = {}

    # -- plan ---------------------------------------------------------------------------------

    async def plan(self, *, node: str, direction: Direction, local: Path, remote: str) -> LocalPlan:
        """Both sides inspected: what would be copied, and which destination files differ."""
        async with self._ssh.sftp(node, what="inspecting files") as sftp:
            remote_end = _RemoteEnd(sftp)
            local_end = _LocalEnd()
            src, dst = (local_end, remote_end) if direction == "upload" else (remote_end, local_end)
            src_root, dst_root = (str(local), remote) if direction == "upload" else (remote, str(local))
            try:
                source = await _scan(src, src_root)
                if not source:
                    where = "this computer" if direction == "upload" else node
                    raise HpcError("E_NOT_FOUND", f"{src_root} does not exist on {where}.", "Check the path.")
                await _check_links(src, src_root, source)
                bad = next((rel for rel in source if not rel.isprintable() or _not_utf8(rel)), None)
                if bad is not None:
                    raise HpcError(
                        "E_NAME",
                        f"The name {bad!r} under {src_root} holds a control character or is not UTF-8.",
                        "Rename it, or copy around it.",
                    )
                is_dir = source[""].kind == "d"
                if source[""].kind not in ("d", "f"):
                    raise HpcError("E_PATH", f"{src_root} is neither a file nor a folder.", "Name a file or folder.")
                dirs = {rel for rel, s in source.items() if s.kind == "d"}
                dest = await _scan(dst, dst_root, descend=lambda rel: rel in dirs)
            except UnicodeDecodeError:
                raise HpcError(
                    "E_NAME",
                    f"A file name under {src_root} or {dst_root} is not UTF-8.",
                    "Rename it, or copy around it.",
                ) from None
            except (OSError, asyncssh.SFTPError) as exc:
                if isinstance(exc, _conn_lost()):
                    raise ConnectionLost(f"The connection to {node} was lost.", "Try again.") from None
                raise HpcError(
                    "E_INSPECT", f"Cannot read {src_root} or {dst_root}: {_reason(exc)}.", "Check the paths."
                ) from None
        top = dest.get("")
        if top is not None and is_dir and top.kind != "d":
            raise HpcError(
                "E_DEST_NOT_DIR", f"{dst_root} exists and is not a folder.", "Name a folder (it may not exist yet)."
            )
        if top is not None and not is_dir and top.kind == "d":
            raise HpcError(
                "E_DEST_IS_DIR",
                f"{dst_root} is a folder; the destination is the file's own path.",
                f"Name the file's path inside it: {join(dst_root, posixpath.basename(src_root))}.",
            )
        c = compare(source, dest, is_dir)
        if c.conflicts:
            shown = ", ".join(c.conflicts[:5])
            raise HpcError(
                "E_TYPE_CONFLICT",
                f"{len(c.conflicts)} path(s) are a file on one side and a folder on the other ({shown}).",
                "Rename or remove them at the destination, or copy to a new folder.",
            )
        return LocalPlan(
            id=local_transfer_id(node, direction, str(local), remote),
            node=node,
            direction=direction,
            local=local,
            remote=remote,
            is_dir=is_dir,
            files=c.files,
            dirs=c.dirs,
            bytes_total=sum(f.size for f in c.files),
            overwrites=c.overwrites,
            unchanged=c.unchanged,
            skipped=c.skipped,
        )

    # -- start, status, wait, cancel, list ----------------------------------------------------

    def start(self, plan: LocalPlan, *, overwrite: bool) -> TransferStatus:
        job = self._jobs.get(plan.id)
        if job is not None and job.state == "running":
            return self._status(job)
        job = _Job(plan, overwrite, started=time.time())
        self._jobs.pop(plan.id, None)
        self._jobs[plan.id] = job  # re-inserted: the dict's order is the start order
        job.task = asyncio.create_task(self._run(job), name=f"transfer {plan.id}")
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

    def _job(self, transfer_id: str) -> _Job:
        job = self._jobs.get(transfer_id)
        if job is None:
            known = "a local transfer id" if LOCAL_ID_RE.fullmatch(transfer_id) else "not a local transfer id"
            raise UnknownTransfer(
                f"No transfer {transfer_id} in this server ({known}; local transfers end with the server).",
                "Use an id from transfer_data list, or start the transfer again: it resumes.",
            )
        return job

    def _status(self, job: _Job) -> TransferStatus:
        p = job.plan
        now = job.ended if job.ended is not None else time.time()
        elapsed = max(1e-3, now - job.started)
        rate = int(job.moved / elapsed) if job.moved else None
        done = job.state == "done"
        bytes_done = p.bytes_total if done else min(job.bytes_done, p.bytes_total)
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
            streams=max(1, min(_WORKERS, len(p.files))),
            files_total=len(p.files),
            files_done=len(p.files) if done else job.files_done,
            bytes_total=p.bytes_total,
            bytes_done=bytes_done,
            percent=round(100 * bytes_done / p.bytes_total, 1) if p.bytes_total else (100.0 if done else 0.0),
            rate_bytes_per_s=rate,
            eta_s=int((p.bytes_total - bytes_done) / rate) if job.state == "running" and rate else None,
            started=iso(job.started),
            ended=iso(job.ended) if job.ended is not None else None,
            cause=job.cause,
            fix=job.fix,
            errors=notes[-5:],
            survives_restart=False,
        )

    # -- the copy itself ----------------------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        p = job.plan
        try:
            async with self._ssh.sftp(p.node) as sftp:
                remote = _RemoteEnd(sftp)
                local = _LocalEnd()
                src, dst = (local, remote) if p.direction == "upload" else (remote, local)
                await self._copy(job, src, dst)
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

    async def _copy(self, job: _Job, src: _End, dst: _End) -> None:
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
            if isinstance(exc, _conn_lost()):
                raise _Lost from None
            raise HpcError(
                "E_MKDIR", f"Cannot create folders under {root}: {_reason(exc)}.", "Check permissions and space."
            ) from None
        queue: deque[PlanFile] = deque(p.files)

        async def worker() -> None:
            while queue:
                f = queue.popleft()
                try:
                    await self._copy_file(job, src, dst, f)
                except (OSError, asyncssh.SFTPError, HpcError) as exc:
                    if isinstance(exc, _conn_lost()):
                        raise _Lost from None
                    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
                    if full and isinstance(dst, _LocalEnd):
                        raise _Fatal("this computer's disk is full") from None
                    job.errors.append(f"{f.path or posixpath.basename(p.source_root)}: {_reason(exc)}"[:300])
                    del job.errors[:-50]

        tasks = [asyncio.create_task(worker()) for _ in range(max(1, min(_WORKERS, len(p.files))))]
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

    async def _copy_file(self, job: _Job, src: _End, dst: _End, f: PlanFile) -> None:
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
                await self._stream(job, reader, writer, offset, now.size, source)
            finally:
                await writer.close()
        finally:
            await reader.close()
        await dst.finish(partial, target, now.mtime, now.mode, replace=existing is not None)
        job.files_done += 1

    @staticmethod
    async def _stream(job: _Job, reader: _Handle, writer: _Handle, offset: int, size: int, source: str) -> None:
        """Chunks in order of offset, `_DEPTH` in flight; progress counted as the oldest completes."""

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
                while offset < size and len(pending) < _DEPTH:
                    n = min(_CHUNK, size - offset)
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
