"""The MCP tasks extension (`io.modelcontextprotocol/tasks`, protocol 2026-07-28, SEP-2663) as pure rules.

Which tool calls become a task, the task id that names the work (so that any server process, before or
after a restart, can answer for it from the job or transfer itself), which tool call reports the work's
state now, how that state reads as a task status, and how cancelling a task asks the person first.

No I/O and nothing from shell/ or tools/: the SDK-facing part is `_tasks.py`.

Ids:
- `slurm:<node_group>:<jobid>[,<jobid>…]` follows run_slurm wait for those jobs on that group's login node;
- `transfer:<transfer id>[:verify]` follows transfer_data status (with the checksum comparison at the end);
- `approval:certificate`, `approval:update_user` follow the two-factor approval of those tools.

Status: `working` while the work runs (or the person has not approved yet), `completed` with the tool's own
result once it has ended however it ended (a FAILED job or a failed transfer is a tool result, not a protocol
error), `cancelled` only after the work was stopped through this task's tasks/cancel with the person's consent,
`input_required` while that consent question is open. `failed` is never derived from the work: it is left to
protocol errors, as the extension asks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import HpcError
from .platform import Platform
from .policy import job_route
from .slurm.patterns import JOB_ID, anchored

EXTENSION = "io.modelcontextprotocol/tasks"
CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"

Status = Literal["working", "input_required", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("working", "input_required", "completed", "failed", "cancelled")
TERMINAL: frozenset[Status] = frozenset({"completed", "failed", "cancelled"})
ApprovalKind = Literal["certificate", "update_user"]
APPROVAL_TOOLS: dict[str, ApprovalKind] = {"request_certificate": "certificate", "update_user": "update_user"}
WAITING_FOR_APPROVAL = "waiting_for_approval"
CERTIFICATE_ARGUMENTS = ("valid_time", "force", "export_to", "confirm")

# How long a task id is answerable and how often to ask. A job's or transfer's task lives as long as Slurm's
# accounting or the data node's state (a week is a promise both keep); an approval's lives in this process.
WORK_TTL_MS = 7 * 24 * 3600 * 1000
APPROVAL_TTL_MS = 3600 * 1000
POLL_MS = {"slurm": 5000, "transfer": 2000, "approval": 2000}

# The error codes of a follow call that mean the work is not known at all (not that it cannot be seen now).
GONE_CODES = frozenset({"E_UNKNOWN_TRANSFER", "E_ARG", "E_GROUP", "E_JOBID"})
CONSENT_FIELD = "approve"
UNKNOWN_GRACE_S = 600.0

_JOB = re.compile(anchored(JOB_ID))
_GROUP = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_TRANSFER = re.compile(r"^(?:data|sydata|local)-[0-9a-f]{12}$")
_CODE = re.compile(r"^(E_[A-Z0-9_]+): ")
MAX_JOBS = 1000


@dataclass(frozen=True)
class SlurmTask:
    node_group: str
    job_ids: tuple[str, ...]
    kind: Literal["slurm"] = "slurm"


@dataclass(frozen=True)
class TransferTask:
    transfer_id: str
    verify: bool = False
    kind: Literal["transfer"] = "transfer"


@dataclass(frozen=True)
class ApprovalTask:
    approval: ApprovalKind
    kind: Literal["approval"] = "approval"


TaskRef = SlurmTask | TransferTask | ApprovalTask


# -- ids ---------------------------------------------------------------------------------------------------------


def task_id(ref: TaskRef) -> str:
    if isinstance(ref, SlurmTask):
        return f"slurm:{ref.node_group}:{','.join(ref.job_ids)}"
    if isinstance(ref, TransferTask):
        return f"transfer:{ref.transfer_id}" + (":verify" if ref.verify else "")
    return f"approval:{ref.approval}"


def parse_task_id(text: object) -> TaskRef | None:
    """The work a task id names, or None when it names none (the caller answers "task not found")."""
    if not isinstance(text, str) or len(text) > 16 * MAX_JOBS:
        return None
    kind, _, rest = text.partition(":")
    if kind == "slurm":
        group, _, ids = rest.partition(":")
        jobs = tuple(ids.split(","))
        if not _GROUP.match(group) or not 0 < len(jobs) <= MAX_JOBS or len(set(jobs)) != len(jobs):
            return None
        if not all(_JOB.match(j) for j in jobs):
            return None
        return SlurmTask(group, jobs)
    if kind == "transfer":
        tid, *options = rest.split(":")
        if not _TRANSFER.match(tid) or options not in ([], ["verify"]):
            return None
        return TransferTask(tid, options == ["verify"])
    if kind == "approval" and rest in ("certificate", "update_user"):
        return ApprovalTask(rest)  # type: ignore[arg-type]
    return None


# -- which calls become tasks ------------------------------------------------------------------------------------


def declared(client_capabilities: Mapping[str, Any] | None) -> bool:
    """The request's own client capabilities name the extension (never inferred from earlier requests)."""
    extensions = (client_capabilities or {}).get("extensions")
    return isinstance(extensions, Mapping) and EXTENSION in extensions


