"""Since we last talked (`run_slurm since`): the jobs submitted through this server that ended since the
person last looked, each reported once. core.since decides what is pending, what ended and the new seen
mark; this module reads the journal and the mark, asks one sacct per entry node (concurrently; a node
that fails is left out and its jobs stay pending), tails the stderr of failed jobs, and stores the mark.

A read: it changes nothing on the platform, only the seen mark in the workspace (like the job journal),
so it runs under --read-only too.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ..core import since as sn
from ..core.errors import HpcError
from ..core.policy import refuse_cold_reads
from ..core.slurm import commands as c
from ..core.slurm import outcome as oc
from ..core.slurm.bounds import tail_text
from ..core.slurm.results import SlurmResult
from .jobs import STDERR_TAIL_BYTES, SlurmJobs


class Since:
    def __init__(self, jobs: SlurmJobs) -> None:
        self.jobs = jobs
        self._lock = asyncio.Lock()  # two calls at once must not both report the same jobs

    async def _usage(self, node: str, argv: list[str]) -> tuple[str, dict[str, oc.JobUsage] | None, str]:
        try:
            r = await self.jobs.run(node, argv)
        except HpcError:
            return node, None, ""
        return node, oc.parse_usage(r.stdout), r.hostname

    async def _tail(self, node: str, job_id: str, path: str) -> tuple[tuple[str, str], str | None]:
        try:
            refuse_cold_reads(self.jobs.platform, path)
            t = await self.jobs.run(node, c.tail_argv(path, STDERR_TAIL_BYTES), check=False)
        except HpcError:
            return (node, job_id), None
        text = oc.last_lines(tail_text(t.stdout, STDERR_TAIL_BYTES, already_cut=True).text) if t.ok else ""
        return (node, job_id), text or None

    async def report(self, node: str | None = None) -> SlurmResult:
        """node: only the jobs submitted on this entry node (a partition or node group was given)."""
        journal = self.jobs.journal
        async with self._lock:
            records = journal.records()
            mark = sn.parse_seen(journal.read_seen())
            now = datetime.now(UTC)
            pending = [p for p in sn.pending_jobs(records, mark, now) if node is None or p.node == node]
            argvs = sn.sacct_argvs(pending)
            asked = await asyncio.gather(*(self._usage(n, argv) for n, argv in argvs.items()))
            usage = {n: u for n, u, _ in asked if u is not None}
            wanted = sn.stderr_wanted(sn.ended(pending, usage))
            tails = dict(await asyncio.gather(*(self._tail(n, j, path) for n, j, path in wanted)))
            report, new_mark = sn.since_report(pending, usage, mark, now, tails, records)
            jobs = [e.outcome.model_copy(update={"node": e.node, "partition": e.partition}) for e in report.jobs]
            result = SlurmResult(
                command="since",
                node=", ".join(argvs) or "none (no job waiting to be reported)",
                host=", ".join(h for _, u, h in asked if u is not None),
                summary=report.summary,
                jobs=jobs,
            )
            journal.write_seen(sn.seen_json(new_mark))
            return result
