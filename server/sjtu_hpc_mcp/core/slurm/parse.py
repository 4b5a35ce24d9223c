"""Parsers for the explicit text formats built in `commands`. Tolerant: blank fields become None,
unknown states are kept as printed, malformed lines are skipped rather than raised on."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from sjtu_hpc_mcp.core.slurm.commands import (
    SACCT_COLUMNS,
    SACCT_SUBMIT_COLUMNS,
    SINFO_COLUMNS,
    SQUEUE_COLUMNS,
    SQUEUE_COMMENT_COLUMNS,
)
from sjtu_hpc_mcp.core.slurm.script import marks_in
from sjtu_hpc_mcp.core.slurm.states import parse_state
from sjtu_hpc_mcp.core.slurm.units import decimal, duration_seconds, leading_int, memory_mb, output_lines

_NONE_WORDS = frozenset({"", "N/A", "Unknown", "None", "(null)", "None assigned"})


def _opt(text: str) -> str | None:
    value = text.strip()
    return None if value in _NONE_WORDS else value


def rows_of(text: str, columns: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Split `a|b|…|last` lines by the column list; the last column absorbs any extra `|`."""
    names = [name for name, _ in columns]
    rows = []
    for line in output_lines(text):
        if not line.strip():
            continue
        fields = line.split("|", len(names) - 1)
        if len(fields) < len(names):
            continue  # not one of our lines (a warning, a truncated line)
        rows.append(dict(zip(names, fields, strict=True)))
    return rows


# --- sinfo -------------------------------------------------------------------------------------


class GpuCount(BaseModel):
    type: str | None
    count: int


class PartitionInfo(BaseModel):
    name: str
    default: bool
    available: str
    time_limit: str
    time_limit_seconds: int | None  # None: infinite
    nodes_total: int
    nodes_by_state: dict[str, int]
    cpus_allocated: int
    cpus_idle: int
    cpus_other: int
    cpus_total: int
    memory_mb_per_node: int | None  # the largest node's
    gpus_per_node: list[GpuCount]  # distinct per-node GPU sets
    gpus_total: int


_GPU = re.compile(r"(?:^|,)gpu(?::([^:(),]+))?:([0-9]+)")
_NODE_STATE_FLAGS = "*~#!%$@^-+"


def parse_gres_gpus(gres: str) -> list[GpuCount]:
    """`gpu:a100:4(S:0)` → [a100×4]; `gpu:2,mps:100` → [None×2]; `(null)` → []."""
    return [GpuCount(type=t or None, count=int(n)) for t, n in _GPU.findall(gres.strip())]


def _node_state(raw: str) -> str:
    # `idle~` (powered off), `down*` (not responding), `mixed-` (planned) count as their base state.
    return raw.strip().rstrip(_NODE_STATE_FLAGS).lower() or "unknown"


def _cpus(text: str) -> tuple[int, int, int, int]:
    parts = [decimal(p) for p in text.strip().split("/")]
    if len(parts) == 4:
        a, i, o, t = parts
        if a is not None and i is not None and o is not None and t is not None:
            return a, i, o, t
    return 0, 0, 0, 0


def parse_sinfo(text: str) -> list[PartitionInfo]:
    """One entry per partition (sinfo prints a line per partition and node state), in order."""
    merged: dict[str, PartitionInfo] = {}
    for row in rows_of(text, SINFO_COLUMNS):
        raw_name = row["partition"].strip()
        name = raw_name.rstrip("*")
        if not name:
            continue
        nodes = decimal(row["nodes"]) or 0
        alloc, idle, other, total = _cpus(row["cpus"])
        mem = leading_int(row["memory_mb"])
        gpus = parse_gres_gpus(row["gres"])
        state = _node_state(row["state"])
        part = merged.get(name)
        if part is None:
            limit = row["time_limit"].strip()
            part = merged[name] = PartitionInfo(
                name=name,
                default=raw_name.endswith("*"),
                available=row["available"].strip(),
                time_limit=limit,
                time_limit_seconds=duration_seconds(limit),
                nodes_total=0,
                nodes_by_state={},
                cpus_allocated=0,
                cpus_idle=0,
                cpus_other=0,
                cpus_total=0,
                memory_mb_per_node=None,
                gpus_per_node=[],
                gpus_total=0,
            )
        part.nodes_total += nodes
        part.nodes_by_state[state] = part.nodes_by_state.get(state, 0) + nodes
        part.cpus_allocated += alloc
        part.cpus_idle += idle
        part.cpus_other += other
        part.cpus_total += total
        if mem is not None and (part.memory_mb_per_node is None or mem > part.memory_mb_per_node):
            part.memory_mb_per_node = mem
        for gpu in gpus:
            if gpu not in part.gpus_per_node:
                part.gpus_per_node.append(gpu)
            part.gpus_total += gpu.count * nodes
    return list(merged.values())


