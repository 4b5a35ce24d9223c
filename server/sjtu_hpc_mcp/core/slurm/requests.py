"""Each run_slurm command as a request: the arguments it takes, its argv, its parser, its summary.

`request_of` checks the tool's arguments against the command and returns the typed request; the
tool then only routes, runs and shapes. The table layouts of the results live here too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.results import MAX_WAIT_S, Cell, Table, table
from sjtu_hpc_mcp.core.slurm import commands as c
from sjtu_hpc_mcp.core.slurm import modules as m
from sjtu_hpc_mcp.core.slurm import validate as v
from sjtu_hpc_mcp.core.slurm.parse import (
    AccountedJob,
    PartitionInfo,
    QueuedJob,
    parse_sacct,
    parse_sinfo,
    parse_squeue,
    slurm_errors,
)
from sjtu_hpc_mcp.core.slurm.results import Command, Stream
from sjtu_hpc_mcp.core.slurm.script import base_job_id
from sjtu_hpc_mcp.core.slurm.seff import SeffReport, parse_seff

DEFAULT_WAIT_S = 45.0

# The tool arguments each command uses (beyond command, partition, node_group, limit, confirm).
TAKES: dict[Command, frozenset[str]] = {
    "sinfo": frozenset(),
    "squeue": frozenset({"job_ids", "states", "name"}),
    "sacct": frozenset({"job_ids", "states", "start", "end"}),
    "seff": frozenset({"job_ids"}),
    "sbatch": frozenset({"script", "options", "test_only", "notify"}),
    "scancel": frozenset({"job_ids", "name"}),
    "job_output": frozenset({"job_ids", "stream", "max_bytes"}),
    "wait": frozenset({"job_ids", "wait_s"}),
    "modules": frozenset({"module"}),
    "since": frozenset(),
}
# Arguments with a default: given only when they differ from it.
DEFAULTS: dict[str, Any] = {"test_only": False, "stream": "stdout", "max_bytes": 8192, "wait_s": DEFAULT_WAIT_S}

Row = TypeVar("Row")
Columns = Sequence[tuple[str, Callable[[Any], Cell]]]


def _states(nodes_by_state: dict[str, int]) -> str:
    return " ".join(f"{k}:{n}" for k, n in sorted(nodes_by_state.items()))


def _gpus(p: PartitionInfo) -> str | None:
    return ",".join(f"{g.type or 'gpu'}:{g.count}" for g in p.gpus_per_node) or None


SINFO_TABLE: Columns = [
    ("partition", lambda p: p.name + ("*" if p.default else "")),
    ("avail", lambda p: p.available),
    ("time_limit", lambda p: p.time_limit),
    ("nodes", lambda p: p.nodes_total),
    ("node_states", lambda p: _states(p.nodes_by_state)),
    ("cpus_alloc/idle/other/total", lambda p: f"{p.cpus_allocated}/{p.cpus_idle}/{p.cpus_other}/{p.cpus_total}"),
    ("mem_mb_per_node", lambda p: p.memory_mb_per_node),
    ("gpus_per_node", _gpus),
]
SQUEUE_TABLE: Columns = [
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
SACCT_TABLE: Columns = [
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
SCANCEL_PREVIEW: Columns = [
    col for col in SQUEUE_TABLE if col[0] in ("job_id", "name", "state", "partition", "elapsed")
]
MARK_COLUMN = "via_mcp"  # the job was submitted through this server (the journal knows it)


def count_states(rows: Sequence[QueuedJob] | Sequence[AccountedJob]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return ", ".join(f"{n} {st}" for st, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def marked_table(rows: Sequence[Row], columns: Columns, limit: int, ours: Collection[str] | None) -> Table:
    """The table, with a last column saying which jobs this server submitted (when it knows)."""
    if ours is None:
        return table(rows, columns, limit)
    mark: tuple[str, Callable[[Any], Cell]] = (MARK_COLUMN, lambda j: base_job_id(j.job_id) in ours)
    return table(rows, [*columns, mark], limit)


# -- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query(Generic[Row]):
    """A read-only command whose output is a list of rows."""

    command: Command
    argv: list[str]
    partitions: list[str]

    def parse(self, stdout: str) -> list[Row]:
        raise NotImplementedError

    @staticmethod
    def partition_of(row: Row) -> str | None:
        return getattr(row, "partition", None)

    def keep(self, row: Row) -> bool:
        return True

    def means_none(self, stderr: str) -> bool:
        """A refusal that only means "no such rows" (not a failure)."""
        return False

    def summary(self, rows: Sequence[Row], group: str) -> str:
        raise NotImplementedError

    def table(self, rows: Sequence[Row], limit: int, ours: Collection[str] | None = None) -> Table:
        raise NotImplementedError


@dataclass(frozen=True)
class SinfoRequest(Query[PartitionInfo]):
    def parse(self, stdout: str) -> list[PartitionInfo]:
        return parse_sinfo(stdout)

    @staticmethod
    def partition_of(row: PartitionInfo) -> str | None:
        return row.name

    def summary(self, rows: Sequence[PartitionInfo], group: str) -> str:
        return f"{len(rows)} partitions of node group {group}"

    def table(self, rows: Sequence[PartitionInfo], limit: int, ours: Collection[str] | None = None) -> Table:
        return table(rows, SINFO_TABLE, limit)


@dataclass(frozen=True)
class SqueueRequest(Query[QueuedJob]):
    def parse(self, stdout: str) -> list[QueuedJob]:
        return parse_squeue(stdout)

    def means_none(self, stderr: str) -> bool:
        # squeue --jobs exits 1 when a job has left the queue (after MinJobAge): an empty queue
        return "Invalid job id specified" in stderr

    def summary(self, rows: Sequence[QueuedJob], group: str) -> str:
        return f"{len(rows)} jobs in the queue" + (f": {count_states(rows)}" if rows else "")

    def table(self, rows: Sequence[QueuedJob], limit: int, ours: Collection[str] | None = None) -> Table:
        return marked_table(rows, SQUEUE_TABLE, limit, ours)


@dataclass(frozen=True)
class SacctRequest(Query[AccountedJob]):
    window: str = ""

    def parse(self, stdout: str) -> list[AccountedJob]:
        return parse_sacct(stdout)

    def keep(self, row: AccountedJob) -> bool:
        # sacct has no partition filter here; a blank partition (just ended) is kept.
        return not self.partitions or not row.partition or row.partition in self.partitions

    def summary(self, rows: Sequence[AccountedJob], group: str) -> str:
        return f"{len(rows)} jobs{self.window}" + (f": {count_states(rows)}" if rows else "")

    def table(self, rows: Sequence[AccountedJob], limit: int, ours: Collection[str] | None = None) -> Table:
        return marked_table(rows, SACCT_TABLE, limit, ours)


@dataclass(frozen=True)
class SeffRequest:
    job_id: str
    command: Command = "seff"

    @property
    def argv(self) -> list[str]:
        return c.seff_argv(self.job_id)

    def parse(self, stdout: str) -> SeffReport:
        report = parse_seff(stdout)
        if report is None:
            raise HpcError("E_SLURM", f"seff gave no report for job {self.job_id}.", "Check the job id with sacct.")
        return report

    @staticmethod
    def summary(report: SeffReport) -> str:
        text = f"job {report.job_id}: {report.state}"
        return text + ("" if report.efficiency_available else " (no efficiency figures yet)")


@dataclass(frozen=True)
class SbatchRequest:
    partition: str
    script: str
    options: c.JobOptions
    test_only: bool
    notify: str | None = None  # end, fail or both: mail to the bound email (core.slurm.notify)
    command: Command = "sbatch"

    def sbatch_options(self, mark: str, mail: Mapping[str, str] | None = None) -> c.SbatchOptions:
        """mail: notify.mail_options(notify, the bound email), when notify is given."""
        fields = {"partition": self.partition, "comment": mark, "test_only": self.test_only}
        return c.SbatchOptions.model_validate(self.options.model_dump() | fields | dict(mail or {}))

    def argv(self, script_path: str, mark: str, mail: Mapping[str, str] | None = None) -> list[str]:
        return c.sbatch_argv(script_path, self.sbatch_options(mark, mail))


@dataclass(frozen=True)
class ScancelRequest:
    job_ids: list[str]
    name: str | None
    command: Command = "scancel"

    @property
    def argv(self) -> list[str]:
        return c.scancel_argv(self.job_ids, name=self.name)

    @property
    def preview_argv(self) -> list[str]:
        """The queue entries the cancel would hit (squeue takes `123`, not `123_[1-3]`)."""
        ids = list(dict.fromkeys(base_job_id(j) if "[" in j else j for j in self.job_ids))
        return c.squeue_argv(job_ids=ids, name=self.name)

    def what(self) -> str:
        return scancel_what(self.job_ids, self.name)


def scancel_what(job_ids: Sequence[str] | None, name: str | None) -> str:
    return ", ".join(job_ids or []) or f"named {name}"


@dataclass(frozen=True)
class JobOutputRequest:
    job_id: str
    stream: Stream
    max_bytes: int
    command: Command = "job_output"

    def tail_argv(self, path: str) -> list[str]:
        return c.tail_argv(path, self.max_bytes)


@dataclass(frozen=True)
class WaitRequest:
    job_ids: list[str]
    wait_s: float
    command: Command = "wait"


MODULES_TABLE: Columns = [("module", lambda e: e.full), ("default", lambda e: e.default)]


@dataclass(frozen=True)
class ModulesRequest:
    """Without module: what `module avail` lists on the group's login node; with it, `module spider`."""

    module: str | None
    command: Command = "modules"

    @property
    def argv(self) -> list[str]:
        return m.avail_argv() if self.module is None else m.spider_argv(self.module)


