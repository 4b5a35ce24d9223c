"""transfer_data and manage_storage: on the data node the policy picks from the storages involved."""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .._mcp import (
    CallToolResult,
    Consent,
    Context,
    MCPServer,
    Resolve,
    client_roots,
    consent_declined,
    destructive,
    elicit_consent,
    lean,
    tool_errors,
)
from ..core import transfer as t
from ..core.account import QuotaLine, human_bytes, quota_left_on, quota_lines
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
    needs_confirmation,
    resolve_personal,
    transfer_consent_missing,
)
from ..core.results import Table, table, table_text
from ..core.storage import RemovalPreview, Usage
from ..services import Services, services

MAX_WAIT_S = 50.0
TICKS = 10  # one status read waits on the node up to 1 s for the end: progress each second, ends seen fast
QUOTA_S = 3.0


class Plan(BaseModel):
    files: int
    bytes: int
    size: str | None
    streams: int
    free_bytes: int
    quota_left_bytes: int | None = None


class TransferResult(BaseModel):
    action: Literal["start", "status", "cancel", "list"]
    summary: str
    node: str | None = Field(None, description="Data node the transfer runs on.")
    transfer: t.TransferStatus | None = None
    transfers: Table | None = None
    plan: Plan | None = None
    would_overwrite: list[str] | None = Field(None, description="Existing destination files that would change.")
    would_overwrite_total: int | None = None
    verified: bool | None = None
    differences: list[str] | None = None
    warnings: list[str] = []


LIST_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda s: s.id),
    ("state", lambda s: s.state),
    ("mode", lambda s: s.mode),
    ("percent", lambda s: s.percent),
    ("size", lambda s: human_bytes(s.bytes_total)),
    ("source", lambda s: s.source),
    ("destination", lambda s: s.destination),
    ("started", lambda s: s.started),
]


def _pool_of(platform: Platform, spec: t.Spec, role: str) -> str:
    """The storage root an end is on, before anything is resolved: enough to pick the data node."""
    if spec.kind == "path":
        assert spec.path is not None
        return platform.storage_of(spec.path).root
    if spec.pool == "cold":
        return platform.cold_view if role == "source" else platform.cold_pools[0]
    assert spec.pool is not None
    return spec.pool


def _pools(platform: Platform) -> list[str]:
    """The pools whose free space a transfer may need (the union view over the cold pools is not one)."""
    return [root for root, st in platform.storage.items() if not st.union_of]


def _status_text(s: t.TransferStatus) -> str:
    text = (
        f"{s.id} {s.state}: {human_bytes(s.bytes_done)} of {human_bytes(s.bytes_total)} ({s.percent}%), "
        f"{s.files_done}/{s.files_total} files, {s.streams} stream(s)"
    )
    if s.rate_bytes_per_s:
        text += f", {human_bytes(s.rate_bytes_per_s)}/s"
    if s.eta_s is not None:
        text += f", about {s.eta_s} s left"
    if s.source_removed:
        text += "; the source was deleted after a checksum comparison found no difference"
    if s.cause:
        text += f". {s.cause}. Fix: {s.fix}"
    return text


def _result(model: TransferResult) -> CallToolResult:
    parts = [model.summary + (f" [node {model.node}]" if model.node else "")]
    if model.transfer is not None:
        parts.append(_status_text(model.transfer))
        parts += [f"error: {e}" for e in model.transfer.errors]
    if model.would_overwrite:
        parts.append("would overwrite: " + ", ".join(model.would_overwrite))
    if model.differences:
        parts.append("differs: " + ", ".join(model.differences))
    if model.transfers is not None:
        parts.append(table_text(model.transfers))
    parts += [f"warning: {w}" for w in model.warnings]
    return lean(model, text="\n".join(parts))


