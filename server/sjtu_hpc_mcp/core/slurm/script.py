"""A job script on its way to sbatch: checks, the `#!` line, the mark, where it and its output go.

Pure: the caller supplies the random part of the mark and the clock.
"""

from __future__ import annotations

import re
from datetime import datetime

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm import patterns
from sjtu_hpc_mcp.core.slurm.commands import JobOptions

MAX_SCRIPT_BYTES = 256 * 1024
JOB_DIR = ".sjtu-hpc-mcp/jobs"  # relative to the login home: hot storage
MARK_PREFIX = "mcp-"
_MARK = re.compile(patterns.MARK, re.ASCII)


def prepare_script(script: str) -> tuple[str, list[str]]:
    """The script as it will be uploaded, and warnings: too large is refused, a missing `#!` added."""
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        raise HpcError("E_ARG", "The script is larger than 256 KiB.", "Put the work in files; keep the script short.")
    if script.startswith("#!"):
        return script, []
    return "#!/bin/bash\n" + script, ["The script had no #! line; #!/bin/bash was added."]


def new_mark(random_hex: str) -> str:
    """The `--comment` mark that finds a submission again when sbatch's reply is lost."""
    mark = MARK_PREFIX + random_hex[:16].lower()
    if not _MARK.fullmatch(mark):
        raise ValueError("a mark needs 16 hex digits")
    return mark


def marks_in(text: str) -> list[str]:
    """The marks in a text (a submit line, a script path)."""
    return _MARK.findall(text)


def script_name(mark: str, now: datetime) -> str:
    """`<JOB_DIR>/20261203T194129-mcp-….sh`: sorts by time, carries the mark."""
    return f"{JOB_DIR}/{now:%Y%m%dT%H%M%S}-{mark}.sh"


def home_of(script_path: str) -> str | None:
    """The login home, from the absolute path an upload of script_name() returned."""
    head, sep, _ = script_path.partition("/" + JOB_DIR + "/")
    return head if sep and head.startswith("/") else None


def base_job_id(job_id: str) -> str:
    """`123` for `123`, `123_4` and `123_[1-3]`: what squeue and sacct accept for the whole array."""
    return job_id.split("_", 1)[0]


def array_parts(job_id: str) -> tuple[str, str | None]:
    """(`123`, `4`) for `123_4`; (`123`, None) for `123`."""
    base, sep, task = job_id.partition("_")
    return base, (task if sep and task.isdigit() else None)


_PATTERN = re.compile(r"%(%|[0-9]*[jxAauN])")


def resolve_output_path(
    template: str, *, job_id: str, job_name: str, user: str | None, array_task: str | None = None
) -> str:
    """sbatch's filename pattern for one job: %j id, %x name, %A array master, %a task, %u user, %%.

    `%a` stays when the task is unknown (an array job as a whole); %N (the node) is left as is.
    """
    base, task = array_parts(job_id)
    task = task or array_task

    def sub(m: re.Match[str]) -> str:
        spec = m.group(1)
        if spec == "%":
            return "%"
        width, kind = spec[:-1], spec[-1]
        value = {
            "j": job_id if task is None else None,  # a task's own id is not known here
            "x": job_name,
            "A": base,
            "a": task,
            "u": user,
            "N": None,
        }[kind]
        if value is None:
            return m.group(0)
        return value.zfill(int(width)) if width and value.isdigit() else value

    return _PATTERN.sub(sub, template)


def output_paths(options: JobOptions, *, home: str, job_id: str, script_path: str, user: str | None) -> tuple[str, str]:
    """Where stdout and stderr of a submitted job go: --output/--error, else `slurm-%j.out` (or
    `slurm-%A_%a.out` for an array) in the working directory; stderr defaults to stdout."""
    workdir = options.workdir or home
    job_name = options.job_name or script_path.rsplit("/", 1)[-1]
    default = "slurm-%A_%a.out" if options.array else "slurm-%j.out"
    out = options.output or f"{workdir.rstrip('/')}/{default}"
    err = options.error or out
    return (
        resolve_output_path(out, job_id=job_id, job_name=job_name, user=user),
        resolve_output_path(err, job_id=job_id, job_name=job_name, user=user),
    )