@dataclass(frozen=True)
class SinceRequest:
    command: Command = "since"


Request = (
    Query[Any] | SeffRequest | SbatchRequest | ScancelRequest | JobOutputRequest | WaitRequest | ModulesRequest
    | SinceRequest
)  # fmt: skip


# -- from the tool's arguments -----------------------------------------------------------------


@dataclass
class Arguments:
    """The tool's arguments, as given (None / defaults where not)."""

    partition: str | None = None
    job_ids: list[str] | None = None
    states: list[str] | None = None
    name: str | None = None
    start: str | None = None
    end: str | None = None
    script: str | None = None
    options: c.JobOptions | None = None
    test_only: bool = False
    stream: Stream = "stdout"
    max_bytes: int = 8192
    wait_s: float = DEFAULT_WAIT_S
    module: str | None = None
    notify: str | None = None

    def given(self) -> list[str]:
        """The command-specific arguments that were given (partition routes every command)."""
        return [n for n in _COMMAND_ARGS if _is_given(n, getattr(self, n))]


_COMMAND_ARGS = ("job_ids", "states", "name", "start", "end", "script", "options", "test_only", "stream",
                 "max_bytes", "wait_s", "module", "notify")  # fmt: skip


def _is_given(name: str, value: Any) -> bool:
    if name in DEFAULTS:
        return bool(value != DEFAULTS[name])
    return value not in (None, [], False)


