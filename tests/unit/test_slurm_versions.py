"""Outputs in the wording of Slurm 18.08 to 25.05 parse to the right job id, state, start time,
exit code (tests/lab/recorded/versions/README.md says how they were made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.slurm import (
    parse_sacct,
    parse_sbatch,
    parse_sbatch_test_only,
    parse_scontrol_jobs,
    parse_seff,
    parse_squeue,
)

VERSIONS_DIR = Path(__file__).parents[1] / "lab" / "recorded" / "versions"
VERSIONS = sorted(p.name for p in VERSIONS_DIR.iterdir() if p.is_dir())


def read(version: str, name: str) -> str:
    return (VERSIONS_DIR / version / name).read_text()


def base_of(version: str) -> int:
    return 1000 + VERSIONS.index(version) * 100


def day_of(version: str) -> str:
    i = VERSIONS.index(version)
    return f"2026-0{1 + i % 9}-1{i % 10}"


def test_every_release_from_18_08_to_25_05_is_covered() -> None:
    assert VERSIONS[0] == "18.08" and VERSIONS[-1] == "25.05" and len(VERSIONS) == 10


@pytest.mark.parametrize("version", VERSIONS)
def test_sbatch_replies(version: str) -> None:
    base = base_of(version)
    submitted = parse_sbatch(read(version, "sbatch_parsable.txt"))
    assert submitted is not None and submitted.job_id == base
    est = parse_sbatch_test_only(read(version, "sbatch_test_only.stderr.txt"))
    assert est is not None
    assert (est.job_id, est.start_time, est.processors) == (base + 1, f"{day_of(version)}T10:00:00", 4)
    assert est.partition == "cpu" and est.nodes in ("cas001", "cas[001-002]", "labnode")
    assert est.cluster == ("sjtu" if version >= "25.05" else None)


@pytest.mark.parametrize("version", VERSIONS)
def test_squeue(version: str) -> None:
    base, day = base_of(version), day_of(version)
    running, pending = parse_squeue(read(version, "squeue.txt"))
    assert (running.job_id, running.state, running.start_time) == (str(base), "RUNNING", f"{day}T08:00:05")
    assert running.elapsed_seconds == 5400 and running.node_list == "cas[001-002]"
    assert (pending.job_id, pending.state, pending.reason) == (str(base + 2), "PENDING", "Resources")
    assert pending.start_time == f"{day}T12:00:00"


@pytest.mark.parametrize("version", VERSIONS)
def test_sacct(version: str) -> None:
    base, day = base_of(version), day_of(version)
    rows = {j.job_id: j for j in parse_sacct(read(version, "sacct.txt"))}
    done, failed, oom, cancelled = (rows[str(base + k)] for k in (0, 3, 4, 5))
    assert (done.state, done.exit_code, done.start_time) == ("COMPLETED", 0, f"{day}T08:00:05")
    assert (failed.state, failed.exit_code, failed.signal) == ("FAILED", 2, 0)
    assert (oom.state, oom.exit_code, oom.signal) == ("OUT_OF_MEMORY", 0, 125)
    assert cancelled.state == "CANCELLED" and cancelled.cancelled_by in (0, 1001) and cancelled.signal == 15
    assert done.req_mem_mb in (4000, 16 * 1024) and all(j.terminal for j in rows.values())


@pytest.mark.parametrize("version", VERSIONS)
def test_scontrol(version: str) -> None:
    base, day = base_of(version), day_of(version)
    (job,) = parse_scontrol_jobs(read(version, "scontrol.txt"))
    assert (job.job_id, job.state, job.exit_code, job.start_time) == (str(base + 3), "FAILED", 2, f"{day}T08:00:05")
    assert job.std_err == f"/lustre/home/acct-hpc/hpcrobot/bad-{base + 3}.err"
    assert job.std_out == f"/lustre/home/acct-hpc/hpcrobot/bad-{base + 3}.out"


@pytest.mark.parametrize("version", VERSIONS)
def test_seff(version: str) -> None:
    report = parse_seff(read(version, "seff.txt"))
    assert report is not None
    assert (report.job_id, report.state, report.exit_code) == (str(base_of(version)), "COMPLETED", 0)
    assert report.cpu_efficiency_percent == 90.0 and report.memory_efficiency_percent == 37.5
    assert report.cores == 80 and report.memory_allocated_per in ("core", "node")
