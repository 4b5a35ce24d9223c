"""The two ends of a local copy behind one interface: this computer's files, and a data node's over SFTP.

Also which failures mean the SSH connection is gone, and a short reason for any other.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat as st
from typing import Protocol

from ...core.errors import HpcError
from ...core.transfer.local import Kind, Stat
from ..sshlib import asyncssh


class Handle(Protocol):
    async def read(self, size: int, offset: int) -> bytes: ...
    async def write(self, data: bytes, offset: int) -> None: ...
    async def truncate(self, size: int) -> None: ...
    async def close(self) -> None: ...


class End(Protocol):
    async def lstat(self, path: str) -> Stat | None: ...
    async def listdir(self, path: str) -> list[tuple[str, Stat]]: ...
    async def resolve(self, path: str) -> str | None: ...
    async def readlink(self, path: str) -> str: ...
    async def mkdir(self, path: str, parents: bool) -> None: ...
    async def remove(self, path: str) -> None: ...
    async def open_read(self, path: str) -> Handle: ...
    async def open_partial(self, path: str) -> Handle: ...
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


class LocalEnd:
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

    async def open_read(self, path: str) -> Handle:
        return _LocalHandle(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC))

    async def open_partial(self, path: str) -> Handle:
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


class RemoteEnd:
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

    async def open_read(self, path: str) -> Handle:
        return _RemoteHandle(await self.sftp.open(path, "rb", encoding=None))

    async def open_partial(self, path: str) -> Handle:
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


def conn_lost() -> tuple[type[BaseException], ...]:
    return (
        asyncssh.SFTPConnectionLost,
        asyncssh.SFTPNoConnection,
        asyncssh.ConnectionLost,
        asyncssh.DisconnectError,
        BrokenPipeError,
        ConnectionResetError,
        EOFError,
    )


def reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.SFTPError):
        return str(exc.reason or type(exc).__name__)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, HpcError):
        return exc.message
    return type(exc).__name__
