"""sbatch whose reply is lost after the job was queued: found by its mark, never submitted twice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from sjtu_hpc_mcp.core.errors import ConnectionLost
from sjtu_hpc_mcp.core.policy import job_route
from sjtu_hpc_mcp.core.slurm.commands import JobOptions
from sjtu_hpc_mcp.core.slurm.requests import SbatchRequest
from sjtu_hpc_mcp.ops.jobs import SlurmJobs
from sjtu_hpc_mcp.services import Services
from sjtu_hpc_mcp.settings import Settings, parse_host_map
from sjtu_hpc_mcp.shell.journal import JobJournal
from sjtu_hpc_mcp.shell.ssh import RunResult, SshPool

pytestmark = [pytest.mark.lab, pytest.mark.anyio]


class ReplyLostAfterSbatch(SshPool):
    """The connection drops right after sbatch ran on the node: the job exists, its id never arrives."""

    async def run(self, node: str, argv: Sequence[str], **kw: Any) -> RunResult:
        result = await super().run(node, argv, **kw)
        if "sbatch" in argv and "--test-only" not in argv:
            self.submitted = result.stdout.strip()
            raise ConnectionLost("lost", "")
        return result


async def test_lost_reply_is_reconciled(lab: dict[str, Any], workspace: Path) -> None:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    settings = Settings(
        workspace=workspace, known_hosts=Path(lab["known_hosts"]), host_map=parse_host_map(lab["host_map"])
    )
    svc = Services.create(settings)
    svc.ssh = ReplyLostAfterSbatch(settings, svc.store)
    try:
        route = job_route(svc.platform, partition="cpu")
        jobs = SlurmJobs(settings, svc.platform, svc.ssh, JobJournal(workspace))
        result = await jobs.submit(route, SbatchRequest("cpu", "#!/bin/bash\nsleep 120\n", JobOptions(), False))
        assert result.submission is not None and result.submission.reconciled
        assert result.submission.job_id == svc.ssh.submitted  # type: ignore[attr-defined]
        queue = await svc.ssh.run(route.node, ["squeue", "--me", "-h", "-o", "%i|%k"], idempotent=True)
        marks = [line.split("|")[1] for line in queue.stdout.split()]
        token = [m for m in marks if m.startswith("mcp-")]
        assert len(token) == len(set(token)), "a mark appears twice: the job was submitted twice"
    finally:
        await svc.ssh.run(route.node, ["scancel", svc.ssh.submitted], idempotent=False)  # type: ignore[attr-defined]
        await svc.aclose()