async def _follow(svc: Services, ctx: Context[Any, Any], node: str, tid: str, wait_s: float) -> t.TransferStatus:
    """Status now, or after waiting up to wait_s for the end, with progress notifications meanwhile."""
    deadline = time.monotonic() + min(wait_s, MAX_WAIT_S)
    status = await svc.data.status(node, tid)
    while status.state == "running" and time.monotonic() < deadline - 0.05:
        await ctx.report_progress(status.bytes_done, status.bytes_total or None, f"{status.percent}% of {tid}")
        ticks = max(1, min(TICKS, int((deadline - time.monotonic()) * 10)))
        status = await svc.data.status(node, tid, ticks=ticks)
    if wait_s > 0:
        await ctx.report_progress(status.bytes_done, status.bytes_total or None, f"{status.state} {tid}")
    return status


async def _quota(svc: Services, rel: str) -> tuple[list[QuotaLine], list[str]]:
    """The person's user and account quota lines, when the API answers in time (it needs no token)."""
    account, user = rel.split("/")[1:3]
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(svc.api.quota("user", user), svc.api.quota("account", account)), QUOTA_S
        )
    except (HpcError, TimeoutError):
        return [], ["The quota could not be read from the API; only the pools' free space was checked."]
    pairs = (("user", user), ("account", account))
    return [q for (k, w), a in zip(pairs, answers, strict=True) for q in quota_lines(k, w, a)], []


async def _ends(
    svc: Services, node: str, src: t.Spec, dst: t.Spec, mode: t.Mode, rel: str, free: dict[str, int]
) -> tuple[t.Inspected, str | None]:
    """Both ends resolved on the node, confined again after symlinks, and the cold pool's choice."""
    p = svc.platform
    source = t.resolve_source(p, src, rel)
    cold_pool = why = None
    if dst.pool == "cold":
        candidates = {pool: t.resolve_destination(p, dst, source, rel, pool) for pool in p.cold_pools}
        there = await svc.data.existing(node, list(candidates.values()))
        cold_pool, why = cold_target(p, free, [pool for pool, path in candidates.items() if path in there])
    ins = await svc.data.inspect(node, source, t.resolve_destination(p, dst, source, rel, cold_pool))
    ends = check_transfer_ends(p, node, rel, ins.source, ins.destination, ins.is_dir, ins.dest_exists == "dir", mode)
    return t.Inspected(ins.is_dir, ins.dest_exists, *ends), why


async def _start(
    svc: Services,
    ctx: Context[Any, Any],
    source: str,
    destination: str,
    mode: t.Mode,
    streams: int | None,
    confirm: bool,
    approval: Consent,
    wait_s: float,
) -> TransferResult:
    p = svc.platform
    src, dst = t.parse_location(source), t.parse_location(destination)
    if "local" in (src.kind, dst.kind):
        return await _start_local(svc, ctx, src, dst, confirm, approval, wait_s)
    node = data_route(p, _pool_of(p, src, "source"), _pool_of(p, dst, "destination")).node
    home, free = await svc.data.probe(node, _pools(p))
    rel = home_rel(home)
    quota = asyncio.create_task(_quota(svc, rel))  # meanwhile: the API is slower than the node
    try:
        ins, why = await _ends(svc, node, src, dst, mode, rel, free)
        tid = t.transfer_id(node, ins.source, ins.destination, mode)
        current = await svc.data.status_if_known(node, tid)
        if current is not None and current.state == "running":
            return TransferResult(
                action="start", node=node, transfer=current, summary="Already running; nothing new started."
            )
        if ins.dest_exists != "none" or not ins.is_dir:
            items = await svc.data.itemize(node, t.dry_run_argv(ins.source, ins.destination, ins.is_dir))
            entries = t.entries_from_itemized(items)
            overwrites = t.overwrite_preview(items, len(items), posixpath.basename(ins.destination))
        else:
            entries, overwrites = await svc.data.entries(node, ins.source), []
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
            would_overwrite=shown[: svc.settings.max_rows] if shown else None,
            would_overwrite_total=len(shown) if shown else None,
            warnings=notes,
        )

    what = f"{meta.files} files ({plan.size}) from {ins.source} to {ins.destination}" + (
        f" (cold: {why})" if why else ""
    )
    missing = transfer_consent_missing(bool(overwrites), mode, confirm)
    if missing == "overwrite":
        return preview(
            f"Would change {len(overwrites)} existing file(s) at the destination; nothing started. Show the list to "
            "the person; call again with confirm=true to overwrite them.",
            overwrites,
        )
    if missing == "move":
        return preview(
            f"Would move {what}: copy, compare checksums, then delete the source. Nothing started. Ask the person; "
            "call again with confirm=true."
        )
    if consent_declined(approval):
        return preview("The person declined; nothing was started.")
    if not entries and mode == "copy":
        return preview(f"Nothing to copy: {ins.destination} already holds everything in {ins.source}.")
    await svc.data.launch(meta, lists)
    result = preview(f"Started: {what}" + (f" in {meta.streams} streams." if meta.streams > 1 else "."))
    result.transfer = await _follow(svc, ctx, node, tid, wait_s)
    return result


