"""Argv builders for the Slurm commands the server runs. The caller joins them with shlex.join.

Every option is written `--opt=value`, so a value can never become a separate flag, and every value
has passed a check in `validate`. Output formats are explicit (22.05's --json is unreliable); each
column list is shared with its parser, and a free-text column (a job name) always comes last.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm import notify
from sjtu_hpc_mcp.core.slurm import validate as v
from sjtu_hpc_mcp.core.slurm.states import normalize_states

SINFO_COLUMNS: tuple[tuple[str, str], ...] = (
    ("partition", "%P"),
    ("available", "%a"),
    ("time_limit", "%l"),
    ("nodes", "%D"),
    ("state", "%T"),
    ("cpus", "%C"),
    ("memory_mb", "%m"),
    ("gres", "%G"),
)
SQUEUE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "%i"),
    ("partition", "%P"),
    ("user", "%u"),
    ("account", "%a"),
    ("state", "%T"),
    ("elapsed", "%M"),
    ("time_limit", "%l"),
    ("nodes", "%D"),
    ("cpus", "%C"),
    ("submit_time", "%V"),
    ("start_time", "%S"),
    ("reason_or_nodelist", "%R"),
    ("name", "%j"),  # last: a name holding "|" is absorbed here
)
SACCT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "JobID"),
    ("partition", "Partition"),
    ("account", "Account"),
    ("user", "User"),
    ("state", "State"),
    ("exit_code", "ExitCode"),
    ("elapsed", "Elapsed"),
    ("time_limit", "Timelimit"),
    ("alloc_cpus", "AllocCPUS"),
    ("req_mem", "ReqMem"),
    ("submit_time", "Submit"),
    ("start_time", "Start"),
    ("end_time", "End"),
    ("node_list", "NodeList"),
    ("name", "JobName"),  # last, as above
)
SQUEUE_COMMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "%i"),
    ("state", "%T"),
    ("comment", "%k"),
)
SACCT_COMMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "JobID"),
    ("state", "State"),
    ("comment", "Comment"),
)

# wait: allocations and their steps (MaxRSS is on the steps), one line each.
SACCT_USAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "JobID"),
    ("state", "State"),
    ("exit_code", "ExitCode"),
    ("elapsed", "Elapsed"),
    ("time_limit", "Timelimit"),
    ("alloc_cpus", "AllocCPUS"),
    ("nodes", "NNodes"),
    ("req_mem", "ReqMem"),
    ("total_cpu", "TotalCPU"),
    ("max_rss", "MaxRSS"),
    ("partition", "Partition"),
)
# Reconciling a lost sbatch reply from accounting: SubmitLine holds the script path with its mark.
SACCT_SUBMIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "JobID"),
    ("state", "State"),
    ("submit_line", "SubmitLine"),  # last: free text
)

DEFAULT_SACCT_START = "now-24hours"
# A login environment may set SLURM_TIME_FORMAT (epoch seconds, or a format with spaces): every
# remote Slurm command runs with the standard one, so the parsers always read ISO times.
SLURM_ENV: tuple[str, ...] = ("env", "SLURM_TIME_FORMAT=standard")
SLURM_COMMANDS = frozenset({"sinfo", "squeue", "sacct", "sbatch", "scancel", "scontrol", "seff", "sacctmgr"})
MAX_TAIL_BYTES = 1024 * 1024


def remote_argv(argv: Sequence[str]) -> list[str]:
    """The argv as run on the node: Slurm commands get SLURM_ENV in front; others stay as they are."""
    return [*SLURM_ENV, *argv] if argv and argv[0] in SLURM_COMMANDS else list(argv)


def command_name(argv: Sequence[str]) -> str:
    """`sbatch` for `env SLURM_TIME_FORMAT=standard sbatch …` (for messages)."""
    words = list(argv)
    if words and words[0] == "env":
        words = [w for w in words[1:] if "=" not in w] or words
    return words[0] if words else "?"


def _format(columns: Sequence[tuple[str, str]], sep: str) -> str:
    return sep.join(spec for _, spec in columns)


def sinfo_argv(partitions: Iterable[str] = ()) -> list[str]:
    argv = ["sinfo", "--noheader", f"--format={_format(SINFO_COLUMNS, '|')}"]
    parts = v.partitions(partitions)
    if parts:
        argv.append(f"--partition={','.join(parts)}")
    return argv


def squeue_argv(
    user: str | None = None,
    *,
    states: Iterable[str] = (),
    partitions: Iterable[str] = (),
    job_ids: Iterable[str | int] = (),
    name: str | None = None,
    all_states: bool = False,
    expand_arrays: bool = False,
) -> list[str]:
    """The person's queue: `--user=<user>` when given, else `--me` (the SSH login's own jobs).

    squeue shows only pending/running/completing jobs unless told otherwise, even with job ids:
    all_states adds jobs that ended in the last MinJobAge seconds. An unknown job id makes squeue
    exit 1 (`slurm_load_jobs error: Invalid job id specified`); a range like `123_[1-3]` matches
    nothing, so only `123` and `123_4` are accepted.
    """
    argv = ["squeue", "--noheader", f"--format={_format(SQUEUE_COLUMNS, '|')}"]
    argv.append(f"--user={v.username(user)}" if user is not None else "--me")
    wanted = normalize_states(states)
    if all_states and wanted:
        raise HpcError(
            "E_ARG",
            "give either states or all_states, not both",
            "leave out all_states to filter by states, or states to see jobs in every state",
        )
    if all_states:
        argv.append("--states=all")
    elif wanted:
        argv.append(f"--states={','.join(wanted)}")
    parts = v.partitions(partitions)
    if parts:
        argv.append(f"--partition={','.join(parts)}")
    ids = v.job_ids(job_ids)
    if ids:
        argv.append(f"--jobs={','.join(ids)}")
    if name is not None:
        argv.append(f"--name={v.name(name)}")
    if expand_arrays:
        argv.append("--array")
    return argv


def sacct_argv(
    *,
    start: str | None = None,
    end: str | None = None,
    states: Iterable[str] = (),
    job_ids: Iterable[str | int] = (),
    user: str | None = None,
) -> list[str]:
    """Finished and current jobs (allocations only).

    Without `start`: since `now-24hours` (sacct's own default is midnight), or since the epoch
    when job ids are given (sacct's default for -j). With states, sacct matches jobs that were in
    them during [start, end] (RUNNING thus includes jobs that have since ended); the end is then
    passed as `now` explicitly.
    """
    argv = [
        "sacct",
        "--allocations",
        "--parsable2",
        "--noheader",
        f"--format={_format(SACCT_COLUMNS, ',')}",
    ]
    ids = v.job_ids(job_ids)
    if start is not None:
        argv.append(f"--starttime={v.slurm_time(start, 'start time')}")
    elif not ids:
        argv.append(f"--starttime={DEFAULT_SACCT_START}")
    wanted = normalize_states(states)
    if end is not None:
        argv.append(f"--endtime={v.slurm_time(end, 'end time')}")
    elif wanted:
        argv.append("--endtime=now")
    if wanted:
        argv.append(f"--state={','.join(wanted)}")
    if ids:
        argv.append(f"--jobs={','.join(ids)}")
    if user is not None:
        argv.append(f"--user={v.username(user)}")
    return argv


def seff_argv(job_id: str | int) -> list[str]:
    return ["seff", v.job_id(job_id)]


def scontrol_job_argv(job_id: str | int) -> list[str]:
    """One line of Key=Value per job (an array job id gives one line per task)."""
    return ["scontrol", "--oneliner", "show", "job", v.job_id(job_id)]


def scancel_argv(
    job_ids: Iterable[str | int] = (),
    *,
    name: str | None = None,
    user: str | None = None,
) -> list[str]:
    """Cancel by ids (`123`, `123_4`, `123_[1-3]`) and/or by job name; a user alone is refused.

    scancel exits 0 and prints nothing for an unknown job id (22.05), so check the queue after.
    The throttle form squeue prints (`123_[2-3%1]`) is refused by scancel and here.
    """
    ids = v.job_ids(job_ids, allow_task_ranges=True)
    if not ids and name is None:
        raise HpcError(
            "E_ARG",
            "scancel needs job ids or a job name",
            "name the jobs to cancel; cancelling all of a user's jobs is not offered",
        )
    argv = ["scancel"]
    if name is not None:
        argv.append(f"--name={v.name(name)}")
    if user is not None:
        argv.append(f"--user={v.username(user)}")
    argv.extend(ids)
    return argv


def tail_argv(path: str, max_bytes: int = 64 * 1024) -> list[str]:
    """The last max_bytes of a file (output logs). Decode with `bounds.tail_text`."""
    size = v.count(max_bytes, "max_bytes", MAX_TAIL_BYTES)
    return ["tail", f"--bytes={size}", "--", v.absolute_path(path)]


def squeue_comments_argv(user: str | None = None) -> list[str]:
    """Job id, state and comment of the queue, to find a submission by its `mcp-…` token."""
    who = f"--user={v.username(user)}" if user is not None else "--me"
    fmt = _format(SQUEUE_COMMENT_COLUMNS, "|")
    return ["squeue", "--noheader", "--states=all", f"--format={fmt}", who]


def sacct_comments_argv(start: str = DEFAULT_SACCT_START, user: str | None = None) -> list[str]:
    """As squeue_comments_argv, from accounting; Comment is blank unless the cluster stores it."""
    argv = [
        "sacct",
        "--allocations",
        "--parsable2",
        "--noheader",
        f"--format={_format(SACCT_COMMENT_COLUMNS, ',')}",
        f"--starttime={v.slurm_time(start, 'start time')}",
    ]
    if user is not None:
        argv.append(f"--user={v.username(user)}")
    return argv


def sacct_usage_argv(job_ids: Iterable[str | int]) -> list[str]:
    """State, exit code and usage of the given jobs and their steps: what `wait` polls."""
    ids = v.job_ids(job_ids)
    if not ids:
        raise HpcError("E_JOBID", "no job ids to poll", "give job ids")
    fmt = _format(SACCT_USAGE_COLUMNS, ",")
    return ["sacct", "--parsable2", "--noheader", f"--format={fmt}", f"--jobs={','.join(ids)}"]


def sacct_recent_usage_argv(start: str) -> list[str]:
    """Usage of the person's jobs that completed since start (steps included: MaxRSS)."""
    fmt = _format(SACCT_USAGE_COLUMNS, ",")
    since = v.slurm_time(start, "start time")
    return ["sacct", "--parsable2", "--noheader", f"--format={fmt}", f"--starttime={since}", "--endtime=now",
            "--state=COMPLETED"]  # fmt: skip


def sacct_submit_lines_argv(start: str = DEFAULT_SACCT_START) -> list[str]:
    """The person's jobs since start with the command line that submitted each (Slurm 21.08+)."""
    fmt = _format(SACCT_SUBMIT_COLUMNS, ",")
    return [
        "sacct",
        "--allocations",
        "--parsable2",
        "--noheader",
        f"--format={fmt}",
        f"--starttime={v.slurm_time(start, 'start time')}",
    ]


class JobOptions(BaseModel):
    """sbatch options as the tool takes them (the partition is a top-level field). The one schema
    of these fields: each is checked by sbatch_argv, which refuses with a coded error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: str | None = Field(None, description="Wall time: MM, HH:MM:SS or D-HH:MM:SS.")
    nodes: int | None = Field(None, description="Number of nodes.")
    ntasks: int | None = Field(None, description="Number of tasks.")
    ntasks_per_node: int | None = Field(None, description="Tasks per node.")
    cpus_per_task: int | None = Field(None, description="CPUs per task.")
    mem: str | None = Field(None, description="Memory per node: 4G, 500M, 4096 (MB).")
    gpus: int | None = Field(None, description="GPUs per node (--gres=gpu:N).")
    job_name: str | None = Field(None, description="Job name: letters, digits, . _ + -.")
    output: str | None = Field(None, description="Absolute stdout path in hot storage; %j %x %A %a allowed.")
    error: str | None = Field(None, description="Absolute stderr path in hot storage.")
    array: str | None = Field(None, description="Array indexes: 1-10, 1,3,5, 1-100%10.")
    dependency: str | None = Field(None, description="afterok:123, afterany:123:124, singleton.")
    begin: str | None = Field(None, description="Earliest start: now+1hour or YYYY-MM-DDTHH:MM.")
    workdir: str | None = Field(None, description="Absolute working directory in hot storage.")


class SbatchOptions(JobOptions):
    """JobOptions plus what the server adds (partition, mark, test_only); strictly typed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    partition: str | None = Field(None, description="Partition, e.g. cpu, a100, debug.")
    comment: str | None = Field(None, description="Reconciliation token, e.g. mcp-<uuid>.")
    test_only: bool = Field(False, description="Validate and estimate a start; submit nothing.")
    mail_type: str | None = Field(None, description="END, FAIL or END,FAIL (notify.mail_options).")
    mail_user: str | None = Field(None, description="The person's bound email (notify.mail_options).")


def sbatch_argv(script_path: str, options: SbatchOptions | None = None) -> list[str]:
    """`sbatch --parsable [--opt=value ...] <script>`; stdout is `<id>` or `<id>;<cluster>`."""
    o = options or SbatchOptions()
    argv = ["sbatch", "--parsable"]

    def add(flag: str, value: str | int | None) -> None:
        if value is not None:
            argv.append(f"--{flag}={value}")

    add("partition", None if o.partition is None else v.partition(o.partition))
    add("time", None if o.time is None else v.time_limit(o.time))
    add("nodes", None if o.nodes is None else v.count(o.nodes, "nodes", 10_000))
    add("ntasks", None if o.ntasks is None else v.count(o.ntasks, "ntasks", 1_000_000))
    if o.ntasks_per_node is not None:
        add("ntasks-per-node", v.count(o.ntasks_per_node, "ntasks_per_node", 4096))
    if o.cpus_per_task is not None:
        add("cpus-per-task", v.count(o.cpus_per_task, "cpus_per_task", 4096))
    add("mem", None if o.mem is None else v.memory(o.mem))
    # --gres=gpu:N (not --gpus): what 22.05 honours for per-node GPUs, fake ones included.
    add("gres", None if o.gpus is None else f"gpu:{v.count(o.gpus, 'gpus', 64)}")
    add("job-name", None if o.job_name is None else v.name(o.job_name))
    add("output", None if o.output is None else v.absolute_path(o.output, "output"))
    add("error", None if o.error is None else v.absolute_path(o.error, "error"))
    add("array", None if o.array is None else v.array_spec(o.array))
    add("dependency", None if o.dependency is None else v.dependency(o.dependency))
    add("begin", None if o.begin is None else v.slurm_time(o.begin, "begin", future=True))
    add("chdir", None if o.workdir is None else v.absolute_path(o.workdir, "workdir"))
    add("comment", None if o.comment is None else v.comment(o.comment))
    if (o.mail_type is None) != (o.mail_user is None):
        raise HpcError("E_ARG", "mail_type and mail_user go together", "set both with notify.mail_options")
    add("mail-type", None if o.mail_type is None else notify.check_mail_type(o.mail_type))
    add("mail-user", None if o.mail_user is None else notify.check_email(o.mail_user))
    if o.test_only:
        argv.append("--test-only")
    argv.append(v.absolute_path(script_path, "script path"))
    return argv
