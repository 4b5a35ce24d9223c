"""What run_slurm returns (core.results renders its text form from the same data)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from sjtu_hpc_mcp.core.results import Table
from sjtu_hpc_mcp.core.slurm.modules import ModuleInfo
from sjtu_hpc_mcp.core.slurm.seff import SeffReport

Command = Literal["sinfo", "squeue", "sacct", "seff", "sbatch", "scancel", "job_output", "wait", "modules", "since"]
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
    node: str | None = None  # since: the entry node it ran from
    partition: str | None = None  # since
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
    slurm: str | None = Field(None, description="sinfo: the node's Slurm release, e.g. 24.11.5.")
    summary: str
    table: Table | None = None
    efficiency: SeffReport | None = None
    module: ModuleInfo | None = None
    submission: Submission | None = None
    output: JobOutput | None = None
    cancelled: bool | None = None
    jobs: list[JobOutcome] | None = None
    done: bool | None = Field(None, description="wait: every job has ended.")
