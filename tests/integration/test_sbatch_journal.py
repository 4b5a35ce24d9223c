"""The job journal on the lab: a lost sbatch reply after the job has already finished and been
forgotten by squeue is found through sacct, and job_output reads a forgotten job's file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from sjtu_hpc_mcp.core.errors import ConnectionLost, HpcError
from sjtu_hpc_mcp.core.policy import job_route
from sjtu_hpc_mcp.core.slurm.commands import JobOptions
from sjtu_hpc_mcp.core.slurm.requests import JobOutputRequest, SbatchRequest
from sjtu_hpc_mcp.ops import jobs as jobs_mod
from sjtu_hpc_mcp.ops.jobs import SlurmJobs
from sjtu_hpc_mcp.services import Services
from sjtu_hpc_mcp.settings import Settings, parse_host_map
from sjtu_hpc_mcp.shell.journal import JobJournal
from sjtu_hpc_mcp.shell.ssh import RunResult, SshPool

pytestmark = [pytest.mark.lab, pytest.mark.anyio]


class ForgetfulSlurm(SshPool):
    """Slurm after MinJobAge: squeue and scontrol no longer know finished jobs (sacct still does).

    With lose_reply, the connection also drops right after sbatch, once the job has finished.
    """

    lose_reply = False
    submitted = ""

    async def run(self, node: str, argv: Sequence[str], **kw: Any) -> RunResult:
        if "scontrol" in argv:
            return RunResult(node, tuple(argv), 1, "", "slurm_load_jobs error: Invalid job id specified\n", "pilogin")
        if "squeue" in argv and "--states=all" in argv:
            return RunResult(node, tuple(argv), 0, "", "", "pilogin")
        result = await super().run(node, argv, **kw)
        if self.lose_reply and "sbatch" in argv:
            self.submitted = result.stdout.strip()
            for _ in range(60):  # until the job has finished
                done = await super().run(node, ["sacct", "-X", "-n", "-P", "-o", "State", "-j", self.submitted],
                                         idempotent=True)  # fmt: skip
                if done.stdout.strip() in ("COMPLETED", "FAILED"):
                    break
                await asyncio.sleep(0.5)
            raise ConnectionLost("lost", "")
        return result


@pytest.fixture
async def svc(lab: dict[str, Any], workspace: Path) -> AsyncIterator[Services]:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    settings = Settings(
        workspace=workspace, known_hosts=Path(lab["known_hosts"]), host_map=parse_host_map(lab["host_map"])
    )
    services = Services.create(settings)
    services.ssh = ForgetfulSlurm(settings, services.store)
    yield services
    await services.aclose()


async def test_lost_reply_of_a_finished_job_is_found_through_sacct(svc: Services, workspace: Path) -> None:
    assert isinstance(svc.ssh, ForgetfulSlurm)
    svc.ssh.lose_reply = True
    route = job_route(svc.platform, partition="cpu")
    jobs = SlurmJobs(svc.settings, svc.platform, svc.ssh, JobJournal(svc.settings.workspace))
    result = await jobs.submit(route, SbatchRequest("cpu", "#!/bin/bash\necho done-early\n", JobOptions(), False))
    assert result.submission is not None and result.submission.reconciled
    assert result.submission.job_id == svc.ssh.submitted
    lines = [json.loads(line) for line in (workspace / "jobs" / "journal.jsonl").read_text().splitlines()]
    assert [e["event"] for e in lines] == ["submitting", "submitted"]
    assert lines[1]["job_id"] == svc.ssh.submitted and lines[1]["reconciled"] is True
    # and the whole queue carries its mark once: it was not submitted twice
    mine = await SshPool.run(svc.ssh, route.node, ["sacct", "-X", "-n", "-P", "-o", "SubmitLine", "-S", "now-1hour"],
                             idempotent=True)  # fmt: skip
    assert mine.stdout.count(lines[0]["mark"]) == 2  # --comment and the script path, one submission


async def test_job_output_reads_a_forgotten_job_from_the_journal(svc: Services, lab: dict[str, Any]) -> None:
    route = job_route(svc.platform, partition="cpu")
    err_path = f"{lab['home']}/mcp-journal-%j.err"  # a job's files stay in its group's hot storage
    jobs = SlurmJobs(svc.settings, svc.platform, svc.ssh, JobJournal(svc.settings.workspace))
    script = "#!/bin/bash\necho out-line\necho err-line >&2\n"
    sub = await jobs.submit(route, SbatchRequest("cpu", script, JobOptions(error=err_path), False))
    assert sub.submission is not None and sub.submission.job_id is not None
    job_id = sub.submission.job_id
    await jobs.watch(route.node).wait([job_id], 40)
    out = await jobs.output(route, JobOutputRequest(job_id, "stdout", 4096))
    assert out.output is not None and out.output.from_journal and "out-line" in out.output.text
    err = await jobs.output(route, JobOutputRequest(job_id, "stderr", 4096))
    assert err.output is not None and err.output.path == err_path.replace("%j", job_id)
    Path(err.output.path).unlink(missing_ok=True)
    assert "err-line" in err.output.text
    with pytest.raises(HpcError) as e:
        await jobs.output(route, JobOutputRequest("999999", "stdout", 4096))
    assert e.value.code == "E_JOB_GONE" and "journal" in e.value.message


class Unreachable(SshPool):
    """The reply to sbatch is lost and the node cannot be asked afterwards either."""

    submitted = ""

    async def run(self, node: str, argv: Sequence[str], **kw: Any) -> RunResult:
        if self.submitted and ("squeue" in argv or "sacct" in argv):
            raise ConnectionLost("lost", "")
        result = await super().run(node, argv, **kw)
        if "sbatch" in argv and "--test-only" not in argv and not self.submitted:
            self.submitted = result.stdout.strip()
            raise ConnectionLost("lost", "")
        return result


class _AnHourLater(datetime):
    """ops.jobs' clock an hour on: well past the in-flight window of an sbatch (command_timeout + 10 s)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _AnHourLater:  # type: ignore[override]
        t = datetime.now(tz) + timedelta(hours=1)
        return cls.fromtimestamp(t.timestamp(), tz)


