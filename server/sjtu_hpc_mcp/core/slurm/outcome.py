"""What `wait` reads and says: a job's state and usage from one sacct poll, and for a job that
ended badly, a short diagnosis with the fix."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sjtu_hpc_mcp.core.slurm.commands import SACCT_USAGE_COLUMNS
from sjtu_hpc_mcp.core.slurm.parse import parse_exit_code, rows_of
from sjtu_hpc_mcp.core.slurm.results import JobOutcome
from sjtu_hpc_mcp.core.slurm.states import parse_state
from sjtu_hpc_mcp.core.slurm.units import decimal, duration_seconds, memory_mb

DIAGNOSED = frozenset({"FAILED", "OUT_OF_MEMORY", "TIMEOUT", "NODE_FAIL"})
STDERR_LINES = 10
_FRACTION = re.compile(r"^(.*?)(?:\.(\d+))?$")


def cpu_seconds(text: str) -> float | None:
    """sacct's TotalCPU: `00:00.001`, `05:03.250`, `01:02:03`, `1-02:03:04`."""
    match = _FRACTION.match(text.strip())
    if not match or not match.group(1):
        return None
    whole = duration_seconds(match.group(1))
    if whole is None:
        return None
    # `MM:SS` here means minutes and seconds, which duration_seconds already reads that way.
    frac = match.group(2)
    return whole + (float(f"0.{frac}") if frac else 0.0)


@dataclass
class JobUsage:
    """One job (an allocation) merged with its steps."""

    job_id: str
    state: str
    terminal: bool | None
    exit_code: int | None
    signal: int | None
    elapsed: str | None
    elapsed_seconds: int | None
    time_limit: str | None
    time_limit_seconds: int | None
    alloc_cpus: int | None
    nodes: int | None
    req_mem_mb: float | None  # for the whole job
    total_cpu_seconds: float | None
    max_rss_mb: float | None  # the largest step's
    partition: str | None

    @property
    def finished(self) -> bool:
        return bool(self.terminal)


def _req_mem_total(text: str, cpus: int | None, nodes: int | None) -> float | None:
    value = text.strip()
    mb = memory_mb(value)
    if mb is None:
        return None
    if value.endswith("c"):  # per CPU (Slurm before 21.08)
        return mb * (cpus or 1)
    if value.endswith("n"):  # per node (Slurm before 21.08)
        return mb * (nodes or 1)
    return mb * (nodes or 1)  # 21.08 on: per node


def parse_usage(text: str) -> dict[str, JobUsage]:
    """Output of sacct_usage_argv: job id → usage (steps `123.batch`, `123_4.0` folded in)."""
    jobs: dict[str, JobUsage] = {}
    steps: list[dict[str, str]] = []
    for row in rows_of(text, SACCT_USAGE_COLUMNS):
        job_id = row["job_id"].strip()
        if "." in job_id:
            steps.append(row)
            continue
        state = parse_state(row["state"])
        exit_code, signal = parse_exit_code(row["exit_code"])
        cpus, nodes = decimal(row["alloc_cpus"]), decimal(row["nodes"])
        elapsed, limit = row["elapsed"].strip(), row["time_limit"].strip()
        jobs[job_id] = JobUsage(
            job_id=job_id,
            state=state.state,
            terminal=state.terminal,
            exit_code=exit_code,
            signal=signal,
            elapsed=elapsed or None,
            elapsed_seconds=duration_seconds(elapsed),
            time_limit=limit or None,
            time_limit_seconds=duration_seconds(limit),
            alloc_cpus=cpus,
            nodes=nodes,
            req_mem_mb=_req_mem_total(row["req_mem"], cpus, nodes),
            total_cpu_seconds=cpu_seconds(row["total_cpu"]),
            max_rss_mb=memory_mb(row["max_rss"]) if row["max_rss"].strip() else None,
            partition=row["partition"].strip() or None,
        )
    for row in steps:
        job = jobs.get(row["job_id"].split(".", 1)[0].strip())
        rss = memory_mb(row["max_rss"]) if row["max_rss"].strip() else None
        if job is not None and rss is not None and (job.max_rss_mb is None or rss > job.max_rss_mb):
            job.max_rss_mb = rss
    return jobs


