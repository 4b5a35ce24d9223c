"""transfer_data as steps: which data node, both ends resolved and confined on it, space, quota and the
person's consent, then the copy launched in tmux on the node (shell/data.py runs every step). A local end
goes to LocalCopies (ops/local_transfers.py).
"""

from __future__ import annotations

import asyncio
import posixpath
import time

from ..core import consent
from ..core import transfer as t
from ..core.account import human_bytes, quota_left_on
from ..core.data_results import LIST_COLUMNS, Plan, TransferResult
from ..core.errors import HpcError
from ..core.platform import Platform
from ..core.policy import check_space, check_transfer_ends, cold_target, data_route, home_rel
from ..core.results import MAX_WAIT_S, table
from ..settings import Settings
from ..shell.data import DataNodes
from ..shell.hpc_api import HpcApi
from ..shell.local import LocalTransfers
from .local_transfers import LocalCopies
from .quota import person_quota
from .talk import Progress, Roots

TICKS = 10  # one status read waits on the node up to 1 s for the end: progress each second, ends seen fast


class Transfers:
    """Transfers on a data node, or between a data node and this computer."""

    def __init__(
        self, settings: Settings, platform: Platform, data: DataNodes, local: LocalTransfers, api: HpcApi
    ) -> None:
        self.settings = settings
        self.platform = platform
        self.data = data
        self.local = local
        self.api = api
        self.copies = LocalCopies(settings, platform, data, local, api)

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
            return await self.copies.start(progress, roots, src, dst, confirm, declined, wait_s)
        node = data_route(p, t.pool_of(p, src, "source"), t.pool_of(p, dst, "destination")).node
        home, free = await self.data.probe(node, t.space_pools(p))
        rel = home_rel(home)
        quota = asyncio.create_task(person_quota(self.api, rel))  # meanwhile: the API is slower than the node
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

    async def status(self, tid: str, verify: bool, wait_s: float, limit: int, progress: Progress) -> TransferResult:
        if t.LOCAL_ID_RE.fullmatch(tid):
            status = await self.copies.follow(progress, tid, wait_s)
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

