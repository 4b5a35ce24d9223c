"""Issue 17's use cases over a fake pool: run_slurm modules (avail, spider), the module check and the
notify mail before sbatch, `since` (each ended job once, the seen mark 0600), and the count that
credential_status shows."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.journal import JournalEntry
from sjtu_hpc_mcp.core.policy import job_route
from sjtu_hpc_mcp.core.since import SEEN_FILE, parse_seen
from sjtu_hpc_mcp.core.slurm.requests import Arguments, ModulesRequest, SbatchRequest, SinceRequest, request_of
from sjtu_hpc_mcp.ops.modules import Modules
from sjtu_hpc_mcp.ops.since import Since
from sjtu_hpc_mcp.services import Services
from sjtu_hpc_mcp.settings import Settings
from unit.test_slurm_jobs_shell import make

pytestmark = pytest.mark.anyio
RECORDED = Path(__file__).resolve().parents[1] / "lab" / "recorded"
USAGE = (
    "7|COMPLETED|0:0|00:00:10|00:10:00|2|1|1G|00:00:10||cpu\n7.batch|COMPLETED|0:0|00:00:10||2|1||00:00:10|512M|\n"
    "8|FAILED|3:0|00:00:02|00:10:00|1|1|1G|00:00:01||cpu\n8.batch|FAILED|3:0|00:00:02||1|1||00:00:01|1M|\n"
    "9|RUNNING|0:0|00:00:05|00:10:00|1|1|1G|00:00:01||cpu\n"
)

QUIET = {"sacctmgr": "", "squeue": "", "sacct": ""}  # the limit checks sbatch makes meanwhile: nothing to say


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_requests_for_modules_since_and_notify() -> None:
    r = request_of("modules", Arguments())
    assert isinstance(r, ModulesRequest) and r.argv[:2] == ["bash", "-lc"] and r.argv[-1] == "bash"
    r = request_of("modules", Arguments(module="cuda/12.1.1"))
    assert isinstance(r, ModulesRequest) and r.argv[-1] == "cuda/12.1.1"
    assert isinstance(request_of("since", Arguments()), SinceRequest)
    with pytest.raises(HpcError) as e:
        request_of("modules", Arguments(module="-oProxyCommand=x"))
    assert e.value.code == "E_ARG"
    for command, kw in (("squeue", {"module": "gcc"}), ("sinfo", {"notify": "end"}), ("since", {"module": "x"})):
        with pytest.raises(HpcError) as e:
            request_of(command, Arguments(**kw))  # type: ignore[arg-type]
        assert e.value.code == "E_ARG"
    sb = request_of("sbatch", Arguments(partition="cpu", script="true", notify="both"))
    assert isinstance(sb, SbatchRequest) and sb.notify == "both"
    argv = sb.argv("/x", "mcp-0000000000000000", {"mail_type": "END,FAIL", "mail_user": "a@sjtu.edu.cn"})
    assert "--mail-type=END,FAIL" in argv and "--mail-user=a@sjtu.edu.cn" in argv
    assert not any(a.startswith("--mail") for a in sb.argv("/x", "mcp-0000000000000000"))


async def test_modules_lists_and_spider_says_how_to_load(tmp_path: Path) -> None:
    jobs, pool = make(tmp_path, {"bash": recorded("lmod_avail_sy.txt")})
    route = job_route(jobs.platform, node_group="sy")
    listed = await Modules(jobs).show(route, ModulesRequest(None), 100)
    assert listed.table is not None and ["gcc/11.2.0", True] in listed.table.rows
    assert pool.seen[0][:2] == ("bash", "-lc")  # no `env SLURM_TIME_FORMAT`: not a Slurm command
    jobs, _ = make(tmp_path, {"bash": recorded("lmod_spider_sy_gromacs.txt")})
    info = await Modules(jobs).show(route, ModulesRequest("gromacs"), 100)
    assert info.module is not None and info.module.found and "gromacs" in (info.summary or "")


async def test_sbatch_warns_of_a_missing_module_and_caches_the_list(tmp_path: Path) -> None:
    outputs = {"bash": recorded("lmod_spider_all_pi.txt"), "sbatch": "Submitted batch job 42\n", **QUIET}
    jobs, pool = make(tmp_path, outputs)
    modules = Modules(jobs)
    jobs.script_check = modules.script_warnings
    route = job_route(jobs.platform, partition="cpu")
    script = "#!/bin/bash\nmodule load gcc/11.2.0\nmodule load gromacs/2023.2\n"
    req = request_of("sbatch", Arguments(partition="cpu", script=script))
    assert isinstance(req, SbatchRequest)
    sub = (await jobs.submit(route, req)).submission
    assert sub is not None and sub.job_id == "42"
    assert any("gromacs/2023.2" in w and "node group pi" in w for w in sub.warnings), sub.warnings
    assert not any("gcc/11.2.0" in w for w in sub.warnings)
    await jobs.submit(route, req)
    assert sum(1 for argv in pool.seen if argv[0] == "bash") == 1  # kept for KEEP_MODULES_S


async def test_the_module_check_is_best_effort(tmp_path: Path) -> None:
    jobs, _ = make(tmp_path, {"bash": "@spider\nbash: module: command not found\n@rc 127\n"})
    route = job_route(jobs.platform, partition="cpu")
    assert await Modules(jobs).script_warnings(route, "module load x/1\n") == []


async def test_notify_mails_the_bound_email_or_refuses_before_anything_runs(tmp_path: Path) -> None:
    jobs, pool = make(tmp_path, {"sbatch": "Submitted batch job 43\n", **QUIET})
    route = job_route(jobs.platform, partition="cpu")
    req = request_of("sbatch", Arguments(partition="cpu", script="true", notify="end"))
    assert isinstance(req, SbatchRequest)

    async def none() -> str | None:
        return None

    jobs.bound_email = none
    with pytest.raises(HpcError) as e:
        await jobs.submit(route, req)
    assert e.value.code == "E_NO_EMAIL" and not pool.uploads and not jobs.journal.records()

    async def bound() -> str | None:
        return "hpcrobot@sjtu.edu.cn"

    jobs.bound_email = bound
    r = await jobs.submit(route, req)
    sbatch = next(argv for argv in pool.seen if "sbatch" in argv)
    assert "--mail-type=END" in sbatch and "--mail-user=hpcrobot@sjtu.edu.cn" in sbatch
    assert "hpcrobot@sjtu.edu.cn" in r.summary


async def test_since_reports_each_ended_job_once_and_keeps_the_mark_private(tmp_path: Path) -> None:
    jobs, _ = make(tmp_path, {"sacct": USAGE, "tail": "line\nerror: bad input\n"})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for job_id in ("7", "8", "9"):
        for event in ("submitting", "submitted"):
            jobs.journal.append(
                JournalEntry.model_validate(
                    {
                        "at": now,
                        "event": event,
                        "mark": f"mcp-{job_id}",
                        "node": "pilogin.hpc.sjtu.edu.cn",
                        "partition": "cpu",
                        "job_id": job_id if event == "submitted" else None,
                        "stderr": f"/lustre/home/acct-hpc/hpcrobot/slurm-{job_id}.out",
                    }
                )
            )
    since = Since(jobs)
    first = await since.report()
    assert first.jobs is not None and [(j.job_id, j.state) for j in first.jobs] == [("7", "COMPLETED"), ("8", "FAILED")]
    failed = first.jobs[1]
    assert failed.node == "pilogin.hpc.sjtu.edu.cn" and failed.partition == "cpu"
    assert failed.diagnosis and failed.stderr_tail and "bad input" in failed.stderr_tail
    assert "1 still queued or running" in first.summary
    seen = tmp_path / "jobs" / SEEN_FILE
    assert os.stat(seen).st_mode & 0o777 == 0o600
    assert set(parse_seen(seen.read_text()).seen) == {"pilogin.hpc.sjtu.edu.cn 7", "pilogin.hpc.sjtu.edu.cn 8"}
    second = await since.report()
    assert not second.jobs and "No job" in second.summary and "1 still queued" in second.summary


async def test_since_leaves_out_a_node_that_fails(tmp_path: Path) -> None:
    jobs, _ = make(tmp_path, {}, lost=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    jobs.journal.append(
        JournalEntry.model_validate(
            {"at": now, "event": "submitted", "mark": "mcp-1", "node": "sylogin.hpc.sjtu.edu.cn", "job_id": "1"}
        )
    )
    r = await Since(jobs).report()
    assert not r.jobs and "not checked" in r.summary and "sylogin" in r.summary


async def test_credential_status_counts_the_jobs_not_reported_yet(tmp_path: Path) -> None:
    svc = Services.create(Settings(workspace=tmp_path))
    try:
        assert svc.credentials.status().unreported_jobs is None
        now = datetime.now(UTC).isoformat(timespec="seconds")
        entry: dict[str, Any] = {"at": now, "event": "submitted", "mark": "mcp-1", "node": "n", "job_id": "1"}
        svc.jobs.journal.append(JournalEntry.model_validate(entry))
        assert svc.credentials.status().unreported_jobs == 1
    finally:
        await svc.aclose()
