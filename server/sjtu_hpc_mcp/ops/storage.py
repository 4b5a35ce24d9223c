"""manage_storage as steps: which node, what to confine, what to ask, what to run (shell/data.py runs it).

read and stat are in files.py."""

from __future__ import annotations

from ..core import consent
from ..core import transfer as t
from ..core.account import human_bytes, quota_table
from ..core.data_results import ENTRY_COLUMNS, StorageResult
from ..core.errors import HpcError
from ..core.platform import Platform
from ..core.policy import check_writable, cold_target, confine, data_route, home_rel
from ..core.results import table
from ..shell.data import DataNodes
from ..shell.hpc_api import HpcApi
from .files import READ_ACTIONS, Files, ReadAsk
from .quota import person_quota


class Storage:
    """Listing, measuring, creating and deleting in the person's own folders; the pools' free space."""

    def __init__(self, platform: Platform, data: DataNodes, api: HpcApi) -> None:
        self.platform = platform
        self.data = data
        self.api = api

    async def run(
        self, action: str, path: str | None, limit: int, *, confirm: bool, declined: bool, read: ReadAsk | None = None
    ) -> StorageResult:
        p = self.platform
        read = read or ReadAsk(lines=limit)
        if action not in READ_ACTIONS:
            read.check_unused(action)
        if action == "free":
            node = data_route(p, *p.cold_pools).node
            home, free = await self.data.probe(node, list(p.storage))
            quota, notes = await person_quota(self.api, home_rel(home))
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
        if action in READ_ACTIONS:
            return await Files(p, self.data).run(action, path, read)
        spec = t.parse_location(path)
        if spec.kind == "local":
            raise HpcError("E_ARG", "manage_storage acts on the platform's storage only.", "Give a pool path.")
        node = data_route(p, t.pool_of(p, spec, "source")).node
        rel = home_rel(await self.data.home(node))
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
