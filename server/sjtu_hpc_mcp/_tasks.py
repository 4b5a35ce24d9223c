"""The MCP tasks extension (`io.modelcontextprotocol/tasks`, protocol 2026-07-28, SEP-2663) on the SDK's
extension seam. Besides the _mcp package, the only module that imports the MCP SDK.

A client that declares the extension in a request's own capabilities may get, in answer to tools/call, a
task (`resultType: "task"`) instead of the result, for the calls that wait long: run_slurm wait, transfer_data
status with wait_s > 0, and request_certificate / update_user while the two-factor approval is pending. It
then follows the task with tasks/get, tasks/update and tasks/cancel. Every other client, and every other call,
is answered exactly as before (the bounded wait of at most 50 s).

The task id names the work (core.tasks), so tasks/get asks the work itself, through the same tool call that
reports it without waiting; any server process on the workspace, including the next one after a restart,
answers for a job or a data-node transfer. The workspace keeps what the work cannot say (shell.tasks).

tasks/cancel never stops the work by itself: cancelling a job or a transfer needs the person's consent here,
and the extension lets a client send tasks/cancel on its own (closing a chat, giving up). So tasks/cancel is
acknowledged and then, when the request's client can ask the person (elicitation), the task turns
input_required with the question; the person's yes, sent back with tasks/update, runs the same consent-gated
cancel as run_slurm scancel / transfer_data cancel with confirm=true (written to the audit trail). A client
that cannot ask gets the acknowledgement and the task's statusMessage says that nothing was cancelled and
which call cancels once the person agrees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolRequestParams, CallToolResult, RequestParams, TextContent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from ._mcp import followed_as_task
from .core import tasks as tk
from .core.errors import HpcError
from .core.policy import audit_outcome, changing_act, job_route
from .core.slurm import requests as rq
from .services import Services
from .shell.tasks import Record, TaskRecords

__all__ = ["TasksExtension"]

MODERN = frozenset(MODERN_PROTOCOL_VERSIONS)


class TaskParams(RequestParams):
    task_id: str = Field(max_length=16 * tk.MAX_JOBS)


class UpdateTaskParams(TaskParams):
    input_responses: dict[str, Any] = Field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(record: Mapping[str, Any] | None) -> float:
    """Seconds since the task was handed out (0 when the workspace has no record of it)."""
    try:
        created = datetime.strptime(str((record or {})["created"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return 0.0
    return max(0.0, (datetime.now(UTC) - created).total_seconds())


def _text(result: CallToolResult) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def _not_found(task_id: str, why: str = "") -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=f"Failed to retrieve task: Task not found ({task_id}). {why}".strip())


class TasksExtension(Extension):
    """Tasks for long waits, advertised under the server capabilities' `extensions` with no settings."""

    identifier = tk.EXTENSION

    def __init__(self, server: Callable[[], Any]) -> None:
        """`server` gives the MCPServer this extension serves (built after the extension, so asked late)."""
        self._server = server

    # -- the extension's surface -------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("tasks/get", TaskParams, self._get, protocol_versions=MODERN),
            MethodBinding("tasks/update", UpdateTaskParams, self._update, protocol_versions=MODERN),
            MethodBinding("tasks/cancel", TaskParams, self._cancel, protocol_versions=MODERN),
        )

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if not self._declared(ctx):
            return await call_next(ctx)
        svc = self._services(ctx)
        arguments = dict(params.arguments or {})
        ref = tk.followed_call(params.name, arguments, svc.platform)
        if ref is not None:
            # The caller's own arguments (so the tool refuses exactly what it would refuse), without the wait.
            result = await self._call(ctx, params.name, {**arguments, "wait_s": 0})
            reading = tk.read_result(ref, result.structured_content, result.is_error, _text(result))
            if result.is_error or reading.status != "working":
                return result  # an error (the tool's own), or work that has already ended
            return tk.created_task(self._hand_out(svc, ref, reading, None))
        with followed_as_task():  # a pending approval goes back as a task at once, not after --approval-wait
            answer = await call_next(ctx)
        if isinstance(answer, CallToolResult) and not answer.is_error:
            approval = tk.approval_task(params.name, answer.structured_content)
            if approval is not None:
                reading = tk.read_result(approval, answer.structured_content, False, "")
                return tk.created_task(self._hand_out(svc, approval, reading, arguments))
        return answer

    # -- tasks/get, tasks/update, tasks/cancel ---------------------------------------------------------------------

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        require_client_extension(ctx, tk.EXTENSION)
        return await self._current(ctx, self._ref(params.task_id))

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        require_client_extension(ctx, tk.EXTENSION)
        ref = self._ref(params.task_id)
        tid = tk.task_id(ref)
        records = self._records(ctx)
        record = records.get(tid)
        if record is None:  # handed out by no process on this workspace: ask the work itself
            record = self._seen(records, tid, None, (await self._current(ctx, ref))["status"])
        if record.get("status") in tk.TERMINAL or record.get("cancelled"):
            return {}
        caps = ctx.session.client_capabilities
        can_cancel = tk.cancel_call(ref) is not None and not self._read_only()
        can_ask = can_cancel and caps is not None and caps.elicitation is not None

        def asked(old: Record | None) -> Record:
            new = dict(old or self._fresh("working"))
            if can_ask:
                asked_before = int(new.get("asked", 0))
                new.update(question=tk.consent_key(asked_before), asked=asked_before + 1, note=None)
            elif self._read_only():
                new["note"] = f"tasks/cancel received at {_now()}; this server is read-only: nothing was cancelled."
            else:
                new["note"] = f"tasks/cancel received at {_now()}. {tk.cancel_hint(ref)}"
            return new

        records.update(tid, asked)
        return {}

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> HandlerResult:
        require_client_extension(ctx, tk.EXTENSION)
        ref = self._ref(params.task_id)
        tid = tk.task_id(ref)
        records = self._records(ctx)
        record = records.get(tid)
        key = record.get("question") if record else None
        answer = tk.consent_answer(params.input_responses.get(key)) if isinstance(key, str) else None
        if answer is None:  # no open question, or not an answer to it: ignored, as the extension asks
            if record is None and not await self._known(ctx, ref):
                raise _not_found(tid)
            return {}
        if answer == "decline":
            records.update(tid, lambda r: {**(r or {}), "question": None, "note": "The person declined; it runs on."})
            return {}
        cancelled, summary = await self._cancel_work(ctx, ref)

        def answered(r: Record | None) -> Record:
            new = {**(r or self._fresh("working")), "question": None, "note": summary}
            if cancelled:
                new.update(cancelled=summary, status="cancelled", updated=_now())
            return new

        records.update(tid, answered)
        return {}

    # -- the task's state ------------------------------------------------------------------------------------------

    async def _current(self, ctx: ServerRequestContext[Any, Any], ref: tk.TaskRef) -> dict[str, Any]:
        tid = tk.task_id(ref)
        records = self._records(ctx)
        record = records.get(tid)
        if record is not None and record.get("cancelled"):
            return self._task(ref, record, "cancelled", str(record["cancelled"]))
        if isinstance(ref, tk.ApprovalTask):
            return await self._current_approval(ctx, ref, record)
        tool, arguments = tk.follow_call(ref)
        result = await self._call(ctx, tool, arguments)
        reading = tk.read_result(ref, result.structured_content, result.is_error, _text(result), _age(record))
        if not reading.known and record is None:
            raise _not_found(tid, reading.message)
        status: tk.Status = reading.status
        message = reading.message
        extra: dict[str, Any] = {}
        if status == "working" and record is not None and record.get("question"):
            status = "input_required"
            extra["input_requests"] = {str(record["question"]): tk.consent_request(ref)}
            message = f"Asking the person before cancelling: {tk.what_cancel_stops(ref)}. {message}"
        elif status == "working" and record is not None and record.get("note"):
            message = f"{message} {record['note']}"
        if status == "completed":
            extra["result"] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        record = self._seen(records, tid, record, status)
        return self._task(ref, record, status, message, **extra)

    async def _current_approval(
        self, ctx: ServerRequestContext[Any, Any], ref: tk.ApprovalTask, record: Record | None
    ) -> dict[str, Any]:
        tid = tk.task_id(ref)
        records = self._records(ctx)
        pending = self._services(ctx).approvals.get(ref.approval)
        if pending is not None and not pending.task.done():
            waiting = {"status": tk.WAITING_FOR_APPROVAL, "waited_s": pending.waited_s}
            message = tk.read_result(ref, waiting, False, "").message
            if record is not None and record.get("note"):
                message = f"{message} {record['note']}"
            return self._task(ref, self._seen(records, tid, record, "working"), "working", message)
        if pending is not None:  # decided: the tool picks the outcome up, as a second call would
            tool, arguments = tk.follow_call(ref, (record or {}).get("arguments"))
            result = await self._call(ctx, tool, arguments)
            reading = tk.read_result(ref, result.structured_content, result.is_error, _text(result))
            dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
            if reading.status == "completed" or result.is_error:
                record = records.update(
                    tid,
                    lambda r: {
                        **(r or self._fresh("working")),
                        "status": "completed",
                        "updated": _now(),
                        "result": dumped,
                        "message": reading.message or _text(result),
                    },
                )
                assert record is not None
                return self._task(ref, record, "completed", str(record["message"]), result=dumped)
            return self._task(ref, self._seen(records, tid, record, "working"), "working", reading.message)
        if record is not None and isinstance(record.get("result"), dict):
            return self._task(ref, record, "completed", str(record.get("message", "")), result=record["result"])
        raise _not_found(
            tid,
            "No two-factor approval is pending in this server: it was picked up by another call, or the server "
            "restarted (the approval waited in the process that stopped). credential_status shows what is stored; "
            "call the tool again for a new approval.",
        )

    async def _known(self, ctx: ServerRequestContext[Any, Any], ref: tk.TaskRef) -> bool:
        try:
            await self._current(ctx, ref)
        except MCPError:
            return False
        return True

    # -- cancelling, once the person agreed --------------------------------------------------------------------------

    async def _cancel_work(self, ctx: ServerRequestContext[Any, Any], ref: tk.TaskRef) -> tuple[bool, str]:
        """The consent-gated cancel with the person's yes standing for confirm=true; audited like the tool call."""
        call = tk.cancel_call(ref)
        if call is None:
            return False, tk.cancel_hint(ref)
        tool, arguments = call
        svc = self._services(ctx)
        started = time.time()
        node: str | None
        if self._read_only():
            return False, "This server is read-only: nothing was cancelled."
        try:
            if isinstance(ref, tk.SlurmTask):
                route = job_route(svc.platform, None, ref.node_group)
                request = rq.request_of("scancel", rq.Arguments(job_ids=list(ref.job_ids)))
                assert isinstance(request, rq.ScancelRequest)
                slurm = await svc.jobs.cancel(route, request, confirm=True, declined=False)
                cancelled, node, said = bool(slurm.cancelled), slurm.node, slurm.summary
                data = slurm.model_dump(mode="json")
            else:
                assert isinstance(ref, tk.TransferTask)
                moved = await svc.transfers.cancel(ref.transfer_id, confirm=True, declined=False)
                cancelled, node, said = moved.summary.startswith("Cancelled"), moved.node, moved.summary
                data = moved.model_dump(mode="json")
        except HpcError as exc:
            self._audit(tool, arguments, started, audit_outcome(True, str(exc), None), None)
            return False, f"Cancelling failed: {exc} Nothing was cancelled; it runs on."
        self._audit(tool, arguments, started, audit_outcome(False, said, data), node)
        if cancelled:
            said = f"Cancelled with the person's consent (asked through tasks/cancel): {said}"
        return cancelled, said

    def _audit(
        self, tool: str, arguments: dict[str, Any], started: float, outcome: dict[str, object], node: str | None
    ) -> None:
        from .tools.guard import guard_of

        guard = guard_of(self._server())
        act = changing_act(tool, arguments)
        if guard is not None and act is not None:
            guard.record(tool, act, arguments, None, started, outcome, node)

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _read_only(self) -> bool:
        from .tools.guard import guard_of

        guard = guard_of(self._server())
        return guard is not None and guard.read_only_mode

    @staticmethod
    def _declared(ctx: ServerRequestContext[Any, Any]) -> bool:
        caps = ctx.session.client_capabilities
        if ctx.protocol_version not in MODERN or caps is None:
            return False
        return tk.declared(caps.model_dump(by_alias=True, mode="json", exclude_none=True))

    @staticmethod
    def _services(ctx: ServerRequestContext[Any, Any]) -> Services:
        svc = ctx.lifespan_context
        assert isinstance(svc, Services)
        return svc

    def _records(self, ctx: ServerRequestContext[Any, Any]) -> TaskRecords:
        return TaskRecords(self._services(ctx).settings.workspace)

    @staticmethod
    def _ref(task_id: str) -> tk.TaskRef:
        ref = tk.parse_task_id(task_id)
        if ref is None:
            raise _not_found(task_id, "This server hands out ids of the form slurm:…, transfer:… or approval:….")
        return ref

    async def _call(self, ctx: ServerRequestContext[Any, Any], tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """The tool as a tools/call would run it (arguments checked, errors as results, audit)."""
        result = await self._server()._handle_call_tool(ctx, CallToolRequestParams(name=tool, arguments=arguments))
        if isinstance(result, CallToolResult):
            return result
        text = "E_INPUT: the tool asked for input a task cannot give. Fix: call the tool itself."
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)

    @staticmethod
    def _fresh(status: str) -> Record:
        now = _now()
        return {"created": now, "updated": now, "status": status}

    def _hand_out(
        self, svc: Services, ref: tk.TaskRef, reading: tk.Reading, arguments: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Write the task's record (the task exists before its id is handed out), then the task itself."""

        def created(record: Record | None) -> Record:
            keep = record is not None and record.get("status") not in tk.TERMINAL and not record.get("result")
            new = dict(record) if keep and record is not None else self._fresh("working")
            if arguments is not None:
                new["arguments"] = tk.kept_arguments(ref, arguments)
            return new

        record = TaskRecords(svc.settings.workspace).update(tk.task_id(ref), created)
        assert record is not None
        return self._task(ref, record, "working", reading.message)

    def _seen(self, records: TaskRecords, tid: str, record: Record | None, status: str) -> Record:
        """The record, its lastUpdatedAt moved when the status changed (written only then)."""
        if record is not None and record.get("status") == status:
            return record

        def moved(r: Record | None) -> Record:
            new = dict(r or self._fresh(status))
            new.update(status=status, updated=_now())
            return new

        written = records.update(tid, moved)
        assert written is not None
        return written

    @staticmethod
    def _task(
        ref: tk.TaskRef, record: Mapping[str, Any], status: tk.Status, message: str, **extra: Any
    ) -> dict[str, Any]:
        return tk.task_object(
            ref,
            status,
            created=str(record.get("created") or _now()),
            updated=str(record.get("updated") or _now()),
            message=message,
            **extra,
        )
