"""A transfer with one end on this computer: an SFTP copy run in the server process (shell/local), between
a folder the client shares and the person's storage on a data node. It does not survive a restart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..core import consent
from ..core import transfer as t
from ..core.account import human_bytes, quota_left_on
from ..core.data_results import Plan, TransferResult
from ..core.errors import HpcError
from ..core.platform import Platform
from ..core.policy import (
    check_space,
    check_writable,
    cold_target,
    confine,
    confine_local,
    data_route,
    home_rel,
    resolve_personal,
)
from ..core.results import MAX_WAIT_S
from ..settings import Settings
from ..shell.data import DataNodes
from ..shell.hpc_api import HpcApi
from ..shell.local import LocalTransfers
from .quota import person_quota
from .talk import Progress, Roots


class LocalCopies:
    """Uploads and downloads between this computer and a data node."""

    def __init__(
        self, settings: Settings, platform: Platform, data: DataNodes, local: LocalTransfers, api: HpcApi
    ) -> None:
        self.settings = settings
        self.platform = platform
        self.data = data
        self.local = local
        self.api = api

    async def _local_path(self, roots: Roots, spec: t.Spec) -> Path:
        """A path on this computer, symlinks resolved, inside a shared folder (MCP roots or --local-root)."""
        assert spec.path is not None
        given = Path(spec.path).expanduser()
        if not given.is_absolute():
            raise HpcError("E_PATH", f"local:{spec.path} is not absolute.", "Give local:/absolute/path.")
        shared = [os.path.realpath(r) for r in [*map(str, self.settings.local_root), *await roots()]]
        return Path(confine_local(os.path.realpath(given), shared))

    async def start(
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
            lines, notes = await person_quota(self.api, rel)
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
        status = await self.follow(progress, status.id, wait_s)
        result.transfer = status
        result.summary = (
            f"Started: {what}"
            + (f" (cold: {why})" if why else "")
            + (". It runs in this server: it stops if the server stops (start it again to resume).")
        )
        return result

    async def follow(self, progress: Progress, tid: str, wait_s: float) -> t.TransferStatus:
        async def report(done: int, total: int) -> None:
            await progress(done, total or None, tid)

        if wait_s <= 0:
            return self.local.status(tid)
        return await self.local.wait(tid, min(wait_s, MAX_WAIT_S), report)
