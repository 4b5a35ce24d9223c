"""Slurm command building and output parsing: pure functions over plain data.

`commands` builds argv lists from validated fields; `parse`, `seff` and `scontrol` read the
explicit text formats those argv lists ask for; `states` is the job-state table; `bounds` caps
what a result may carry; `version` reads the release a node runs (`sinfo --version`).
"""

from sjtu_hpc_mcp.core.slurm.bounds import TailText, tail_text
from sjtu_hpc_mcp.core.slurm.commands import (
    JobOptions,
    SbatchOptions,
    command_name,
    remote_argv,
    sacct_argv,
    sacct_comments_argv,
    sbatch_argv,
    scancel_argv,
    scontrol_job_argv,
    seff_argv,
    sinfo_argv,
    squeue_argv,
    squeue_comments_argv,
    tail_argv,
)
from sjtu_hpc_mcp.core.slurm.parse import (
    AccountedJob,
    GpuCount,
    JobComment,
    PartitionInfo,
    QueuedJob,
    SbatchTestOnly,
    Submitted,
    find_by_comment,
    parse_job_comments,
    parse_sacct,
    parse_sbatch,
    parse_sbatch_test_only,
    parse_sinfo,
    parse_squeue,
    parse_submit_lines,
    slurm_errors,
)
from sjtu_hpc_mcp.core.slurm.results import (
    Command,
    JobOutcome,
    JobOutput,
    SlurmResult,
    Stream,
    Submission,
)
from sjtu_hpc_mcp.core.slurm.scontrol import JobDetail, parse_scontrol_jobs
from sjtu_hpc_mcp.core.slurm.seff import SeffReport, parse_seff
from sjtu_hpc_mcp.core.slurm.states import (
    JOB_STATES,
    JobState,
    lookup_state,
    normalize_state,
    normalize_states,
)
from sjtu_hpc_mcp.core.slurm.version import SLURM_VERSION_ARGV, SlurmVersion, parse_slurm_version

__all__ = [
    "JOB_STATES",
    "SLURM_VERSION_ARGV",
    "AccountedJob",
    "Command",
    "GpuCount",
    "JobComment",
    "JobDetail",
    "JobOptions",
    "JobOutcome",
    "JobOutput",
    "JobState",
    "PartitionInfo",
    "QueuedJob",
    "SbatchOptions",
    "SbatchTestOnly",
    "SeffReport",
    "SlurmResult",
    "SlurmVersion",
    "Stream",
    "Submission",
    "Submitted",
    "TailText",
    "command_name",
    "find_by_comment",
    "lookup_state",
    "normalize_state",
    "normalize_states",
    "parse_job_comments",
    "parse_sacct",
    "parse_sbatch",
    "parse_sbatch_test_only",
    "parse_scontrol_jobs",
    "parse_seff",
    "parse_sinfo",
    "parse_slurm_version",
    "parse_squeue",
    "parse_submit_lines",
    "remote_argv",
    "sacct_argv",
    "sacct_comments_argv",
    "sbatch_argv",
    "scancel_argv",
    "scontrol_job_argv",
    "seff_argv",
    "sinfo_argv",
    "slurm_errors",
    "squeue_argv",
    "squeue_comments_argv",
    "tail_argv",
    "tail_text",
]
