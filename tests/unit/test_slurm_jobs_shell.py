"""SlurmJobs against a fake pool: every Slurm argv carries SLURM_TIME_FORMAT=standard, errors name
the Slurm command, squeue/sacct rows say which jobs this server submitted."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.journal import JournalEntry
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.core.policy import job_route
from sjtu_hpc_mcp.core.slurm.commands import JobOptions
from sjtu_hpc_mcp.core.slurm.requests import Arguments, SbatchRequest, request_of
from sjtu_hpc_mcp.ops import jobs as jobs_mod
from sjtu_hpc_mcp.ops.jobs import SlurmJobs
from sjtu_hpc_mcp.settings import Settings
from sjtu_hpc_mcp.shell.credentials import CredentialStore
from sjtu_hpc_mcp.shell.journal import JobJournal
from sjtu_hpc_mcp.shell.ssh import SshPool, _Conn
from sjtu_hpc_mcp.shell.sshlib import asyncssh

pytestmark = pytest.mark.anyio
SQUEUE = "5|cpu|u|a|RUNNING|0:01|10:00|1|1|t|t|n1|mine\n6|cpu|u|a|RUNNING|0:01|10:00|1|1|t|t|n1|other\n"


class FakeProcess:
    def __init__(self, stdout: str, timeout: bool) -> None:
        self.stdout, self.timeout = stdout, timeout

    async def wait(self, check: bool = False, timeout: float | None = None) -> SimpleNamespace:
        if self.timeout:
            raise asyncssh.TimeoutError(None, None, None, None, None, None, "", "")
        return SimpleNamespace(exit_status=0, stdout=self.stdout, stderr="")


class FakeConnection:
    """What asyncssh's connection does for SshPool.run: a process per command, or the connection goes away."""

    def __init__(self, pool: FakePool) -> None:
        self.pool = pool

    async def create_process(self, command: str, input: str | None = None) -> FakeProcess:
        argv = tuple(shlex.split(command))
        self.pool.seen.append(argv)
        if self.pool.lost:
            raise asyncssh.ConnectionLost("gone")
        name = next(a for a in argv if a in self.pool.outputs)
        return FakeProcess(self.pool.outputs[name], self.pool.timeout)

    def is_closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


class FakePool(SshPool):
    """The real SshPool over a fake connection: its run(), retries and error wording are the module's own
    (nothing restated here), only the SSH connection and SFTP upload are stood in for."""

    def __init__(self, settings: Settings, outputs: dict[str, str], lost: bool = False, timeout: bool = False) -> None:
        super().__init__(settings, CredentialStore(settings.credentials_dir))
        self.outputs = outputs
        self.lost = lost
        self.timeout = timeout
        self.seen: list[tuple[str, ...]] = []
        self.uploads: list[tuple[str, str, int]] = []

    async def _acquire(self, node: str) -> _Conn:
        c = _Conn(FakeConnection(self), self._stamp(), hostname="pilogin")  # type: ignore[arg-type]
        c.users += 1
        return c

    async def put_file(self, node: str, path: str, data: str, mode: int = 0o600) -> str:
        self.uploads.append((path, data, mode))
        return "/lustre/home/acct-hpc/hpcrobot/" + path.removeprefix("~/")


def make(
    tmp_path: Path, outputs: dict[str, str], lost: bool = False, timeout: bool = False, **settings_kw: Any
) -> tuple[SlurmJobs, FakePool]:
    settings = Settings(workspace=tmp_path, **settings_kw)
    pool = FakePool(settings, outputs, lost, timeout)
    return SlurmJobs(settings, load_platform(), pool, JobJournal(tmp_path)), pool


async def test_slurm_commands_run_with_the_standard_time_format_and_marks(tmp_path: Path) -> None:
    jobs, pool = make(tmp_path, {"squeue": SQUEUE})
    route = job_route(jobs.platform, partition="cpu")
    jobs.journal.append(JournalEntry(at="t", event="submitted", mark="mcp-a", node=route.node, job_id="5"))
    result = await jobs.query(route, request_of("squeue", Arguments(partition="cpu")), 100)
    assert pool.seen[0][:3] == ("env", "SLURM_TIME_FORMAT=standard", "squeue")
    assert result.table is not None and result.table.columns[-1] == "via_mcp"
    assert [row[-1] for row in result.table.rows] == [True, False]