async def _local_path(svc: Services, ctx: Context[Any, Any], spec: t.Spec) -> Path:
    """A path on this computer, symlinks resolved, inside a shared folder (MCP roots or --local-root)."""
    assert spec.path is not None
    given = Path(spec.path).expanduser()
    if not given.is_absolute():
        raise HpcError("E_PATH", f"local:{spec.path} is not absolute.", "Give local:/absolute/path.")
    roots = [os.path.realpath(r) for r in [*map(str, svc.settings.local_root), *await client_roots(ctx)]]
    return Path(confine_local(os.path.realpath(given), roots))


async def _start_local(
    svc: Services,
    ctx: Context[Any, Any],
    src: t.Spec,
    dst: t.Spec,
    confirm: bool,
    approval: Consent,
    wait_s: float,
) -> TransferResult:
    """One end on this computer: an SFTP copy in the server process (it does not survive a restart)."""
    p = svc.platform
    if src.kind == dst.kind:
        raise HpcError("E_PATH", "Both ends are on this computer.", "Copy locally, or name a pool on one side.")
    upload = src.kind == "local"
    local_spec, remote_spec = (src, dst) if upload else (dst, src)
    local = await _local_path(svc, ctx, local_spec)
    node = data_route(p, _pool_of(p, remote_spec, "destination" if upload else "source")).node
    home, free = await svc.data.probe(node, _pools(p))
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
    remote = confine(p, await svc.data.realpath(node, remote), rel)
    if upload:
        check_writable(p, node, remote)
    plan = await svc.local.plan(node=node, direction="upload" if upload else "download", local=local, remote=remote)
    if upload:
        lines, notes = await _quota(svc, rel)
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
    if plan.overwrites and not confirm and needs_confirmation("overwrite"):
        result.would_overwrite = plan.overwrites[: svc.settings.max_rows]
        result.would_overwrite_total = len(plan.overwrites)
        result.summary = (
            f"Would change {len(plan.overwrites)} existing file(s) at the destination; nothing started. "
            "Show the list to the person; call again with confirm=true to overwrite them."
        )
        return result
    if consent_declined(approval):
        result.summary = "The person declined; nothing was started."
        return result
    status = svc.local.start(plan, overwrite=confirm)
    status = await _follow_local(svc, ctx, status.id, wait_s)
    result.transfer = status
    result.summary = (
        f"Started: {what}"
        + (f" (cold: {why})" if why else "")
        + (". It runs in this server: it stops if the server stops (start it again to resume).")
    )
    return result


async def _follow_local(svc: Services, ctx: Context[Any, Any], tid: str, wait_s: float) -> t.TransferStatus:
    async def progress(done: int, total: int) -> None:
        await ctx.report_progress(done, total or None, f"{tid}")

    if wait_s <= 0:
        return svc.local.status(tid)
    return await svc.local.wait(tid, min(wait_s, MAX_WAIT_S), progress)


