"""run_slurm: one tool, a dispatcher. validate (core request) → route (policy) → run (shell) → shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .._mcp import (
    CallPerson,
    CallToolResult,
    Consent,
    Context,
    Resolve,
    consent_declined,
    elicit_consent,
    lean,
    tool_errors,
)
from ..core import consent
from ..core import slurm as s
from ..core.policy import check_partitions_in_group, job_route
from ..core.results import MAX_WAIT_S
from ..core.slurm import requests as rq
from ..core.slurm.modules import MODULE_NAME
from ..core.slurm.notify import Notify
from ..core.slurm.patterns import JOB_ID_OR_TASKS, PARTITION, anchored
from ..services import services
from ..shell.watch import OnChange

Partition = Annotated[str, Field(pattern=anchored(PARTITION))]
JobId = Annotated[str, Field(pattern=anchored(JOB_ID_OR_TASKS))]
Module = Annotated[str, Field(pattern=anchored(MODULE_NAME))]


async def _consent_for_scancel(
    command: s.Command, confirm: bool, ctx: Context[Any, Any], job_ids: list[str] | None = None, name: str | None = None
) -> Any:
    if command != "scancel" or not confirm:
        return None
    return elicit_consent(ctx, consent.question("scancel", jobs=rq.scancel_what(job_ids, name)))


@tool_errors
async def run_slurm(
    ctx: Context[Any, Any],
    command: Annotated[
        s.Command,
        Field(
            description="sinfo: partitions, load. squeue: queued/running jobs. sacct: finished jobs (24 h). "
            "seff: CPU/memory use. sbatch: submit (test_only: estimate). scancel: cancel (confirm). "
            "job_output: stdout/stderr tail. wait: until jobs end (≤ wait_s), outcome. modules: software "
            "installed (Lmod). since: jobs ended since last asked, once."
        ),
    ],
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
    options: Annotated[s.JobOptions | None, Field(description="sbatch options.")] = None,
    test_only: Annotated[bool, Field(description="sbatch: estimate only, submit nothing.")] = False,
    notify: Annotated[Notify | None, Field(description="sbatch: mail the bound email when it ends/fails.")] = None,
    module: Annotated[Module | None, Field(description="modules: e.g. gromacs, cuda/12.1.1: how to load.")] = None,
    stream: s.Stream = "stdout",
    max_bytes: Annotated[int, Field(ge=1, le=65536, description="job_output tail size.")] = 8192,
    wait_s: Annotated[
        float, Field(ge=0, le=MAX_WAIT_S, description="wait: seconds to wait before returning the states.")
    ] = rq.DEFAULT_WAIT_S,
    limit: Annotated[int, Field(ge=1, le=1000, description="Max rows returned.")] = 100,
    confirm: Annotated[bool, Field(description="scancel: true only after the person agreed.")] = False,
    approval: Annotated[Consent, Resolve(_consent_for_scancel)] = None,
) -> Annotated[CallToolResult, s.SlurmResult]:
    """Run a Slurm command for the person on the login node of the partition's cluster.

    scancel without confirm=true only shows what it would cancel.
    """
    svc = services(ctx)
    args = rq.Arguments(
        partition=partition,
        job_ids=job_ids,
        states=states,
        name=name,
        start=start,
        end=end,
        script=script,
        options=options,
        test_only=test_only,
        stream=stream,
        max_bytes=max_bytes,
        wait_s=wait_s,
        module=module,
        notify=notify,
    )
    req = rq.request_of(command, args)
    if isinstance(req, rq.SinceRequest):  # every entry node the journal names, unless one is asked for
        only = job_route(svc.platform, partition, node_group).node if partition or node_group else None
        return lean(await svc.since.report(only))
    route = job_route(svc.platform, partition, node_group)
    check_partitions_in_group(svc.platform, route, [partition] if partition else [])
    jobs = svc.jobs
    if isinstance(req, rq.Query):
        model = await jobs.query(route, req, limit)
    elif isinstance(req, rq.SeffRequest):
        model = await jobs.seff(route, req)
    elif isinstance(req, rq.SbatchRequest):
        model = await jobs.submit(route, req)
    elif isinstance(req, rq.ScancelRequest):
        model = await jobs.cancel(route, req, confirm=confirm, declined=consent_declined(approval))
    elif isinstance(req, rq.JobOutputRequest):
        model = await jobs.output(route, req)
    elif isinstance(req, rq.ModulesRequest):
        model = await svc.modules.show(route, req, limit)
    else:
        model = await jobs.wait(route, req, _stepper(CallPerson(ctx)))
    return lean(model)


def _stepper(person: CallPerson) -> OnChange:
    """wait's changes as progress notifications numbered 1, 2, …"""
    step = 0

    async def progress(message: str) -> None:
        nonlocal step
        step += 1
        await person.progress(step, None, message)

    return progress