# --- squeue ------------------------------------------------------------------------------------


class QueuedJob(BaseModel):
    job_id: str  # `123`, array task `123_4`, pending array `123_[5-9%2]`
    partition: str | None
    user: str | None
    account: str | None
    state: str
    terminal: bool | None  # None: a state unknown to this table
    elapsed: str
    elapsed_seconds: int | None
    time_limit: str
    time_limit_seconds: int | None
    nodes: int | None
    cpus: int | None
    submit_time: str | None
    start_time: str | None  # for a pending job: the scheduler's estimate, if any
    reason: str | None  # why a pending job waits: Resources, Priority, Dependency, ...
    node_list: str | None
    name: str


def _reason_or_nodes(text: str) -> tuple[str | None, str | None]:
    value = text.strip()
    if value.startswith("(") and value.endswith(")"):
        reason = value[1:-1].strip()
        return (None if reason in ("", "None", "null") else reason), None
    return None, _opt(value)


def parse_squeue(text: str) -> list[QueuedJob]:
    jobs = []
    for row in rows_of(text, SQUEUE_COLUMNS):
        state = parse_state(row["state"])
        reason, nodes = _reason_or_nodes(row["reason_or_nodelist"])
        jobs.append(
            QueuedJob(
                job_id=row["job_id"].strip(),
                partition=_opt(row["partition"]),
                user=_opt(row["user"]),
                account=_opt(row["account"]),
                state=state.state,
                terminal=state.terminal,
                elapsed=row["elapsed"].strip(),
                elapsed_seconds=duration_seconds(row["elapsed"]),
                time_limit=row["time_limit"].strip(),
                time_limit_seconds=duration_seconds(row["time_limit"]),
                nodes=decimal(row["nodes"]),
                cpus=decimal(row["cpus"]),
                submit_time=_opt(row["submit_time"]),
                start_time=_opt(row["start_time"]),
                reason=reason,
                node_list=nodes,
                name=row["name"],
            )
        )
    return jobs


# --- sacct -------------------------------------------------------------------------------------


class AccountedJob(BaseModel):
    job_id: str
    partition: str | None  # may be blank for a moment right after a job ends
    account: str | None
    user: str | None
    state: str
    terminal: bool | None
    cancelled_by: int | None  # uid, from `CANCELLED by 1001`
    exit_code: int | None  # from `7:0`
    signal: int | None  # from `0:9`, `0:125` (OUT_OF_MEMORY)
    elapsed: str
    elapsed_seconds: int | None
    time_limit: str
    time_limit_seconds: int | None
    alloc_cpus: int | None
    req_mem: str | None
    req_mem_mb: float | None
    submit_time: str | None
    start_time: str | None
    end_time: str | None
    node_list: str | None
    name: str


def parse_exit_code(text: str) -> tuple[int | None, int | None]:
    """`7:0` → (7, 0); `0:125` → (0, 125); blank or odd → (None, None)."""
    match = re.match(r"^\s*(\d+):(\d+)\s*$", text)
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def parse_sacct(text: str) -> list[AccountedJob]:
    jobs = []
    for row in rows_of(text, SACCT_COLUMNS):
        state = parse_state(row["state"])
        exit_code, signal = parse_exit_code(row["exit_code"])
        req_mem = _opt(row["req_mem"])
        jobs.append(
            AccountedJob(
                job_id=row["job_id"].strip(),
                partition=_opt(row["partition"]),
                account=_opt(row["account"]),
                user=_opt(row["user"]),
                state=state.state,
                terminal=state.terminal,
                cancelled_by=state.cancelled_by,
                exit_code=exit_code,
                signal=signal,
                elapsed=row["elapsed"].strip(),
                elapsed_seconds=duration_seconds(row["elapsed"]),
                time_limit=row["time_limit"].strip(),
                time_limit_seconds=duration_seconds(row["time_limit"]),
                alloc_cpus=decimal(row["alloc_cpus"]),
                req_mem=req_mem,
                req_mem_mb=None if req_mem is None else memory_mb(req_mem),
                submit_time=_opt(row["submit_time"]),
                start_time=_opt(row["start_time"]),
                end_time=_opt(row["end_time"]),
                node_list=_opt(row["node_list"]),
                name=row["name"],
            )
        )
    return jobs


# --- job comments (reconciliation) --------------------------------------------------------------


class JobComment(BaseModel):
    job_id: str
    state: str
    terminal: bool | None
    comment: str | None