async def _status(
    svc: Services, ctx: Context[Any, Any], tid: str, verify: bool, wait_s: float, limit: int
) -> TransferResult:
    if t.LOCAL_ID_RE.fullmatch(tid):
        status = await _follow_local(svc, ctx, tid, wait_s)
        result = TransferResult(action="status", node=status.node, transfer=status, summary=f"{tid} is {status.state}.")
        if verify:
            result.warnings.append("verify compares checksums on a data node; it is not available for local copies.")
        return result
    node = t.node_of_id(svc.platform, tid)
    status = await _follow(svc, ctx, node, tid, wait_s)
    result = TransferResult(action="status", node=node, transfer=status, summary=f"Transfer {tid} is {status.state}.")
    if not verify:
        return result
    if status.state == "running":
        result.warnings.append("Not verified: the transfer is still running; verify once it is done.")
    elif status.source_removed:
        result.verified = True
        result.summary += " It was verified by checksum before the source was deleted."
    else:
        is_dir = await _is_dir(svc, node, status)
        items = await svc.data.itemize(node, t.verify_argv(status.source, status.destination, is_dir))
        diff = t.differences(items, limit)
        result.verified = not diff
        result.differences = diff or None
        result.summary += " Verified: every file matches by checksum." if not diff else " Files differ (below)."
    return result


async def _is_dir(svc: Services, node: str, status: t.TransferStatus) -> bool:
    ins = await svc.data.inspect(node, status.source, status.destination)
    return ins.is_dir


async def _cancel(svc: Services, tid: str, confirm: bool, approval: Consent) -> TransferResult:
    local = bool(t.LOCAL_ID_RE.fullmatch(tid))
    node = svc.local.status(tid).node if local else t.node_of_id(svc.platform, tid)
    status = svc.local.status(tid) if local else await svc.data.status(node, tid)
    if status.state != "running":
        return TransferResult(action="cancel", node=node, transfer=status, summary=f"Not running ({status.state}).")
    if needs_confirmation("cancel_transfer") and not confirm:
        return TransferResult(
            action="cancel",
            node=node,
            transfer=status,
            summary="Would stop this transfer (what was copied stays); nothing done. Call again with confirm=true.",
        )
    if consent_declined(approval):
        return TransferResult(action="cancel", node=node, transfer=status, summary="The person declined; it runs on.")
    if local:
        status = await svc.local.cancel(tid)
        return TransferResult(action="cancel", node=node, transfer=status, summary="Cancelled; what was copied stays.")
    _, left = await svc.data.cancel(node, tid)
    status = await svc.data.status(node, tid)
    summary = "Cancelled; what was copied stays. Start it again to resume."
    if left:
        summary += f" {left} rsync process(es) did not stop yet; check again."
    return TransferResult(action="cancel", node=node, transfer=status, summary=summary)


async def _list(svc: Services, limit: int) -> TransferResult:
    nodes = svc.platform.data_nodes
    found = await asyncio.gather(*(svc.data.transfers(n, limit) for n in nodes), return_exceptions=True)
    rows: list[t.TransferStatus] = []
    warnings: list[str] = []
    for node, f in zip(nodes, found, strict=True):
        if isinstance(f, HpcError):
            warnings.append(f"{node}: {f}")
        elif isinstance(f, BaseException):
            raise f
        else:
            rows += f
    rows += svc.local.list()
    rows.sort(key=lambda s: s.started, reverse=True)
    return TransferResult(
        action="list",
        transfers=table(rows, LIST_COLUMNS, limit),
        summary=f"{len(rows)} transfers on {', '.join(nodes)}",
        warnings=warnings,
    )


# -- manage_storage ---------------------------------------------------------------------------------


class StorageResult(BaseModel):
    action: Literal["list", "usage", "free", "mkdir", "remove"]
    summary: str
    node: str
    path: str | None = None
    entries: Table | None = None
    usage: Usage | None = None
    free: Table | None = None
    quota: list[QuotaLine] | None = None
    removal: RemovalPreview | None = None
    removed: bool | None = None
    warnings: list[str] = []