def followed_call(tool: str, arguments: Mapping[str, Any], platform: Platform) -> TaskRef | None:
    """The task a long-waiting call could become: run_slurm wait, transfer_data status with wait_s > 0.

    None for every other call and for arguments the tool itself would refuse (it then says why).
    """
    if tool == "run_slurm" and arguments.get("command") == "wait":
        ids = arguments.get("job_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(j, str) and _JOB.match(j) for j in ids):
            return None
        partition, group = arguments.get("partition"), arguments.get("node_group")
        if not isinstance(partition, str | None) or not isinstance(group, str | None):
            return None
        try:
            route = job_route(platform, partition, group)
        except HpcError:
            return None
        return SlurmTask(route.group, tuple(dict.fromkeys(ids)))
    if tool == "transfer_data" and arguments.get("action") == "status":
        tid, wait_s = arguments.get("transfer_id"), arguments.get("wait_s", 0)
        if not isinstance(tid, str) or not _TRANSFER.match(tid) or not isinstance(wait_s, int | float) or wait_s <= 0:
            return None
        return TransferTask(tid, arguments.get("verify") is True)
    return None


def approval_task(tool: str, structured: Mapping[str, Any] | None) -> ApprovalTask | None:
    """The task a two-factor call becomes when it returned still waiting for the person's approval."""
    kind = APPROVAL_TOOLS.get(tool)
    if kind is None or structured is None or structured.get("status") != WAITING_FOR_APPROVAL:
        return None
    return ApprovalTask(kind)


def follow_call(ref: TaskRef, original: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The tool call that reports the work's state now, without waiting; its result is the task's result.

    An approval is picked up by calling its tool again: request_certificate with the arguments it was first
    called with (export_to writes the copy then), update_user with none (a pending change ignores them, and
    without confirm nothing is asked again).
    """
    if isinstance(ref, SlurmTask):
        return "run_slurm", {"command": "wait", "node_group": ref.node_group, "job_ids": list(ref.job_ids), "wait_s": 0}
    if isinstance(ref, TransferTask):
        return "transfer_data", {"action": "status", "transfer_id": ref.transfer_id, "verify": ref.verify, "wait_s": 0}
    if ref.approval == "certificate":
        return "request_certificate", kept_arguments(ref, original or {})
    return "update_user", {}


def kept_arguments(ref: TaskRef, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """What a record keeps of the first call's arguments: request_certificate's, which hold no secret."""
    if isinstance(ref, ApprovalTask) and ref.approval == "certificate":
        return {k: v for k, v in arguments.items() if k in CERTIFICATE_ARGUMENTS}
    return {}


def ttl_ms(ref: TaskRef) -> int:
    return APPROVAL_TTL_MS if isinstance(ref, ApprovalTask) else WORK_TTL_MS


def poll_ms(ref: TaskRef) -> int:
    return POLL_MS[ref.kind]


# -- the state of the work as a task status ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What one follow call says: the status, a line for the person, and whether the work is known at all."""

    status: Status
    message: str
    known: bool = True


def error_code(text: str) -> str | None:
    found = _CODE.match(text)
    return found.group(1) if found else None


def read_result(
    ref: TaskRef, structured: Mapping[str, Any] | None, is_error: bool, text: str, age_s: float = 0.0
) -> Reading:
    """The follow call's result as a task status; `age_s` is how long ago the task was handed out.

    A failed check (the node unreachable, the certificate expired) is not the end of the work: the task stays
    working and says why it could not look; only an unknown transfer or job group means nothing to follow.
    Accounting lists a new job a few seconds late, so jobs it does not know stay working for UNKNOWN_GRACE_S;
    after that the task completes with the tool's result (none of them is this person's job, or the ids are wrong).
    """
    if is_error:
        if error_code(text) in GONE_CODES:
            return Reading("working", text, known=False)
        return Reading("working", f"Could not check just now: {text} It is checked again at the next poll.")
    data = structured or {}
    if isinstance(ref, SlurmTask):
        jobs = [j for j in data.get("jobs") or [] if isinstance(j, Mapping)]
        summary = str(data.get("summary", ""))
        if data.get("done") is True:
            return Reading("completed", summary)
        known = any(j.get("state") != "UNKNOWN" for j in jobs)
        if not known and age_s > UNKNOWN_GRACE_S:
            return Reading("completed", f"Slurm's accounting does not know these jobs after {age_s:.0f} s. {summary}")
        states = ", ".join(f"{j.get('job_id')} {j.get('state')}" for j in jobs)
        return Reading("working", f"{summary}: {states}" if states else summary, known=known)
    if isinstance(ref, TransferTask):
        status = data.get("transfer")
        state = status.get("state") if isinstance(status, Mapping) else None
        summary = str(data.get("summary", ""))
        if state == "running":
            assert isinstance(status, Mapping)
            return Reading("working", f"{ref.transfer_id}: {status.get('percent', 0)}% copied.")
        return Reading("completed", summary, known=state is not None)
    if data.get("status") == WAITING_FOR_APPROVAL:
        waited = data.get("waited_s")
        so_far = f", {waited} s so far." if waited is not None else "."
        return Reading("working", "Waiting for the person's two-factor approval (交我办 app or email link)" + so_far)
    return Reading("completed", str(data.get("message", "")))


# -- cancelling: only with the person's consent ------------------------------------------------------------------


def cancel_call(ref: TaskRef) -> tuple[str, dict[str, Any]] | None:
    """The consent-gated tool call that stops the work (the person's consent stands for confirm=true).

    None for an approval: it cannot be withdrawn from here (the person declines it in 交我办 or the email).
    """
    if isinstance(ref, SlurmTask):
        return "run_slurm", {
            "command": "scancel",
            "node_group": ref.node_group,
            "job_ids": list(ref.job_ids),
            "confirm": True,
        }
    if isinstance(ref, TransferTask):
        return "transfer_data", {"action": "cancel", "transfer_id": ref.transfer_id, "confirm": True}
    return None


def what_cancel_stops(ref: TaskRef) -> str:
    if isinstance(ref, SlurmTask):
        ids = ", ".join(ref.job_ids)
        return f"Slurm job(s) {ids} on node group {ref.node_group} (scancel); what they wrote so far stays"
    if isinstance(ref, TransferTask):
        return f"transfer {ref.transfer_id}; what was copied stays"
    return "nothing: a two-factor approval is declined in the 交我办 app or the email, not here"


def cancel_hint(ref: TaskRef) -> str:
    """What the person (or the model, once the person agreed) calls to stop the work."""
    call = cancel_call(ref)
    if call is None:
        return "To stop it, the person declines the approval in the 交我办 app or the email."
    tool, args = call
    shown = " ".join(f"{k}={_shown(v)}" for k, v in args.items())
    return f"Nothing was cancelled: that needs the person's consent. If the person agrees, call {tool} {shown}."


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def consent_key(asked_before: int) -> str:
    """A question key never used twice in one task's life (the extension's rule for inputRequests)."""
    return f"cancel-consent-{asked_before + 1}"


def consent_request(ref: TaskRef) -> dict[str, Any]:
    """The question put to the person (an elicitation/create in the task's inputRequests) before cancelling."""
    return {
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": f"Cancel {what_cancel_stops(ref)}?",
            "requestedSchema": {
                "type": "object",
                "properties": {CONSENT_FIELD: {"type": "boolean", "title": "Cancel it?", "default": False}},
                "required": [CONSENT_FIELD],
            },
        },
    }


def consent_answer(response: object) -> Literal["approve", "decline"] | None:
    """The person's answer: approve only on an accepted form with approve=true; None when it is no answer."""
    if not isinstance(response, Mapping):
        return None
    action = response.get("action")
    if action in ("decline", "cancel"):
        return "decline"
    if action != "accept":
        return None
    content = response.get("content")
    return "approve" if isinstance(content, Mapping) and content.get(CONSENT_FIELD) is True else "decline"


# -- the wire objects --------------------------------------------------------------------------------------------


def task_object(
    ref: TaskRef,
    status: Status,
    *,
    created: str,
    updated: str,
    message: str | None = None,
    result: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
    input_requests: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Task (the extension's DetailedTask): the status-specific field only where its status calls for it."""
    task: dict[str, Any] = {
        "taskId": task_id(ref),
        "status": status,
        "createdAt": created,
        "lastUpdatedAt": updated,
        "ttlMs": ttl_ms(ref),
        "pollIntervalMs": poll_ms(ref),
    }
    if message:
        task["statusMessage"] = message
    if status == "completed":
        task["result"] = dict(result or {})
    elif status == "failed":
        task["error"] = dict(error or {"code": -32603, "message": message or "Internal error"})
    elif status == "input_required":
        task["inputRequests"] = dict(input_requests or {})
    return task


def created_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to tools/call that hands out the task (CreateTaskResult): resultType "task"."""
    return {"resultType": "task", **task}
