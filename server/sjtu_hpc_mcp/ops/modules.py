"""Environment modules (Lmod) on a node group's login node: what it has (`run_slurm modules`), how to load
one, and the check sbatch makes before a job that loads a module the group lacks. The argv and parsers
are core.slurm.modules and core.slurm.module_script; this module only sequences the SSH calls and keeps
the node's whole module list a while (sbatch asks for it on every submission that loads a module).
"""

from __future__ import annotations

import time
from contextlib import suppress

from ..core.errors import HpcError
from ..core.policy import Route
from ..core.results import table
from ..core.slurm import module_script as ms
from ..core.slurm import modules as m
from ..core.slurm import requests as rq
from ..core.slurm.results import SlurmResult
from .jobs import SlurmJobs

AVAIL_S = 30.0
KEEP_MODULES_S = 600.0  # module trees change when the site installs software, not between two submissions


class Modules:
    def __init__(self, jobs: SlurmJobs) -> None:
        self.jobs = jobs
        self._kept: dict[str, tuple[float, list[str]]] = {}  # entry node -> (when, every module it has)

    async def _out(self, node: str, argv: list[str], limit_s: float) -> tuple[str, str]:
        """(stdout, hostname) of a `bash -lc` module argv; its exit status is read from the output's markers."""
        r = await self.jobs.ssh.run(node, argv, idempotent=True, limit_s=limit_s)
        return r.stdout, r.hostname

    async def show(self, route: Route, req: rq.ModulesRequest, limit: int) -> SlurmResult:
        node, group = route.node, route.group
        if req.module is None:
            out, host = await self._out(node, req.argv, AVAIL_S)
            found = m.parse_avail(out, node)
            shown = table(found.modules, rq.MODULES_TABLE, limit)
            summary = f"{len(found.modules)} modules on node group {group}; with module=NAME: how to load one"
            return SlurmResult(command="modules", node=node, host=host, summary=summary, table=shown)
        out, host = await self._out(node, req.argv, m.SPIDER_S)
        info = m.parse_spider(out, node, req.module)
        if not info.found:
            others = f"; similar: {', '.join(info.others)}" if info.others else ""
            summary = f"node group {group} has no module {req.module}{others}"
        elif info.load:
            summary = f"{info.name or req.module} on node group {group}: {info.load}"
        else:
            summary = f"{info.name or req.module} on node group {group}: {len(info.versions)} versions"
        return SlurmResult(command="modules", node=node, host=host, summary=summary, module=info)

    async def known(self, node: str) -> list[str]:
        """Every module the node group has (module -t spider), kept KEEP_MODULES_S per entry node."""
        kept = self._kept.get(node)
        if kept is not None and time.monotonic() - kept[0] < KEEP_MODULES_S:
            return kept[1]
        out, _ = await self._out(node, m.spider_all_argv(), m.SPIDER_S)
        names = m.parse_spider_all(out, node)
        self._kept[node] = (time.monotonic(), names)
        return names

    async def script_warnings(self, route: Route, script: str) -> list[str]:
        """Before sbatch: each module the script loads that the node group lacks. Best effort: a node
        without modules, an error or a slow answer gives no warning, never a refusal."""
        if not ms.module_loads(script):
            return []
        with suppress(HpcError, TimeoutError):
            return ms.missing_module_warnings(script, await self.known(route.node), route.group)
        return []
