"""run_slurm: sinfo, squeue, sacct, seff, sbatch, scancel and job output, on the node the policy picks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._mcp import (
    CallToolResult,
    Consent,
    Context,
    MCPServer,
    Resolve,
    consent_declined,
    destructive,
    elicit_consent,
    lean,
    tool_errors,
)
from ..core import slurm as s
from ..core.errors import HpcError
from ..core.policy import (
    Route,
    check_partitions_in_group,
    job_route,
    needs_confirmation,
    of_other_group,
    refuse_cold_reads,
    time_limit_warnings,
)
from ..core.results import Table, table, table_text
from ..core.slurm.units import duration_seconds
from ..services import Services, services
from ..shell.ssh import RunResult

Command = Literal["sinfo", "squeue", "sacct", "seff", "sbatch", "scancel", "job_output"]
MAX_SCRIPT_BYTES = 256 * 1024
JOB_DIR = ".sjtu-hpc-mcp/jobs"


class JobOptions(BaseModel):
    """sbatch options (the partition is the top-level field)."""

    model_config = ConfigDict(extra="forbid")

    time: str | None = Field(None, description="Wall time: MM, HH:MM:SS or D-HH:MM:SS.")
    nodes: int | None = Field(None, ge=1)
    ntasks: int | None = Field(None, ge=1)
    ntasks_per_node: int | None = Field(None, ge=1)
    cpus_per_task: int | None = Field(None, ge=1)
    mem: str | None = Field(None, description="Memory per node: 4G, 500M, 4096 (MB).")
    gpus: int | None = Field(None, ge=0, description="GPUs per node.")
    job_name: str | None = Field(None, description="Letters, digits, . _ + -")
    output: str | None = Field(None, description="Absolute stdout path in hot storage; %j %x %A %a allowed.")
    error: str | None = Field(None, description="Absolute stderr path in hot storage.")
    array: str | None = Field(None, description="1-10, 1,3,5 or 1-100%10.")
    dependency: str | None = Field(None, description="afterok:123, afterany:123:124, singleton.")
    begin: str | None = Field(None, description="now+1hour or YYYY-MM-DDTHH:MM.")
    workdir: str | None = Field(None, description="Absolute working directory in hot storage.")


class Submission(BaseModel):
    job_id: str | None = None
    script_path: str | None = None
    test_only: bool = False
    estimated_start: str | None = None
    reconciled: bool = False
    warnings: list[str] = []


class JobOutput(BaseModel):
    job_id: str
    stream: Literal["stdout", "stderr"]
    path: str
    text: str
    total_bytes: int | None = None
    truncated: bool


class SlurmResult(BaseModel):
    command: Command
    node: str = Field(description="Entry node the command ran on.")
    host: str = Field(description="The hostname the node reported.")
    summary: str
    table: Table | None = None
    efficiency: s.SeffReport | None = None
    submission: Submission | None = None
    output: JobOutput | None = None
    cancelled: bool | None = None


# -- tables --------------------------------------------------------------------------------


def _states(nodes_by_state: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(nodes_by_state.items()))


def _gpus(p: s.PartitionInfo) -> str | None:
    return ",".join(f"{g.type or 'gpu'}:{g.count}" for g in p.gpus_per_node) or None


SINFO_COLUMNS: list[tuple[str, Any]] = [
    ("partition", lambda p: p.name + ("*" if p.default else "")),
    ("avail", lambda p: p.available),
    ("time_limit", lambda p: p.time_limit),
    ("nodes", lambda p: p.nodes_total),
    ("node_states", lambda p: _states(p.nodes_by_state)),
    ("cpus_alloc/idle/other/total", lambda p: f"{p.cpus_allocated}/{p.cpus_idle}/{p.cpus_other}/{p.cpus_total}"),
    ("mem_mb_per_node", lambda p: p.memory_mb_per_node),
    ("gpus_per_node", _gpus),
]
SQUEUE_COLUMNS: list[tuple[str, Any]] = [
    ("job_id", lambda j: j.job_id),
    ("name", lambda j: j.name),
    ("state", lambda j: j.state),
    ("partition", lambda j: j.partition),
    ("elapsed", lambda j: j.elapsed),
    ("time_limit", lambda j: j.time_limit),
    ("nodes", lambda j: j.nodes),
    ("cpus", lambda j: j.cpus),
    ("reason_or_nodes", lambda j: j.reason if j.reason else j.node_list),
]
SACCT_COLUMNS: list[tuple[str, Any]] = [
    ("job_id", lambda j: j.job_id),
    ("name", lambda j: j.name),
    ("partition", lambda j: j.partition),
    ("state", lambda j: j.state + (f" by {j.cancelled_by}" if j.cancelled_by is not None else "")),
    ("exit", lambda j: None if j.exit_code is None else f"{j.exit_code}:{j.signal or 0}"),
    ("elapsed", lambda j: j.elapsed),
    ("cpus", lambda j: j.alloc_cpus),
    ("req_mem", lambda j: j.req_mem),
    ("start", lambda j: j.start_time),
    ("end", lambda j: j.end_time),
]


def _count_states(rows: list[s.QueuedJob] | list[s.AccountedJob]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return ", ".join(f"{n} {st}" for st, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# -- helpers ---------------------------------------------------------------------------------


def _require(value: Any, what: str, command: str) -> Any:
    if value is None or value == []:
        raise HpcError("E_ARG", f"{command} needs {what}.", f"Give {what}.")
    return value


def _refuse_unused(command: str, given: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(k for k, v in given.items() if v not in (None, [], False) and k not in allowed)
    if extra:
        raise HpcError(
            "E_ARG",
            f"{command} does not take {', '.join(extra)}.",
            f"Leave them out; {command} uses: " + ", ".join(sorted(allowed)) + ".",
        )


def _failed(r: RunResult) -> HpcError:
    errors = s.slurm_errors(r.stderr) or [line for line in r.stderr.strip().splitlines()[-3:] if line]
    reason = "; ".join(errors)[:500] or f"exit status {r.exit_status}"
    return HpcError("E_SLURM", f"{r.argv[0]} on {r.node} failed: {reason}", "Check the arguments and try again.")


async def _run(svc: Services, route: Route, argv: list[str], idempotent: bool = True) -> RunResult:
    r = await svc.ssh.run(route.node, argv, idempotent=idempotent)
    if not r.ok:
        raise _failed(r)
    return r


def _result(model: SlurmResult) -> CallToolResult:
    parts = [f"{model.summary} [node {model.node}]"]
    if model.table is not None:
        parts.append(table_text(model.table))
    if model.efficiency is not None:
        e = model.efficiency
        parts.append(
            f"state {e.state} exit {e.exit_code}; CPU {e.cpu_efficiency_percent}% of {e.core_walltime_seconds} "
            f"core-s; memory {e.memory_utilized_mb} MB = {e.memory_efficiency_percent}% of {e.memory_allocated_mb} MB"
        )
    if model.output is not None:
        parts.append(model.output.text)
    return lean(model, text="\n".join(parts))


def _result_of(command: Command, r: RunResult, **fields: Any) -> SlurmResult:
    return SlurmResult(command=command, node=r.node, host=r.hostname, **fields)


# -- commands --------------------------------------------------------------------------------


async def _sinfo(svc: Services, route: Route, partitions: list[str], limit: int) -> SlurmResult:
    r = await _run(svc, route, s.sinfo_argv(partitions))
    rows = [p for p in s.parse_sinfo(r.stdout) if not of_other_group(svc.platform, route, p.name)]
    t = table(rows, SINFO_COLUMNS, limit)
    return _result_of(
        "sinfo",
        r,
        table=t,
        summary=f"{len(rows)} partitions of node group {route.group}",
    )


async def _squeue(svc: Services, route: Route, a: dict[str, Any], limit: int) -> SlurmResult:
    argv = s.squeue_argv(
        states=a["states"] or (), partitions=a["partitions"], job_ids=a["job_ids"] or (), name=a["name"]
    )
    r = await _run(svc, route, argv)
    rows = [j for j in s.parse_squeue(r.stdout) if not of_other_group(svc.platform, route, j.partition)]
    summary = f"{len(rows)} jobs in the queue" + (f": {_count_states(rows)}" if rows else "")
    return _result_of("squeue", r, summary=summary, table=table(rows, SQUEUE_COLUMNS, limit))


async def _sacct(svc: Services, route: Route, a: dict[str, Any], limit: int) -> SlurmResult:
    argv = s.sacct_argv(start=a["start"], end=a["end"], states=a["states"] or (), job_ids=a["job_ids"] or ())
    r = await _run(svc, route, argv)
    rows = [j for j in s.parse_sacct(r.stdout) if not of_other_group(svc.platform, route, j.partition)]
    if a["partitions"]:
        rows = [j for j in rows if j.partition in a["partitions"] or not j.partition]
    window = "" if a["job_ids"] else f" since {a['start'] or 'the last 24 h'}"
    summary = f"{len(rows)} jobs{window}" + (f": {_count_states(rows)}" if rows else "")
    return _result_of("sacct", r, summary=summary, table=table(rows, SACCT_COLUMNS, limit))


async def _seff(svc: Services, route: Route, job_id: str) -> SlurmResult:
    r = await _run(svc, route, s.seff_argv(job_id))
    report = s.parse_seff(r.stdout)
    if report is None:
        raise HpcError("E_SLURM", f"seff gave no report for job {job_id}.", "Check the job id with sacct.")
    summary = f"job {report.job_id}: {report.state}"
    if not report.efficiency_available:
        summary += " (no efficiency figures yet)"
    return _result_of("seff", r, summary=summary, efficiency=report)


async def _sbatch(
    svc: Services, route: Route, partition: str, script: str, opts: JobOptions | None, test_only: bool
) -> SlurmResult:
    o = opts or JobOptions()
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        raise HpcError("E_ARG", "The script is larger than 256 KiB.", "Put the work in files; keep the script short.")
    refuse_cold_reads(svc.platform, script, o.output, o.error, o.workdir)
    warnings = time_limit_warnings(svc.platform, partition, None if o.time is None else duration_seconds(o.time))
    if not script.startswith("#!"):
        script = "#!/bin/bash\n" + script
        warnings.append("The script had no #! line; #!/bin/bash was added.")
    token = f"mcp-{uuid.uuid4().hex[:16]}"
    options = s.SbatchOptions(partition=partition, comment=token, test_only=test_only, **o.model_dump())
    s.sbatch_argv("/x", options)  # validate every option before anything touches the node
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{token}.sh"
    path = await svc.ssh.put_file(route.node, f"{JOB_DIR}/{name}", script, mode=0o700)
    argv = s.sbatch_argv(path, options)
    try:
        r = await svc.ssh.run(route.node, argv, idempotent=False)
    except HpcError as exc:
        if exc.code != "E_LOST" or test_only:
            raise
        return await _reconcile(svc, route, token, path, warnings)
    if test_only:
        est = s.parse_sbatch_test_only(r.stderr)
        if r.exit_status != 0 or est is None:
            raise _failed(r)
        sub = Submission(script_path=path, test_only=True, estimated_start=est.start_time, warnings=warnings)
        return _result_of(
            "sbatch",
            r,
            submission=sub,
            summary=f"test only: would start at {est.start_time} on {est.nodes}; nothing submitted",
        )
    submitted = s.parse_sbatch(r.stdout) if r.ok else None
    if submitted is None:
        raise _failed(r)
    sub = Submission(job_id=str(submitted.job_id), script_path=path, warnings=warnings)
    return _result_of(
        "sbatch",
        r,
        submission=sub,
        summary=f"submitted job {submitted.job_id} to {partition}",
    )


async def _reconcile(svc: Services, route: Route, token: str, path: str, warnings: list[str]) -> SlurmResult:
    """The reply to sbatch was lost: find the job by its comment instead of submitting twice."""
    r = await _run(svc, route, s.squeue_comments_argv())
    found = s.find_by_comment(s.parse_job_comments(r.stdout), token)
    if not found:
        raise HpcError(
            "E_LOST",
            f"The connection to {route.node} was lost during sbatch, and no job with its mark {token} is queued.",
            "It was not submitted; it is safe to submit again.",
        )
    sub = Submission(job_id=found[0].job_id, script_path=path, reconciled=True, warnings=warnings)
    return _result_of(
        "sbatch",
        r,
        submission=sub,
        summary=f"submitted job {found[0].job_id} (found by its mark after the reply was lost)",
    )


async def _scancel(
    svc: Services, route: Route, job_ids: list[str], name: str | None, confirm: bool, approval: Consent
) -> SlurmResult:
    if not job_ids and name is None:
        raise HpcError("E_ARG", "scancel needs job_ids or name.", "Name the jobs to cancel.")
    s.scancel_argv(job_ids, name=name)  # validate first
    preview_argv = s.squeue_argv(job_ids=[j.split("_[")[0] for j in job_ids], name=name)
    r = await _run(svc, route, preview_argv)
    jobs = [j for j in s.parse_squeue(r.stdout) if not of_other_group(svc.platform, route, j.partition)]
    cols = [c for c in SQUEUE_COLUMNS if c[0] in ("job_id", "name", "state", "partition", "elapsed")]
    preview = table(jobs, cols, svc.settings.max_rows)

    def outcome(summary: str, cancelled: bool = False, host: str = r.hostname) -> SlurmResult:
        return SlurmResult(
            command="scancel", node=route.node, host=host, table=preview, cancelled=cancelled, summary=summary
        )

    if not jobs:
        return outcome("No matching job is in the queue; nothing to cancel.")
    if needs_confirmation("scancel") and not confirm:
        return outcome(
            f"Would cancel {len(jobs)} job(s); nothing done. Ask the person, then call again with confirm=true."
        )
    if consent_declined(approval):
        return outcome("The person declined; nothing was cancelled.")
    done = await svc.ssh.run(route.node, s.scancel_argv(job_ids, name=name), idempotent=False)
    if not done.ok:
        raise _failed(done)
    return outcome(f"Cancelled {len(jobs)} job(s).", cancelled=True, host=done.hostname)


async def _job_output(
    svc: Services, route: Route, job_id: str, stream: Literal["stdout", "stderr"], max_bytes: int
) -> SlurmResult:
    r = await svc.ssh.run(route.node, s.scontrol_job_argv(job_id), idempotent=True)
    details = s.parse_scontrol_jobs(r.stdout) if r.ok else []
    if not details:
        raise HpcError(
            "E_JOB_GONE",
            f"Slurm on {route.node} no longer knows job {job_id} (it forgets finished jobs after a few minutes).",
            "Read the file given by the job's --output (default slurm-<id>.out in the folder it was submitted from).",
        )
    d = details[0]
    path = d.std_out if stream == "stdout" else (d.std_err or d.std_out)
    if not path:
        raise HpcError("E_JOB_OUTPUT", f"Job {job_id} has no {stream} file.", "Check scontrol show job.")
    refuse_cold_reads(svc.platform, path)
    t = await svc.ssh.run(route.node, s.tail_argv(path, max_bytes), idempotent=True)
    if not t.ok:
        raise HpcError(
            "E_JOB_OUTPUT",
            f"Cannot read {path} on {route.node} (it may not exist yet).",
            "Wait until the job starts writing, then try again.",
        )
    tail = s.tail_text(t.stdout, max_bytes, already_cut=True)
    out = JobOutput(
        job_id=job_id,
        stream=stream,
        path=path,
        text=tail.text,
        truncated=tail.truncated or len(t.stdout.encode()) >= max_bytes,
    )
    return _result_of(
        "job_output",
        t,
        output=out,
        summary=f"last {len(tail.text.encode())} bytes of {stream} of job {job_id} ({d.state})",
    )


# -- the tool --------------------------------------------------------------------------------

Partition = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
JobId = Annotated[str, Field(pattern=r"^[0-9]+(_[0-9]+|_\[[0-9,%-]+\])?$")]


async def _consent_for_scancel(
    command: Command, confirm: bool, ctx: Context[Any, Any], job_ids: list[str] | None = None, name: str | None = None
) -> Any:
    if command != "scancel" or not confirm:
        return None
    what = ", ".join(job_ids or []) or f"named {name}"
    return elicit_consent(ctx, f"Cancel Slurm job(s) {what}? Running work is lost.")


def register(mcp: MCPServer[Services]) -> None:
    @mcp.tool(annotations=destructive("Run Slurm"))
    @tool_errors
    async def run_slurm(
        ctx: Context[Any, Any],
        command: Annotated[Command, Field(description="job_output: tail of a job's stdout/stderr.")],
        partition: Annotated[Partition | None, Field(description="Picks the cluster; required for sbatch.")] = None,
        node_group: Annotated[
            Literal["pi", "kp", "sy"] | None,
            Field(description="pi (π 2.0/AI), kp (ARM), sy (思源一号); when no partition is given."),
        ] = None,
        job_ids: Annotated[list[JobId] | None, Field(max_length=1000)] = None,
        states: Annotated[list[str] | None, Field(description="squeue/sacct filter: RUNNING, PD, FAILED…")] = None,
        name: Annotated[str | None, Field(description="Job name filter (squeue, scancel).")] = None,
        start: Annotated[str | None, Field(description="sacct: now-2days or YYYY-MM-DD[THH:MM]; default 24 h.")] = None,
        end: Annotated[str | None, Field(description="sacct end time.")] = None,
        script: Annotated[str | None, Field(description="sbatch: the job script text.")] = None,
        options: Annotated[JobOptions | None, Field(description="sbatch options.")] = None,
        test_only: Annotated[bool, Field(description="sbatch: estimate only, submit nothing.")] = False,
        stream: Literal["stdout", "stderr"] = "stdout",
        max_bytes: Annotated[int, Field(ge=1, le=65536, description="job_output tail size.")] = 8192,
        limit: Annotated[int, Field(ge=1, le=1000, description="Max rows returned.")] = 100,
        confirm: Annotated[bool, Field(description="scancel: true only after the person agreed.")] = False,
        approval: Annotated[Consent, Resolve(_consent_for_scancel)] = None,
    ) -> Annotated[CallToolResult, SlurmResult]:
        """Run a Slurm command for the person on the login node of the partition's cluster.

        scancel without confirm=true only shows what it would cancel.
        """
        svc = services(ctx)
        given = {
            "job_ids": job_ids,
            "states": states,
            "name": name,
            "start": start,
            "end": end,
            "script": script,
            "options": options,
            "test_only": test_only,
        }
        allowed = {
            "sinfo": set(),
            "squeue": {"job_ids", "states", "name"},
            "sacct": {"job_ids", "states", "start", "end"},
            "seff": {"job_ids"},
            "sbatch": {"script", "options", "test_only"},
            "scancel": {"job_ids", "name"},
            "job_output": {"job_ids"},
        }[command]
        _refuse_unused(command, given, allowed)
        if command == "sbatch" and partition is None:
            raise HpcError("E_ARG", "sbatch needs a partition.", "Give partition, e.g. cpu (pi) or a100 (sy).")
        route = job_route(svc.platform, partition, node_group)
        filters = [partition] if partition else []
        check_partitions_in_group(svc.platform, route, filters)
        a = {**given, "partitions": filters}
        if command == "sinfo":
            model = await _sinfo(svc, route, filters, limit)
        elif command == "squeue":
            model = await _squeue(svc, route, a, limit)
        elif command == "sacct":
            model = await _sacct(svc, route, a, limit)
        elif command == "seff":
            model = await _seff(svc, route, _one(_require(job_ids, "one job id", command), command))
        elif command == "sbatch":
            assert partition is not None
            model = await _sbatch(svc, route, partition, _require(script, "script", command), options, test_only)
        elif command == "scancel":
            model = await _scancel(svc, route, job_ids or [], name, confirm, approval)
        else:
            model = await _job_output(
                svc, route, _one(_require(job_ids, "one job id", command), command), stream, max_bytes
            )
        return _result(model)


def _one(ids: list[str], command: str) -> str:
    if len(ids) != 1:
        raise HpcError("E_ARG", f"{command} takes exactly one job id.", "Give one job id.")
    return ids[0]
