"""What run_slurm returns, and its text form (the same content, compact, for clients that show text)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from sjtu_hpc_mcp.core.results import Table, table_text
from sjtu_hpc_mcp.core.slurm.seff import SeffReport

Command = Literal["sinfo", "squeue", "sacct", "seff", "sbatch", "scancel", "job_output", "wait"]
Stream = Literal["stdout", "stderr"]


class Submission(BaseModel):
    job_id: str | None = None
    script_path: str | None = None
    test_only: bool = False
    estimated_start: str | None = None
    reconciled: bool = False
    stdout: str | None = None
    stderr: str | None = None
    warnings: list[str] = []


class JobOutput(BaseModel):
    job_id: str
    stream: Stream
    path: str
    text: str
    total_bytes: int | None = None
    truncated: bool
    from_journal: bool = False  # Slurm had forgotten the job; the path came from the job journal


class JobOutcome(BaseModel):
    """A job's state and, once it has ended, its outcome in one place."""

    job_id: str
    state: str
    finished: bool
    exit_code: int | None = None
    signal: int | None = None
    elapsed: str | None = None
    time_limit: str | None = None
    cpu_efficiency_percent: float | None = None
    memory_used_mb: float | None = None
    memory_requested_mb: float | None = None
    memory_efficiency_percent: float | None = None
    diagnosis: str | None = None
    fix: str | None = None
    stderr_tail: str | None = Field(None, description="Last lines of the job's stderr (failed jobs).")


class SlurmResult(BaseModel):
    command: Command
    node: str = Field(description="Entry node the command ran on.")
    host: str = Field(description="The hostname the node reported.")
    summary: str
    table: Table | None = None
    efficiency: SeffReport | None = None
    submission: Submission | None = None
    output: JobOutput | None = None
    cancelled: bool | None = None
    jobs: list[JobOutcome] | None = None
    done: bool | None = Field(None, description="wait: every job has ended.")


def _outcome_text(j: JobOutcome) -> str:
    parts = [f"{j.job_id} {j.state}"]
    if j.exit_code is not None:
        parts.append(f"exit {j.exit_code}:{j.signal or 0}")
    if j.elapsed:
        parts.append(f"elapsed {j.elapsed}" + (f" of {j.time_limit}" if j.time_limit else ""))
    if j.cpu_efficiency_percent is not None:
        parts.append(f"CPU {j.cpu_efficiency_percent:g}%")
    if j.memory_used_mb is not None:
        mem = f"memory {j.memory_used_mb:g} MB"
        if j.memory_requested_mb:
            mem += f" of {j.memory_requested_mb:g} MB ({j.memory_efficiency_percent:g}%)"
        parts.append(mem)
    line = "; ".join(parts)
    if j.diagnosis:
        line += f"\n  {j.diagnosis} Fix: {j.fix}"
    if j.stderr_tail:
        line += "\n  stderr: " + j.stderr_tail.replace("\n", "\n  | ")
    return line


def result_text(model: SlurmResult) -> str:
    parts = [f"{model.summary} [node {model.node}]"]
    if model.table is not None:
        parts.append(table_text(model.table))
    if model.efficiency is not None:
        e = model.efficiency
        parts.append(
            f"state {e.state} exit {e.exit_code}; CPU {e.cpu_efficiency_percent}% of {e.core_walltime_seconds} "
            f"core-s; memory {e.memory_utilized_mb} MB = {e.memory_efficiency_percent}% of {e.memory_allocated_mb} MB"
        )
    if model.submission is not None and model.submission.warnings:
        parts.extend(f"warning: {w}" for w in model.submission.warnings)
    if model.jobs:
        parts.extend(_outcome_text(j) for j in model.jobs)
    if model.output is not None:
        parts.append(model.output.text)
    return "\n".join(parts)