def parse_job_comments(text: str) -> list[JobComment]:
    """Output of squeue_comments_argv or sacct_comments_argv (same three columns)."""
    out = []
    for row in rows_of(text, SQUEUE_COMMENT_COLUMNS):
        state = parse_state(row["state"])
        out.append(
            JobComment(
                job_id=row["job_id"].strip(),
                state=state.state,
                terminal=state.terminal,
                comment=_opt(row["comment"]),
            )
        )
    return out


def find_by_comment(rows: Sequence[JobComment], token: str) -> list[JobComment]:
    """The jobs carrying exactly this token (a submission retried after a lost connection)."""
    return [row for row in rows if row.comment == token]


class SubmitLine(BaseModel):
    job_id: str
    state: str
    marks: list[str]  # `mcp-…` marks in the command line (script path, --comment)


def parse_submit_lines(text: str) -> list[SubmitLine]:
    """Output of sacct_submit_lines_argv."""
    return [
        SubmitLine(
            job_id=row["job_id"].strip(),
            state=parse_state(row["state"]).state,
            marks=marks_in(row["submit_line"]),
        )
        for row in rows_of(text, SACCT_SUBMIT_COLUMNS)
    ]


# --- sbatch ------------------------------------------------------------------------------------


class Submitted(BaseModel):
    job_id: int
    cluster: str | None


_PARSABLE = re.compile(r"^(\d+)(?:;(\S+))?$")
# What sbatch prints without --parsable; some site wrappers print it even with --parsable.
_SUBMITTED = re.compile(r"^Submitted batch job (\d+)(?: on cluster (\S+))?$")


def parse_sbatch(stdout: str) -> Submitted | None:
    """`12345` or `12345;cluster` from `sbatch --parsable`, or `Submitted batch job 12345 [on cluster
    C]` (a site wrapper's wording); None if no such line (not submitted)."""
    for line in reversed(output_lines(stdout)):
        text = line.strip()
        match = _PARSABLE.match(text) or _SUBMITTED.match(text)
        if match:
            return Submitted(job_id=int(match.group(1)), cluster=match.group(2))
    return None


class SbatchTestOnly(BaseModel):
    job_id: int
    start_time: str
    processors: int
    nodes: str | None  # Slurm 17.11 and older print the nodes without the word "nodes"
    partition: str | None  # not printed by 17.11 and older
    cluster: str | None = None  # multi-cluster sites (25.05 on)


# `Job 123 to start at T using 4 processors on nodes n[1-2] in partition cpu` (18.08-24.11);
# 25.05 prints a stray ` a` after the time and, on multi-cluster sites, ` on cluster C`;
# 17.11 and older: `... using 4 processors on n[1-2]`.
_TEST_ONLY = re.compile(
    r"Job (\d+) to start at (\S+)(?: a)? using (\d+) processors"
    r"(?: on (?:nodes )?(\S+))?(?: in partition (\S+))?(?: on cluster (\S+))?",
    re.ASCII,
)


def parse_sbatch_test_only(stderr: str) -> SbatchTestOnly | None:
    """`sbatch: Job 123 to start at 2026-11-26T06:50:00 using 1 processors on nodes n1 in
    partition cpu` (printed on stderr) in the wording of any Slurm since 17.11; None when sbatch
    refused the job."""
    match = _TEST_ONLY.search(stderr)
    if not match:
        return None
    job, start, procs, nodes, part, cluster = match.groups()
    return SbatchTestOnly(
        job_id=int(job), start_time=start, processors=int(procs), nodes=nodes, partition=part, cluster=cluster
    )


_ERROR = re.compile(r"(?:[\w.-]+:? )?error: (.*)", re.ASCII)
# A job_submit plugin or a QOS refusal: `sbatch: error: ... allocation failure: <reason>` or bare.
_ALLOCATION_FAILURE = re.compile(r"(?:^|.*?\s)allocation failure: (.*)", re.ASCII | re.IGNORECASE)


def slurm_errors(stderr: str) -> list[str]:
    """The reasons Slurm gave: `sbatch: error: …`, `slurm_load_jobs error: …` without the prefix,
    and `allocation failure: <reason>` lines (the policy's reason); the latter come first."""
    failures: list[str] = []
    out: list[str] = []
    for line in output_lines(stderr):
        text = line.strip()
        failure = _ALLOCATION_FAILURE.fullmatch(text)
        if failure and failure.group(1).strip():
            failures.append(failure.group(1).strip())
            continue
        match = _ERROR.fullmatch(text)
        if match and match.group(1).strip():
            out.append(match.group(1).strip())
    return failures + out