ENTRY_COLUMNS: list[tuple[str, Any]] = [
    ("name", lambda e: e.name),
    ("kind", lambda e: e.kind),
    ("bytes", lambda e: e.size),
    ("modified", lambda e: e.modified),
]


def _storage_result(model: StorageResult) -> CallToolResult:
    parts = [f"{model.summary} [node {model.node}]"]
    for tbl in (model.entries, model.free):
        if tbl is not None:
            parts.append(table_text(tbl))
    for q in model.quota or []:
        parts.append(f"quota {q.quota_type} {q.name} {q.filesystem}: {q.used} of {q.limit}")
    if model.usage is not None and model.usage.largest:
        parts.append("largest: " + ", ".join(f"{n} {human_bytes(b)}" for n, b in model.usage.largest))
    if model.removal is not None and model.removal.first:
        parts.append("first entries: " + ", ".join(model.removal.first))
    parts += [f"warning: {w}" for w in model.warnings]
    return lean(model, text="\n".join(parts))


async def _storage(
    svc: Services, action: str, path: str | None, confirm: bool, approval: Consent, limit: int
) -> StorageResult:
    p = svc.platform
    if action == "free":
        node = data_route(p, *p.cold_pools).node
        home, free = await svc.data.probe(node, list(p.storage))
        quota, notes = await _quota(svc, home_rel(home))
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
            quota=quota or None,
            summary=f"Free space; {why}.",
            warnings=notes,
        )
    if path is None:
        raise HpcError("E_ARG", f"{action} needs a path.", "Give path, e.g. lustre:results or /archive/home/….")
    spec = t.parse_location(path)
    if spec.kind == "local":
        raise HpcError("E_ARG", "manage_storage acts on the platform's storage only.", "Give a pool path.")
    node = data_route(p, _pool_of(p, spec, "source")).node
    rel = await svc.data.rel(node)
    given = t.resolve_storage_path(p, spec, rel)
    # Again on what the node resolves: a symlink (or a parent that is one) may point anywhere.
    where = confine(p, await svc.data.realpath(node, given), rel, allow_root=action != "remove")
    if action == "remove":
        where = confine(p, given, rel, allow_root=False)  # the link itself goes, never its target
    if action == "mkdir":
        check_writable(p, node, where)
        await svc.data.mkdir(node, where)
        return StorageResult(action="mkdir", node=node, path=where, summary=f"Created {where} (or it existed).")
    if action == "list":
        found, total = await svc.data.list_dir(node, where, limit)
        tbl = table(found, ENTRY_COLUMNS, limit)
        tbl.total, tbl.truncated = total, total > len(found)
        return StorageResult(action="list", node=node, path=where, entries=tbl, summary=f"{total} entries in {where}")
    if action == "usage":
        u = await svc.data.usage(node, where)
        note = "" if u.complete else " (lower bound: du was stopped by its time limit)"
        return StorageResult(action="usage", node=node, path=where, usage=u, summary=f"{where}: {u.size}{note}")
    check_writable(p, node, where)
    preview = await svc.data.scan(node, where)
    what = f"{preview.files} files and {preview.dirs} folders, {preview.size}, in {where}"
    if needs_confirmation("remove") and not confirm:
        return StorageResult(
            action="remove",
            node=node,
            path=where,
            removal=preview,
            removed=False,
            summary=f"Would delete {what}; nothing deleted. Ask the person; call again with confirm=true.",
        )
    if consent_declined(approval):
        return StorageResult(
            action="remove", node=node, path=where, removal=preview, removed=False, summary="Declined."
        )
    await svc.data.remove(node, where)
    return StorageResult(
        action="remove", node=node, path=where, removal=preview, removed=True, summary=f"Deleted {what}."
    )


# -- the tools --------------------------------------------------------------------------------------