async def test_a_lost_connection_names_the_slurm_command_not_env(tmp_path: Path) -> None:
    jobs, _ = make(tmp_path, {}, lost=True)
    route = job_route(jobs.platform, partition="cpu")
    with pytest.raises(HpcError) as e:
        await jobs.query(route, request_of("sinfo", Arguments(partition="cpu")), 100)
    assert e.value.message.endswith("while running sinfo.") and "env" not in e.value.message


async def test_wait_reports_outcomes_from_one_poll(tmp_path: Path) -> None:
    usage = (
        "7|COMPLETED|0:0|00:00:10|00:10:00|2|1|1G|00:00:10||cpu\n7.batch|COMPLETED|0:0|00:00:10||2|1||00:00:10|512M|\n"
    )
    jobs, pool = make(tmp_path, {"sacct": usage})
    route = job_route(jobs.platform, node_group="pi")
    result = await jobs.wait(route, request_of("wait", Arguments(job_ids=["7"], wait_s=5)))  # type: ignore[arg-type]
    assert result.done and result.jobs is not None
    (job,) = result.jobs
    assert (job.state, job.exit_code, job.cpu_efficiency_percent, job.memory_efficiency_percent) == (
        "COMPLETED", 0, 50.0, 50.0,
    )  # fmt: skip
    assert [a[2] for a in pool.seen] == ["sacct"]
    await jobs.aclose()


async def test_a_timeout_names_the_slurm_command_not_env(tmp_path: Path) -> None:
    jobs, _ = make(tmp_path, {"sinfo": ""}, timeout=True)
    route = job_route(jobs.platform, partition="cpu")
    with pytest.raises(HpcError) as e:
        await jobs.query(route, request_of("sinfo", Arguments(partition="cpu")), 100)
    assert e.value.code == "E_TIMEOUT" and e.value.message.startswith("sinfo on ") and "env" not in e.value.message


# -- sbatch: the script's mode, and the account's limits kept for KEEP_LIMITS_S ---------------------------

SBATCH_OUTPUTS = {"sacctmgr": "", "squeue": "", "sacct": "", "sbatch": "42\n"}


def sbatch_request() -> SbatchRequest:
    return SbatchRequest("cpu", "#!/bin/bash\ntrue\n", JobOptions(), False)


async def test_sbatch_uploads_the_script_with_mode_0700_to_the_jobs_folder(tmp_path: Path) -> None:
    jobs, pool = make(tmp_path, dict(SBATCH_OUTPUTS), user="hpcrobot")
    route = job_route(jobs.platform, partition="cpu")
    result = await jobs.submit(route, sbatch_request())
    [(path, data, mode)] = pool.uploads
    assert mode == 0o700 and "true" in data
    assert "/.sjtu-hpc-mcp/jobs/" in "/" + path.removeprefix("~/")
    assert result.submission is not None and result.submission.job_id == "42"
    await jobs.aclose()


async def test_sbatch_keeps_limits_and_recent_usage_for_10_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: sbatch keeps the account's limits (sacctmgr) and recent usage (sacct) for 10 minutes; the queue
    (squeue) is asked every time. The clock is the module's `time.monotonic`, replaced here."""
    assert jobs_mod.KEEP_LIMITS_S == 10 * 60
    now = [1000.0]
    monkeypatch.setattr(jobs_mod, "time", SimpleNamespace(monotonic=lambda: now[0]))
    jobs, pool = make(tmp_path, dict(SBATCH_OUTPUTS), user="hpcrobot")
    route = job_route(jobs.platform, partition="cpu")

    def asked() -> dict[str, int]:
        names = [next(a for a in argv if a in SBATCH_OUTPUTS) for argv in pool.seen]
        pool.seen.clear()
        return {n: names.count(n) for n in ("sacctmgr", "sacct", "squeue", "sbatch")}

    await jobs.submit(route, sbatch_request())
    assert asked() == {"sacctmgr": 2, "sacct": 1, "squeue": 1, "sbatch": 1}  # association, QOS; usage; queue
    now[0] += jobs_mod.KEEP_LIMITS_S - 1
    await jobs.submit(route, sbatch_request())
    assert asked() == {"sacctmgr": 0, "sacct": 0, "squeue": 1, "sbatch": 1}, "kept: not asked again"
    now[0] += 2  # past KEEP_LIMITS_S since the first ask
    await jobs.submit(route, sbatch_request())
    assert asked() == {"sacctmgr": 2, "sacct": 1, "squeue": 1, "sbatch": 1}, "expired: asked again"
    await jobs.aclose()