def refuse_unused(command: Command, args: Arguments) -> None:
    allowed = TAKES[command]
    extra = sorted(n for n in args.given() if n not in allowed)
    if extra:
        uses = ", ".join(sorted(allowed)) or "no other arguments"
        raise HpcError(
            "E_ARG", f"{command} does not take {', '.join(extra)}.", f"Leave them out; {command} uses: {uses}."
        )


def _require(value: Any, what: str, command: str) -> Any:
    if value is None or value == []:
        raise HpcError("E_ARG", f"{command} needs {what}.", f"Give {what}.")
    return value


def _one(ids: list[str] | None, command: str) -> str:
    ids = _require(ids, "one job id", command)
    assert ids is not None
    if len(ids) != 1:
        raise HpcError("E_ARG", f"{command} takes exactly one job id.", "Give one job id.")
    return v.job_id(ids[0])


def request_of(command: Command, args: Arguments) -> Request:
    """The typed request for a command, every value checked before anything runs."""
    refuse_unused(command, args)
    parts = [args.partition] if args.partition else []
    if command == "sinfo":
        return SinfoRequest("sinfo", c.sinfo_argv(parts), parts)
    if command == "squeue":
        argv = c.squeue_argv(states=args.states or (), partitions=parts, job_ids=args.job_ids or (), name=args.name)
        return SqueueRequest("squeue", argv, parts)
    if command == "sacct":
        argv = c.sacct_argv(start=args.start, end=args.end, states=args.states or (), job_ids=args.job_ids or ())
        window = "" if args.job_ids else f" since {args.start or 'the last 24 h'}"
        return SacctRequest("sacct", argv, parts, window)
    if command == "seff":
        return SeffRequest(_one(args.job_ids, command))
    if command == "sbatch":
        if args.partition is None:
            raise HpcError("E_ARG", "sbatch needs a partition.", "Give partition, e.g. cpu (pi) or a100 (sy).")
        req = SbatchRequest(
            args.partition,
            _require(args.script, "script", command),
            args.options or c.JobOptions(),
            args.test_only,
            args.notify,
        )
        req.argv("/x", "mcp-0000000000000000")  # every option checked before anything touches the node
        return req
    if command == "scancel":
        if not args.job_ids and args.name is None:
            raise HpcError("E_ARG", "scancel needs job_ids or name.", "Name the jobs to cancel.")
        req_c = ScancelRequest(list(args.job_ids or []), args.name)
        req_c.argv  # noqa: B018 - validates
        return req_c
    if command == "job_output":
        return JobOutputRequest(_one(args.job_ids, command), args.stream, args.max_bytes)
    if command == "modules":
        return ModulesRequest(None if args.module is None else m.module_name(args.module))
    if command == "since":
        return SinceRequest()
    ids = v.job_ids(_require(args.job_ids, "job ids", command))
    if not 0 <= args.wait_s <= MAX_WAIT_S:
        raise HpcError("E_ARG", f"wait_s must be between 0 and {MAX_WAIT_S:g}.", "Call wait again to keep waiting.")
    return WaitRequest(ids, float(args.wait_s))


def command_failed(name: str, node: str, exit_status: int, stderr: str) -> HpcError:
    """A Slurm command that ran and refused: its own reasons (allocation failures first)."""
    errors = slurm_errors(stderr) or [line for line in stderr.strip().splitlines()[-3:] if line]
    reason = "; ".join(errors)[:500] or f"exit status {exit_status}"
    return HpcError("E_SLURM", f"{name} on {node} failed: {reason}", "Check the arguments and try again.")