Location = Annotated[
    str,
    Field(
        max_length=4096,
        description="/lustre/home/<acct>/<user>/x, POOL:relative/path (lustre, dssg, archive, vault, union), "
        "cold (a destination: the emptier cold pool; a source: cold:x reads via /union), or local:/path.",
    ),
]
TransferId = Annotated[str, Field(pattern=r"^(data|sydata|local)-[0-9a-f]{12}$")]


async def _consent_for_transfer(
    ctx: Context[Any, Any], action: str, confirm: bool, mode: str = "copy", transfer_id: str | None = None
) -> Any:
    if not confirm:
        return None
    if action == "cancel":
        return elicit_consent(ctx, f"Stop transfer {transfer_id}? What was copied stays.")
    if action == "start":
        verb = (
            "Move (the source is deleted after a checksum check)" if mode == "move" else "Overwrite existing files in"
        )
        return elicit_consent(ctx, f"{verb} the destination of this transfer?")
    return None


async def _consent_for_storage(ctx: Context[Any, Any], action: str, confirm: bool, path: str | None = None) -> Any:
    if action == "remove" and confirm:
        return elicit_consent(ctx, f"Delete {path} and everything in it? This cannot be undone.")
    return None


def register(mcp: MCPServer[Services]) -> None:
    @mcp.tool(annotations=destructive("Transfer data"))
    @tool_errors
    async def transfer_data(
        ctx: Context[Any, Any],
        action: Literal["start", "status", "cancel", "list"],
        source: Location | None = None,
        destination: Location | None = None,
        mode: Annotated[t.Mode, Field(description="move deletes the source after a checksum check.")] = "copy",
        streams: Annotated[
            int | None, Field(ge=1, le=10, description="Parallel rsyncs; default from the file count.")
        ] = None,
        transfer_id: TransferId | None = None,
        verify: Annotated[bool, Field(description="status: compare checksums of source and destination.")] = False,
        wait_s: Annotated[float, Field(ge=0, le=50, description="Wait up to this long for the end.")] = 0,
        limit: Annotated[int, Field(ge=1, le=1000)] = 50,
        confirm: Annotated[
            bool, Field(description="true only after the person agreed (overwrite, move, cancel).")
        ] = False,
        approval: Annotated[Consent, Resolve(_consent_for_transfer)] = None,
    ) -> Annotated[CallToolResult, TransferResult]:
        """Copy or move data between hot and cold storage on a data node, in the background (rsync in tmux).

        start returns an id; status (wait_s to wait) follows it. Never deletes or overwrites without confirm=true.
        """
        svc = services(ctx)
        if action == "start":
            if source is None or destination is None:
                raise HpcError(
                    "E_ARG", "start needs source and destination.", "Give both, e.g. lustre:results and cold."
                )
            model = await _start(svc, ctx, source, destination, mode, streams, confirm, approval, wait_s)
        elif action == "list":
            model = await _list(svc, limit)
        elif transfer_id is None:
            raise HpcError("E_ARG", f"{action} needs transfer_id.", "Take it from start or list.")
        elif action == "status":
            model = await _status(svc, ctx, transfer_id, verify, wait_s, limit)
        else:
            model = await _cancel(svc, transfer_id, confirm, approval)
        return _result(model)

    @mcp.tool(annotations=destructive("Manage storage"))
    @tool_errors
    async def manage_storage(
        ctx: Context[Any, Any],
        action: Literal["list", "usage", "free", "mkdir", "remove"],
        path: Location | None = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        confirm: Annotated[bool, Field(description="remove: true only after the person agreed.")] = False,
        approval: Annotated[Consent, Resolve(_consent_for_storage)] = None,
    ) -> Annotated[CallToolResult, StorageResult]:
        """List, measure, create or delete in the person's own folders; free space of every pool.

        remove without confirm=true only shows what would go.
        """
        return _storage_result(await _storage(services(ctx), action, path, confirm, approval, limit))
