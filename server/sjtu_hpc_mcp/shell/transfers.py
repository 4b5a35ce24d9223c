"""transfer_data and manage_storage as steps on the nodes: the policy decides, DataNodes and
LocalTransfers act. The tools only parse arguments, ask the person and shape the text.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from ..core import consent
from ..core import transfer as t
from ..core.account import QuotaLine, human_bytes, quota_left_on, quota_lines, quota_table
from ..core.data_results import ENTRY_COLUMNS, LIST_COLUMNS, Plan, StorageResult, TransferResult
from ..core.errors import HpcError
from ..core.platform import Platform
from ..core.policy import (
    check_space,
    check_transfer_ends,
    check_writable,
    cold_target,
    confine,
    confine_local,
    data_route,
    home_rel,
    resolve_personal,
)
from ..core.results import MAX_WAIT_S, table
from ..settings import Settings
from .data import DataNodes
from .hpc_api import HpcApi
from .local import LocalTransfers

TICKS = 10  # one status read waits on the node up to 1 s for the end: progress each second, ends seen fast
QUOTA_S = 3.0

# (done, total or None, message): MCP progress notifications, when the client asked for them
Progress = Callable[[int, int | None, str], Awaitable[None]]
# the folders the client shares (MCP roots), asked only when a local path is involved
Roots = Callable[[], Awaitable[Sequence[str]]]


class DataOps:
    """Transfers (on a data node, or between a data node and this computer) and storage acts."""

    def __init__(
        self, settings: Settings, platform: Platform, data: DataNodes, local: LocalTransfers, api: HpcApi
    ) -> None:
        self.settings = settings
        self.platform = platform
        self.data = data
        self.local = local
        self.api = api

    async def _follow(self, progress: Progress, node: str, tid: str, wait_s: float) -> t.TransferStatus:
        """Status now, or after waiting up to wait_s for the end, with progress notifications meanwhile."""
        deadline = time.monotonic() + min(wait_s, MAX_WAIT_S)
        status = await self.data.status(node, tid)
        while status.state == "running" and time.monotonic() < deadline - 0.05:
            await progress(status.bytes_done, status.bytes_total or None, f"{status.percent}% of {tid}")
            ticks = max(1, min(TICKS, int((deadline - time.monotonic()) * 10)))
            status = await self.data.status(node, tid, ticks=ticks)
        if wait_s > 0:
            await progress(status.bytes_done, status.bytes_total or None, f"{status.state} {tid}")
        return status

    async def _quota(self, rel: str) -> tuple[list[QuotaLine], list[str]]:
        """The person's user and account quota lines, when the API answers in time (it needs no token)."""
        account, user = rel.split("/")[1:3]
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(self.api.quota("user", user), self.api.quota("account", account)), QUOTA_S
            )
        except (HpcError, TimeoutError):
            return [], ["The quota could not be read from the API; only the pools' free space was checked."]
        pairs = (("user", user), ("account", account))
        return [q for (k, w), a in zip(pairs, answers, strict=True) for q in quota_lines(k, w, a)], []

    async def _ends(
        self, node: str, src: t.Spec, dst: t.Spec, mode: t.Mode, rel: str, free: dict[str, int]
    ) -> tuple[t.Inspected, str | None]:
        """Both ends resolved on the node, confined again after symlinks, and the cold pool's choice."""
        p = self.platform
        source = t.resolve_source(p, src, rel)
        cold_pool = why = None
        if dst.pool == "cold":
            candidates = {pool: t.resolve_destination(p, dst, source, rel, pool) for pool in p.cold_pools}
            there = await self.data.existing(node, list(candidates.values()))
            cold_pool, why = cold_target(p, free, [pool for pool, path in candidates.items() if path in there])
        ins = await self.data.inspect(node, source, t.resolve_destination(p, dst, source, rel, cold_pool))
        ends = check_transfer_ends(
            p, node, rel, ins.source, ins.destination, ins.is_dir, ins.dest_exists == "dir", mode
        )
        return t.Inspected(ins.is_dir, ins.dest_exists, *ends), why

    async def start(
        self,
        source: str,
        destination: str,
        mode: t.Mode,
        streams: int | None,
        *,
        confirm: bool,
        declined: bool,
        wait_s: float,
        progress: Progress,
        roots: Roots,
    ) -> TransferResult:
        """Plan on the node, check space, quota and consent, then launch (or say what it would do)."""
        p = self.platform
        src, dst = t.parse_location(source), t.parse_location(destination)
        if "local" in (src.kind, dst.kind):
            return await self._start_local(progress, roots, src, dst, confirm, declined, wait_s)
        node = data_route(p, t.pool_of(p, src, "source"), t.pool_of(p, dst, "destination")).node
        home, free = await self.data.probe(node, t.space_pools(p))
        rel = home_rel(home)
        quota = asyncio.create_task(self._quota(rel))  # meanwhile: the API is slower than the node
        try:
            ins, why = await self._ends(node, src, dst, mode, rel, free)
            tid = t.transfer_id(node, ins.source, ins.destination, mode)
            current = await self.data.status_if_known(node, tid)
            if current is not None and current.state == "running":
                return TransferResult(
                    action="start", node=node, transfer=current, summary="Already running; nothing new started."
                )
            if ins.dest_exists != "none" or not ins.is_dir:
                items = await self.data.itemize(node, t.dry_run_argv(ins.source, ins.destination, ins.is_dir))
                entries = t.entries_from_itemized(items)
                overwrites = t.overwrite_preview(items, len(items), posixpath.basename(ins.destination))
            else:
                entries, overwrites = await self.data.entries(node, ins.source), []
            lines, notes = await quota
        finally:
            quota.cancel()
        dest_root = p.storage_of(ins.destination).root
        meta, lists = t.plan(
            tid,
            node,
            mode,
            ins,
            entries,
            streams,
            overwrite=confirm,
            run=current.run + 1 if current else 1,
            why=why,
            started=time.time(),
        )
        plan = Plan(
            files=meta.files,
            bytes=meta.bytes,
            size=human_bytes(meta.bytes),
            streams=meta.streams,
            free_bytes=free.get(dest_root, 0),
            quota_left_bytes=quota_left_on(lines, dest_root),
        )
        check_space(ins.destination, meta.bytes, plan.free_bytes, plan.quota_left_bytes)

        def preview(summary: str, shown: list[str] | None = None) -> TransferResult:
            return TransferResult(
                action="start",
                node=node,
                plan=plan,
                summary=summary,
                transfer=current,
                would_overwrite=shown[: self.settings.max_rows] if shown else None,
                would_overwrite_total=len(shown) if shown else None,
                warnings=notes,
            )

        what = f"{meta.files} files ({plan.size}) from {ins.source} to {ins.destination}" + (
            f" (cold: {why})" if why else ""
        )
        act, step = consent.transfer_gate(bool(overwrites), mode, confirm, declined)
        if step != "go":
            listed = overwrites if act == "overwrite" and step == "preview" else None
            return preview(consent.say(act, step, count=len(overwrites), what=what), listed)
        if not entries and mode == "copy":
            return preview(f"Nothing to copy: {ins.destination} already holds everything in {ins.source}.")
        await self.data.launch(meta, lists)
        result = preview(f"Started: {what}" + (f" in {meta.streams} streams." if meta.streams > 1 else "."))
        result.transfer = await self._follow(progress, node, tid, wait_s)
        return result

    async def _local_path(self, roots: Roots, spec: t.Spec) -> Path:
        """A path on this computer, symlinks resolved, inside a shared folder (MCP roots or --local-root)."""
        assert spec.path is not None
        given = Path(spec.path).expanduser()
        if not given.is_absolute():
            raise HpcError("E_PATH", f"local:{spec.path} is not absolute.", "Give local:/absolute/path.")
        shared = [os.path.realpath(r) for r in [*map(str, self.settings.local_root), *await roots()]]
        return Path(confine_local(os.path.realpath(given), shared))

    async def _start_local(
        self,
        progress: Progress,
        roots: Roots,
        src: t.Spec,
        dst: t.Spec,
        confirm: bool,
        declined: bool,
        wait_s: float,
    ) -> TransferResult:
        """One end on this computer: an SFTP copy in the server process (it does not survive a restart)."""
        p = self.platform
        if src.kind == dst.kind:
            raise HpcError("E_PATH", "Both ends are on this computer.", "Copy locally, or name a pool on one side.")
        upload = src.kind == "local"
        local_spec, remote_spec = (src, dst) if upload else (dst, src)
        local = await self._local_path(roots, local_spec)
        node = data_route(p, t.pool_of(p, remote_spec, "destination" if upload else "source")).node
        home, free = await self.data.probe(node, t.space_pools(p))
        rel = home_rel(home)
        why = None
        if upload and remote_spec.kind == "pool":
            pool = remote_spec.pool
            if pool == "cold":
                pool, why = cold_target(p, free)
            assert pool is not None
            remote = resolve_personal(p, pool, remote_spec.path or local.name, rel)
        else:
            remote = t.resolve_source(p, remote_spec, rel)
        remote = confine(p, await self.data.realpath(node, remote), rel)
        if upload:
            check_writable(p, node, remote)
        plan = await self.local.plan(
            node=node, direction="upload" if upload else "download", local=local, remote=remote
        )
        if upload:
            lines, notes = await self._quota(rel)
            quota_left = quota_left_on(lines, p.storage_of(remote).root)
            check_space(remote, plan.bytes_total, free.get(p.storage_of(remote).root, 0), quota_left)
        else:
            notes = []
            room = shutil.disk_usage(local if local.exists() else local.parent).free if local.parent.exists() else 0
            check_space(str(local), plan.bytes_total, room)
        files = len(plan.files)
        what = f"{files} files ({human_bytes(plan.bytes_total)}) from {plan.source} to {plan.destination}"
        result = TransferResult(
            action="start",
            node=node,
            summary="",
            plan=Plan(files=files, bytes=plan.bytes_total, size=human_bytes(plan.bytes_total), streams=1, free_bytes=0),
            warnings=notes
            + ([f"skipped (links or special files): {', '.join(plan.skipped[:10])}"] if plan.skipped else []),
        )
        step = consent.gate("overwrite", confirm, declined, needed=bool(plan.overwrites))
        if step == "preview":
            result.would_overwrite = plan.overwrites[: self.settings.max_rows]
            result.would_overwrite_total = len(plan.overwrites)
        if step != "go":
            result.summary = consent.say("overwrite", step, count=len(plan.overwrites))
            return result
        status = self.local.start(plan, overwrite=confirm)
        status = await self._follow_local(progress, status.id, wait_s)
        result.transfer = status
        result.summary = (
            f"Started: {what}"
            + (f" (cold: {why})" if why else "")
            + (". It runs in this server: it stops if the server stops (start it again to resume).")
        )
        return result

    async def _follow_local(self, progress: Progress, tid: str, wait_s: float) -> t.TransferStatus:
        async def report(done: int, total: int) -> None:
            await progress(done, total or None, tid)

        if wait_s <= 0:
            return self.local.status(tid)
        return await self.local.wait(tid, min(wait_s, MAX_WAIT_S), report)

    async def status(self, tid: str, verify: bool, wait_s: float, limit: int, progress: Progress) -> TransferResult:
        if t.LOCAL_ID_RE.fullmatch(tid):
            status = await self._follow_local(progress, tid, wait_s)
            result = TransferResult(
                action="status", node=status.node, transfer=status, summary=f"{tid} is {status.state}."
            )
            if verify:
                result.warnings.append(
                    "verify compares checksums on a data node; it is not available for local copies."
                )
            return result
        node = t.node_of_id(self.platform, tid)
        status = await self._follow(progress, node, tid, wait_s)
        result = TransferResult(
            action="status", node=node, transfer=status, summary=f"Transfer {tid} is {status.state}."
        )
        if status.source_removed:
            result.summary += " Its source was deleted after a checksum comparison found no difference."
        if not verify:
            return result
        if status.state == "running":
            result.warnings.append("Not verified: the transfer is still running; verify once it is done.")
        elif status.source_removed:
            result.verified = True
        else:
            is_dir = await self._is_dir(node, status)
            items = await self.data.itemize(node, t.verify_argv(status.source, status.destination, is_dir))
            diff = t.differences(items, limit)
            result.verified = not diff
            result.differences = diff or None
            result.summary += " Verified: every file matches by checksum." if not diff else " Files differ (below)."
        return result

    async def _is_dir(self, node: str, status: t.TransferStatus) -> bool:
        ins = await self.data.inspect(node, status.source, status.destination)
        return ins.is_dir

    async def cancel(self, tid: str, *, confirm: bool, declined: bool) -> TransferResult:
        local = bool(t.LOCAL_ID_RE.fullmatch(tid))
        node = self.local.status(tid).node if local else t.node_of_id(self.platform, tid)
        status = self.local.status(tid) if local else await self.data.status(node, tid)
        if status.state != "running":
            return TransferResult(action="cancel", node=node, transfer=status, summary=f"Not running ({status.state}).")
        step = consent.gate("cancel_transfer", confirm, declined)
        if step != "go":
            return TransferResult(
                action="cancel", node=node, transfer=status, summary=consent.say("cancel_transfer", step)
            )
        if local:
            status = await self.local.cancel(tid)
            return TransferResult(
                action="cancel", node=node, transfer=status, summary="Cancelled; what was copied stays."
            )
        _, left = await self.data.cancel(node, tid)
        status = await self.data.status(node, tid)
        summary = "Cancelled; what was copied stays. Start it again to resume."
        if left:
            summary += f" {left} rsync process(es) did not stop yet; check again."
        return TransferResult(action="cancel", node=node, transfer=status, summary=summary)

    async def list(self, limit: int) -> TransferResult:
        nodes = self.platform.data_nodes
        found = await asyncio.gather(*(self.data.transfers(n, limit) for n in nodes), return_exceptions=True)
        rows: list[t.TransferStatus] = []
        warnings: list[str] = []
        for node, f in zip(nodes, found, strict=True):
            if isinstance(f, HpcError):
                warnings.append(f"{node}: {f}")
            elif isinstance(f, BaseException):
                raise f
            else:
                rows += f
        rows += self.local.list()
        rows.sort(key=lambda s: s.started, reverse=True)
        return TransferResult(
            action="list",
            transfers=table(rows, LIST_COLUMNS, limit),
            summary=f"{len(rows)} transfers on {', '.join(nodes)}",
            warnings=warnings,
        )

    async def storage(
        self, action: str, path: str | None, limit: int, *, confirm: bool, declined: bool
    ) -> StorageResult:
        p = self.platform
        if action == "free":
            node = data_route(p, *p.cold_pools).node
            home, free = await self.data.probe(node, list(p.storage))
            quota, notes = await self._quota(home_rel(home))
            tbl = table(
                [(root, free.get(root)) for root in p.storage],
                [
                    ("pool", lambda r: r[0]),
                    ("kind", lambda r: p.storage[r[0]].kind),
                    ("free_bytes", lambda r: r[1]),
                    ("free", lambda r: human_bytes(r[1])),
                ],
                limit,
            )
            try:
                why = "for cold data: " + cold_target(p, free)[1]
            except HpcError as exc:
                why = exc.message
            return StorageResult(
                action="free",
                node=node,
                free=tbl,
                quota=quota_table(quota) if quota else None,
                summary=f"Free space; {why}.",
                warnings=notes,
            )
        if path is None:
            raise HpcError("E_ARG", f"{action} needs a path.", "Give path, e.g. lustre:results or /archive/home/….")
        spec = t.parse_location(path)
        if spec.kind == "local":
            raise HpcError("E_ARG", "manage_storage acts on the platform's storage only.", "Give a pool path.")
        node = data_route(p, t.pool_of(p, spec, "source")).node
        rel = await self.data.rel(node)
        given = t.resolve_storage_path(p, spec, rel)
        # Again on what the node resolves: a symlink (or a parent that is one) may point anywhere.
        where = confine(p, await self.data.realpath(node, given), rel, allow_root=action != "remove")
        if action == "remove":
            where = confine(p, given, rel, allow_root=False)  # the link itself goes, never its target
        if action == "mkdir":
            check_writable(p, node, where)
            await self.data.mkdir(node, where)
            return StorageResult(action="mkdir", node=node, path=where, summary=f"Created {where} (or it existed).")
        if action == "list":
            found, total = await self.data.list_dir(node, where, limit)
            tbl = table(found, ENTRY_COLUMNS, limit)
            tbl.total, tbl.truncated = total, total > len(found)
            return StorageResult(
                action="list", node=node, path=where, entries=tbl, summary=f"{total} entries in {where}"
            )
        if action == "usage":
            u = await self.data.usage(node, where)
            note = "" if u.complete else " (lower bound: du was stopped by its time limit)"
            return StorageResult(action="usage", node=node, path=where, usage=u, summary=f"{where}: {u.size}{note}")
        check_writable(p, node, where)
        preview = await self.data.scan(node, where)
        what = f"{preview.files} files and {preview.dirs} folders, {preview.size}, in {where}"
        step = consent.gate("remove", confirm, declined)
        if step != "go":
            return StorageResult(
                action="remove",
                node=node,
                path=where,
                removal=preview,
                removed=False,
                summary=consent.say("remove", step, what=what),
            )
        await self.data.remove(node, where)
        return StorageResult(
            action="remove", node=node, path=where, removal=preview, removed=True, summary=f"Deleted {what}."
        )