_SEVERITY = ("NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "FAILED", "CANCELLED", "COMPLETED")


def usage_for(found: dict[str, JobUsage], job_id: str) -> JobUsage | None:
    """The usage of a job id; for an array's id (`123`, which sacct prints task by task as
    `123_1`, `123_[4-9]`), one record for the array: active while any task is, else its worst
    task (the one the diagnosis is about), with the array's id."""
    if job_id in found:
        return found[job_id]
    tasks = [u for key, u in found.items() if key.startswith(f"{job_id}_")]
    if not tasks:
        return None
    active = [u for u in tasks if not u.finished]
    if active:
        pick = active[0]
    else:
        rank = {state: i for i, state in enumerate(_SEVERITY)}
        pick = min(tasks, key=lambda u: rank.get(u.state, -1))
    return replace(pick, job_id=job_id)


def _round(x: float) -> float:
    return round(x, 1)


def _suggest_mem(used_mb: float | None, req_mb: float | None) -> str:
    base = max(2 * (req_mb or 0), 1.5 * (used_mb or 0), 1024.0)
    return f"{-(-base // 1024):.0f}G"


def _suggest_time(limit_s: int | None) -> str:
    seconds = max(2 * (limit_s or 0), 600)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


@dataclass(frozen=True)
class OomKill:
    """slurmstepd's report, in the job's stderr, that the cgroup memory limit killed processes of a step."""

    events: int
    step: str  # "7.batch", "12.0"

    def __str__(self) -> str:
        return f"{self.events} oom-kill event{'' if self.events == 1 else 's'} in step {self.step}"


# slurmstepd's words differ by release (task/cgroup), on a line `slurmstepd[-node]: error: …`:
#   22.05 (recorded)  Detected 1 oom-kill event(s) in StepId=7.batch. Some of your processes may have been killed …
#   24.11 (recorded)  Detected 1 oom_kill event in StepId=3.batch. Some of the step tasks have been OOM Killed.
#   older releases    Detected 1 oom-kill event(s) in step 7.batch cgroup. Some of your processes …
_OOM_KILL = re.compile(
    r"Detected (\d+) oom[-_]kill events?(?:\(s\))? in (?:StepId=|step )([0-9]+(?:_[0-9]+)?\.[A-Za-z0-9_+]+)", re.ASCII
)


def oom_kills(text: str) -> list[OomKill]:
    """The oom-kill reports slurmstepd wrote into a job's output, in any release's wording, in order."""
    return [OomKill(int(m.group(1)), m.group(2)) for m in _OOM_KILL.finditer(text)]


def diagnose(u: JobUsage, stderr_tail: str | None) -> tuple[str | None, str | None]:
    """(diagnosis, fix) for a job that ended FAILED, OUT_OF_MEMORY, TIMEOUT or NODE_FAIL."""
    tail_hint = "the stderr lines below" if stderr_tail else "its stderr (job_output, stream stderr)"
    kills = oom_kills(stderr_tail or "")
    counted = f" Slurm counted {'; '.join(str(k) for k in kills)}." if kills else ""
    raise_mem = f"Raise mem, e.g. options.mem={_suggest_mem(u.max_rss_mb, u.req_mem_mb)}"
    if u.state == "OUT_OF_MEMORY":
        limit = f" of {_round(u.req_mem_mb):g} MB" if u.req_mem_mb is not None else ""
        # MaxRSS is sampled: a quick spike past the limit often leaves a small figure.
        seen = (
            f" (peak seen {_round(u.max_rss_mb):g} MB)" if u.max_rss_mb and u.max_rss_mb >= (u.req_mem_mb or 0) else ""
        )
        return (
            f"Killed for using more than its memory limit{limit}{seen}.{counted}",
            f"{raise_mem}, or make the job use less.",
        )
    if u.state == "TIMEOUT":
        return (
            f"Stopped at its time limit ({u.time_limit or 'unknown'}) after {u.elapsed or '?'}.",
            f"Raise time, e.g. options.time={_suggest_time(u.time_limit_seconds)} (within the partition's "
            "maximum), or save checkpoints and resume.",
        )
    if u.state == "NODE_FAIL":
        return (
            "A compute node failed under the job; the script did not cause it.",
            "Submit it again; if it happens again, write to hpc@sjtu.edu.cn with the job id.",
        )
    if u.state == "FAILED":
        how = f"exit code {u.exit_code}" if u.exit_code else "an error"
        if u.signal:
            how += f" (signal {u.signal})"
        if kills:  # a step's process was killed for memory and the script failed after it
            return (
                f"The script ended with {how} after a process ran out of memory.{counted}",
                f"{raise_mem}, or make the job use less; then resubmit.",
            )
        return (f"The script ended with {how}.", f"Read {tail_hint}, fix the script or its input, and resubmit.")
    return None, None


def outcome_of(u: JobUsage, stderr_tail: str | None = None) -> JobOutcome:
    cpu_eff = mem_eff = None
    if u.finished and u.total_cpu_seconds is not None and u.elapsed_seconds and u.alloc_cpus:
        cpu_eff = _round(100 * u.total_cpu_seconds / (u.elapsed_seconds * u.alloc_cpus))
    if u.finished and u.max_rss_mb is not None and u.req_mem_mb:
        mem_eff = _round(100 * u.max_rss_mb / u.req_mem_mb)
    diagnosis, fix = diagnose(u, stderr_tail) if u.state in DIAGNOSED else (None, None)
    return JobOutcome(
        job_id=u.job_id,
        state=u.state,
        finished=u.finished,
        exit_code=u.exit_code if u.finished else None,
        signal=u.signal if u.finished else None,
        elapsed=u.elapsed,
        time_limit=u.time_limit,
        cpu_efficiency_percent=cpu_eff,
        memory_used_mb=None if u.max_rss_mb is None else _round(u.max_rss_mb),
        memory_requested_mb=None if u.req_mem_mb is None else _round(u.req_mem_mb),
        memory_efficiency_percent=mem_eff,
        diagnosis=diagnosis,
        fix=fix,
        stderr_tail=stderr_tail if diagnosis else None,
    )


def unknown_outcome(job_id: str) -> JobOutcome:
    """Accounting does not (yet) know the job: just submitted, or not this person's."""
    return JobOutcome(job_id=job_id, state="UNKNOWN", finished=False)


def last_lines(text: str, n: int = STDERR_LINES) -> str:
    lines = [line for line in text.rstrip("\n").split("\n")]
    return "\n".join(lines[-n:])
