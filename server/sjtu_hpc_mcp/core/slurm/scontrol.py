"""Parser for `scontrol --oneliner show job <id>`: one line of `Key=Value` tokens per job."""

from __future__ import annotations

import re

from pydantic import BaseModel

from sjtu_hpc_mcp.core.slurm.parse import parse_exit_code
from sjtu_hpc_mcp.core.slurm.states import parse_state
from sjtu_hpc_mcp.core.slurm.units import decimal, duration_seconds, output_lines

# A token starts where a space precedes `Key=`; keys look like `JobId`, `Socks/Node`,
# `NtasksPerN:B:S:C`. Values may hold spaces (Command, Reason, Comment) and stay whole.
_TOKEN_START = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9_/:.]*=)")
_USER_ID = re.compile(r"^(.*)\((\d+)\)$")
_NULL = frozenset({"", "(null)", "None", "Unknown", "N/A"})


def parse_key_values(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for token in _TOKEN_START.split(line.strip()):
        key, sep, value = token.partition("=")
        if sep and key:
            out.setdefault(key, value)
    return out


class JobDetail(BaseModel):
    job_id: str  # `123`, or `123_4` for an array task
    name: str | None
    user: str | None
    uid: int | None
    account: str | None
    partition: str | None
    state: str | None
    terminal: bool | None
    reason: str | None
    exit_code: int | None
    signal: int | None
    time_limit: str | None
    time_limit_seconds: int | None
    run_time_seconds: int | None
    submit_time: str | None
    start_time: str | None
    end_time: str | None
    node_list: str | None
    num_nodes: str | None  # `1`, or a range like `1-2` while pending
    num_cpus: int | None
    command: str | None
    work_dir: str | None
    std_out: str | None
    std_err: str | None
    std_in: str | None
    comment: str | None
    fields: dict[str, str]  # everything scontrol printed, as printed


def _get(fields: dict[str, str], key: str) -> str | None:
    value = fields.get(key)
    return None if value is None or value.strip() in _NULL else value.strip()


def parse_scontrol_jobs(text: str) -> list[JobDetail]:
    """One JobDetail per line that starts with `JobId=`."""
    jobs = []
    for line in output_lines(text):
        if not line.strip().startswith("JobId="):
            continue
        f = parse_key_values(line)
        user = uid = None
        raw_user = _get(f, "UserId")
        if raw_user:
            match = _USER_ID.match(raw_user)
            user, uid = (match.group(1), int(match.group(2))) if match else (raw_user, None)
        state = _get(f, "JobState")
        parsed = parse_state(state) if state else None
        exit_code, signal = parse_exit_code(f.get("ExitCode", ""))
        job_id = f["JobId"].strip()
        array_job, array_task = _get(f, "ArrayJobId"), _get(f, "ArrayTaskId")
        if array_job and array_task:  # as squeue prints it: `123_4`, or `123_[5-9]` if pending
            task = array_task if decimal(array_task) is not None else f"[{array_task}]"
            job_id = f"{array_job}_{task}"
        limit = _get(f, "TimeLimit")
        run = _get(f, "RunTime")
        cpus = _get(f, "NumCPUs")
        jobs.append(
            JobDetail(
                job_id=job_id,
                name=_get(f, "JobName"),
                user=user,
                uid=uid,
                account=_get(f, "Account"),
                partition=_get(f, "Partition"),
                state=parsed.state if parsed else None,
                terminal=parsed.terminal if parsed else None,
                reason=_get(f, "Reason"),
                exit_code=exit_code,
                signal=signal,
                time_limit=limit,
                time_limit_seconds=None if limit is None else duration_seconds(limit),
                run_time_seconds=None if run is None else duration_seconds(run),
                submit_time=_get(f, "SubmitTime"),
                start_time=_get(f, "StartTime"),
                end_time=_get(f, "EndTime"),
                node_list=_get(f, "NodeList"),
                num_nodes=_get(f, "NumNodes"),
                num_cpus=None if cpus is None else decimal(cpus),
                command=_get(f, "Command"),
                work_dir=_get(f, "WorkDir"),
                std_out=_get(f, "StdOut"),
                std_err=_get(f, "StdErr"),
                std_in=_get(f, "StdIn"),
                comment=_get(f, "Comment"),
                fields=f,
            )
        )
    return jobs
