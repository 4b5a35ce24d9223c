"""SlurmJobs against a fake pool: every Slurm argv carries SLURM_TIME_FORMAT=standard, errors name
the Slurm command, squeue/sacct rows say which jobs this server submitted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.journal import JournalEntry
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.core.policy import job_route
from sjtu_hpc_mcp.core.slurm.requests import Arguments, request_of
from sjtu_hpc_mcp.settings import Settings
from sjtu_hpc_mcp.shell.credentials import CredentialStore
from sjtu_hpc_mcp.shell.jobs import SlurmJobs
from sjtu_hpc_mcp.shell.journal import JobJournal
from sjtu_hpc_mcp.shell.ssh import RunResult, SshPool

pytestmark = pytest.mark.anyio
SQUEUE = "5|cpu|u|a|RUNNING|0:01|10:00|1|1|t|t|n1|mine\n6|cpu|u|a|RUNNING|0:01|10:00|1|1|t|t|n1|other\n"


class FakePool(SshPool):
    def __init__(self, settings: Settings, outputs: dict[str, str], lost: bool = False) -> None:
        super().__init__(settings, CredentialStore(settings.credentials_dir))
        self.outputs = outputs
        self.lost = lost
        self.seen: list[tuple[str, ...]] = []

    async def run(self, node: str, argv: Sequence[str], **kw: Any) -> RunResult:
        self.seen.append(tuple(argv))
        if self.lost:
            raise HpcError("E_LOST", f"The connection to {node} was lost while running {argv[0]}.", "Try again.")
        name = next(a for a in argv if a in self.outputs)
        return RunResult(node, tuple(argv), 0, self.outputs[name], "", "pilogin")


def make(tmp_path: Path, outputs: dict[str, str], lost: bool = False) -> tuple[SlurmJobs, FakePool]:
    settings = Settings(workspace=tmp_path)
    pool = FakePool(settings, outputs, lost)
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