async def test_an_unverifiable_lost_reply_is_not_called_safe_and_the_next_sbatch_settles_it(
    lab: dict[str, Any], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    settings = Settings(
        workspace=workspace,
        known_hosts=Path(lab["known_hosts"]),
        host_map=parse_host_map(lab["host_map"]),
        command_timeout=5,
    )
    services = Services.create(settings)
    pool = services.ssh = Unreachable(settings, services.store)
    route = job_route(services.platform, partition="cpu")
    try:
        jobs = SlurmJobs(settings, services.platform, pool, JobJournal(workspace))
        with pytest.raises(HpcError) as e:
            await jobs.submit(route, SbatchRequest("cpu", "#!/bin/bash\nsleep 60\n", JobOptions(), False))
        assert e.value.code == "E_LOST_UNSURE" and "Do not submit it again yet" in e.value.fix
        fresh = SshPool(settings, services.store)
        healthy = SlurmJobs(settings, services.platform, fresh, JobJournal(workspace))
        # with the node reachable again but the lost sbatch maybe still in flight: not settled yet
        soon = await healthy.submit(route, SbatchRequest("cpu", "#!/bin/bash\ntrue\n", JobOptions(), True))
        assert soon.submission is not None and not [w for w in soon.submission.warnings if "earlier" in w]
        # later (the jobs module's clock moved past the in-flight window instead of sleeping through it)
        monkeypatch.setattr(jobs_mod, "datetime", _AnHourLater)
        nxt = await healthy.submit(route, SbatchRequest("cpu", "#!/bin/bash\ntrue\n", JobOptions(), True))
        assert nxt.submission is not None
        notes = [w for w in nxt.submission.warnings if "earlier submission" in w]
        assert len(notes) == 1 and f"is job {pool.submitted}" in notes[0]
        assert {r.job_id for r in healthy.journal.records()} >= {pool.submitted}
    finally:
        if pool.submitted:
            await SshPool.run(pool, route.node, ["scancel", pool.submitted], idempotent=False)
        await services.aclose()
        if "fresh" in locals():
            await fresh.aclose()
