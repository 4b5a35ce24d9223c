"""Parser for the text of `seff <jobid>` (the contrib Perl script; no machine format exists)."""

from __future__ import annotations

import re

from pydantic import BaseModel

from sjtu_hpc_mcp.core.slurm.units import decimal, duration_seconds, memory_mb, output_lines


class SeffReport(BaseModel):
    job_id: str
    array_job_id: str | None = None  # `123_4` for an array task
    cluster: str | None = None
    user: str | None = None
    group: str | None = None
    state: str | None = None
    exit_code: int | None = None  # not printed for PENDING/RUNNING
    nodes: int | None = None
    cores: int | None = None  # total
    cores_per_node: int | None = None
    cpu_utilized_seconds: int | None = None
    cpu_efficiency_percent: float | None = None
    core_walltime_seconds: int | None = None  # what cpu_efficiency_percent is relative to
    wall_clock_seconds: int | None = None
    memory_utilized_mb: float | None = None
    memory_utilized_bytes: int | None = None
    memory_efficiency_percent: float | None = None
    memory_allocated_mb: float | None = None  # what memory_efficiency_percent is relative to
    memory_allocated_per: str | None = None  # "node" or "core": how the request was made
    efficiency_available: bool  # False for a pending job (seff prints no figures)
    notes: list[str] = []  # warnings and lines not understood


_STATE = re.compile(r"^(\S+)(?:\s+\(exit code (\d+)\))?$")
# 24.11's seff reads accounting only, which holds no usage before a job ends: for a running job it prints zeros
# and says so in this warning (22.05's printed running figures "that may be misleading", kept as they are).
_NO_FIGURES_YET = "Efficiency statistics can only be obtained after the job has ended"
_CPU_EFF = re.compile(r"^([\d.]+)%\s+of\s+(\S+)\s+core-walltime$")
_MEM_EFF = re.compile(r"^([\d.]+)%\s+of\s+([\d.]+\s*[KMGTPE]?B)(?:\s+\(([\d.]+\s*[KMGTPE]?B)/(\w+)\))?")


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_seff(text: str) -> SeffReport | None:
    """The report, or None when there is none (`Job not found.`, usage text)."""
    fields: dict[str, str] = {}
    notes: list[str] = []
    for raw in output_lines(text):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if sep and key in _KEYS:
            fields[key] = value.strip()
        else:
            notes.append(line)
    job_id = fields.get("Job ID")
    if not job_id:
        return None

    state = exit_code = None
    if "State" in fields:
        match = _STATE.match(fields["State"])
        if match:
            state = match.group(1)
            exit_code = int(match.group(2)) if match.group(2) else None
        else:
            state = fields["State"]
    user = group = None
    if "User/Group" in fields:
        user, _, group = fields["User/Group"].partition("/")
    nodes = decimal(fields.get("Nodes", ""))
    per_node = decimal(fields.get("Cores per node", ""))
    cores = decimal(fields.get("Cores", ""))
    if cores is None and per_node is not None:
        cores = per_node * (nodes or 1)
    if cores is not None and nodes is None and "Cores" in fields:
        nodes = 1

    cpu_eff = walltime = None
    match = _CPU_EFF.match(fields.get("CPU Efficiency", ""))
    if match:
        cpu_eff, walltime = _num(match.group(1)), duration_seconds(match.group(2))
    used_mb = None
    if "Memory Utilized" in fields:
        used_mb = memory_mb(fields["Memory Utilized"].split(" (")[0])
    mem_eff = alloc_mb = None
    mem_per = None
    match = _MEM_EFF.match(fields.get("Memory Efficiency", ""))
    if match:
        mem_eff, alloc_mb = _num(match.group(1)), memory_mb(match.group(2))
        mem_per = match.group(4)
    cpu_used = fields.get("CPU Utilized")
    wall = fields.get("Job Wall-clock time")
    if any(_NO_FIGURES_YET in note for note in notes):  # the zeros are placeholders, not measurements
        cpu_used = cpu_eff = used_mb = mem_eff = None
        fields.pop("CPU Efficiency", None)
    return SeffReport(
        job_id=job_id,
        array_job_id=fields.get("Array Job ID"),
        cluster=fields.get("Cluster"),
        user=user or None,
        group=group or None,
        state=state,
        exit_code=exit_code,
        nodes=nodes,
        cores=cores,
        cores_per_node=per_node,
        cpu_utilized_seconds=None if cpu_used is None else duration_seconds(cpu_used),
        cpu_efficiency_percent=cpu_eff,
        core_walltime_seconds=walltime,
        wall_clock_seconds=None if wall is None else duration_seconds(wall),
        memory_utilized_mb=used_mb,
        memory_utilized_bytes=None if used_mb is None else round(used_mb * 1024 * 1024),
        memory_efficiency_percent=mem_eff,
        memory_allocated_mb=alloc_mb,
        memory_allocated_per=mem_per,
        efficiency_available=cpu_used is not None or "CPU Efficiency" in fields,
        notes=notes,
    )


_KEYS = frozenset(
    {
        "Job ID",
        "Array Job ID",
        "Cluster",
        "User/Group",
        "State",
        "Nodes",
        "Cores",
        "Cores per node",
        "CPU Utilized",
        "CPU Efficiency",
        "Job Wall-clock time",
        "Memory Utilized",
        "Memory Efficiency",
    }
)
