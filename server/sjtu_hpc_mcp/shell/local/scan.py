"""Scanning a local copy's two trees, and planning it: what each side holds, and symlinks that leave the source.

The rules that turn the two scans into a plan are pure and live in core/transfer/local.py.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path

from ...core.errors import ConnectionLost, HpcError
from ...core.platform import within
from ...core.transfer.local import Direction, LocalPlan, Stat, check_source, is_partial, join, link_target, make_plan
from ..ssh import SshPool
from ..sshlib import asyncssh
from .files import End, LocalEnd, RemoteEnd, conn_lost, reason

_SCAN_CONCURRENCY = 8


async def scan(end: End, root: str, descend: Callable[[str], bool] | None = None) -> dict[str, Stat]:
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


async def check_links(end: End, root: str, entries: Mapping[str, Stat]) -> None:
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


async def plan_copy(ssh: SshPool, *, node: str, direction: Direction, local: Path, remote: str) -> LocalPlan:
    """Both sides inspected: what would be copied, and which destination files differ."""
    async with ssh.sftp(node, what="inspecting files") as sftp:
        remote_end = RemoteEnd(sftp)
        local_end = LocalEnd()
        src, dst = (local_end, remote_end) if direction == "upload" else (remote_end, local_end)
        src_root, dst_root = (str(local), remote) if direction == "upload" else (remote, str(local))
        try:
            source = await scan(src, src_root)
            if not source:
                where = "this computer" if direction == "upload" else node
                raise HpcError("E_NOT_FOUND", f"{src_root} does not exist on {where}.", "Check the path.")
            await check_links(src, src_root, source)
            check_source(source, src_root)
            dirs = {rel for rel, s in source.items() if s.kind == "d"}
            dest = await scan(dst, dst_root, descend=lambda rel: rel in dirs)
        except UnicodeDecodeError:
            raise HpcError(
                "E_NAME",
                f"A file name under {src_root} or {dst_root} is not UTF-8.",
                "Rename it, or copy around it.",
            ) from None
        except (OSError, asyncssh.SFTPError) as exc:
            if isinstance(exc, conn_lost()):
                raise ConnectionLost(f"The connection to {node} was lost.", "Try again.") from None
            raise HpcError(
                "E_INSPECT", f"Cannot read {src_root} or {dst_root}: {reason(exc)}.", "Check the paths."
            ) from None
    return make_plan(node, direction, local, remote, source, dest)
