"""The tasks extension (io.modelcontextprotocol/tasks, 2026-07-28) through the SDK client over stdio on the lab.

The client declares the extension itself (no host does today: Claude Code 2.1.328 does not), claims the
`task` result shape, and sends tasks/get, tasks/update and tasks/cancel as the extension's own requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import asyncssh
import pytest
from mcp.client import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ElicitResult, Request, RequestParams, Result
from pydantic import ConfigDict

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import node_shell, server_args

pytestmark = [pytest.mark.lab, pytest.mark.anyio]

EXTENSION = "io.modelcontextprotocol/tasks"
MODERN = "2026-07-28"


class CreatedTask(Result):
    """CreateTaskResult: the answer to tools/call that is a task."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None
    status_message: str | None = None
    created_at: str
    last_updated_at: str


class TaskState(Result):
    """GetTaskResult (a DetailedTask)."""

    model_config = ConfigDict(extra="allow")
    result_type: str | None = None
    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None
    result: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = None


class Ack(Result):
    model_config = ConfigDict(extra="allow")
    result_type: str | None = None


class TaskIdParams(RequestParams):
    task_id: str


class UpdateParams(TaskIdParams):
    input_responses: dict[str, Any]


class TaskRequest(Request[Any, str]):
    name_param = "taskId"


async def _unresolved(task: CreatedTask, ctx: ClaimContext) -> CallToolResult:
    raise AssertionError("these tests take the task shape themselves (allow_claimed=True)")


class Tasks(ClientExtension):
    identifier = EXTENSION

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=_unresolved)]


async def start(client: Client, tool: str, args: dict[str, Any]) -> CreatedTask | CallToolResult:
    return await client.session.call_tool(tool, args, allow_claimed=True)  # type: ignore[return-value]


async def get(client: Client, task_id: str) -> TaskState:
    return await client.session.send_request(
        TaskRequest(method="tasks/get", params=TaskIdParams(task_id=task_id)), TaskState
    )


async def cancel(client: Client, task_id: str) -> Ack:
    return await client.session.send_request(
        TaskRequest(method="tasks/cancel", params=TaskIdParams(task_id=task_id)), Ack
    )


async def update(client: Client, task_id: str, responses: dict[str, Any]) -> Ack:
    params = UpdateParams(task_id=task_id, input_responses=responses)
    return await client.session.send_request(TaskRequest(method="tasks/update", params=params), Ack)


async def until(client: Client, task_id: str, done: set[str], limit_s: float = 60) -> TaskState:
    deadline = time.monotonic() + limit_s
    while True:
        state = await get(client, task_id)
        if state.status in done or time.monotonic() > deadline:
            return state
        await asyncio.sleep(min(1.0, (state.poll_interval_ms or 1000) / 1000))


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace_m(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("tasks") / "workspace"
    ws.mkdir()
    install_credentials(ws, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    return ws


@pytest.fixture(scope="module")
async def tasks_client(lab: dict[str, Any], workspace_m: Path) -> AsyncIterator[Client]:
    async with stdio_server(server_args(lab, workspace_m), mode=MODERN, extensions=[Tasks()]) as c:
        yield c


async def submit(client: Client, script: str) -> str:
    r = await client.call_tool(
        "run_slurm",
        {"command": "sbatch", "partition": "cpu", "script": script, "options": {"time": "5", "mem": "100M"}},
    )
    assert not r.is_error and r.structured_content is not None, r.content
    return str(r.structured_content["submission"]["job_id"])


@pytest.fixture(scope="module")
async def long_job(tasks_client: Client) -> AsyncIterator[str]:
    """One job that runs on while the tests look at it; cancelled at the end whatever happened."""
    job = await submit(tasks_client, "#!/bin/bash\nsleep 300\n")
    yield job
    await tasks_client.call_tool(
        "run_slurm", {"command": "scancel", "node_group": "pi", "job_ids": [job], "confirm": True}
    )


async def job_state(lab: dict[str, Any], job_id: str) -> str:
    async with node_shell(lab, "pilogin.hpc.sjtu.edu.cn") as sh:
        return (await sh(f"squeue -h -j {job_id} -o %T", check=False)).strip()


async def test_the_extension_is_advertised(tasks_client: Client) -> None:
    found = await tasks_client.session.send_discover(MODERN)
    assert found["capabilities"]["extensions"] == {EXTENSION: {}}


async def test_wait_becomes_a_task_followed_to_the_jobs_result_even_by_a_new_server(
    lab: dict[str, Any], tasks_client: Client, workspace_m: Path
) -> None:
    job = await submit(tasks_client, "#!/bin/bash\necho hello\nsleep 2\n")
    started = time.monotonic()
    created = await start(tasks_client, "run_slurm", {"command": "wait", "partition": "cpu", "job_ids": [job]})
    assert isinstance(created, CreatedTask), created
    assert time.monotonic() - started < 10  # no 45 s wait: the task is handed out at once
    assert created.task_id == f"slurm:pi:{job}" and created.status == "working"
    assert created.ttl_ms and created.poll_interval_ms

    # a second server process on the same workspace (as after a restart) answers for the same task
    async with stdio_server(server_args(lab, workspace_m), mode=MODERN, extensions=[Tasks()]) as fresh:
        working = await get(fresh, created.task_id)
        assert working.status == "working" and working.created_at == created.created_at
        done = await until(fresh, created.task_id, {"completed", "failed", "cancelled"})
    assert done.status == "completed", done
    assert done.result is not None and done.result["isError"] is False
    outcome = done.result["structuredContent"]
    assert outcome["command"] == "wait" and outcome["done"] is True
    assert [(j["job_id"], j["state"], j["exit_code"]) for j in outcome["jobs"]] == [(job, "COMPLETED", 0)]
    again = await get(tasks_client, created.task_id)  # the first process agrees, from the job itself
    assert again.status == "completed" and again.result is not None
    def core(jobs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:  # a process that saw the job queued knows more
        return [(j["job_id"], j["state"], j["exit_code"], j.get("elapsed")) for j in jobs]

    assert core(again.result["structuredContent"]["jobs"]) == core(outcome["jobs"])

    # work that has already ended is answered at once, without a task
    plain = await start(tasks_client, "run_slurm", {"command": "wait", "node_group": "pi", "job_ids": [job]})
    assert isinstance(plain, CallToolResult) and plain.structured_content is not None
    assert plain.structured_content["done"] is True


async def test_a_client_without_the_extension_gets_the_plain_bounded_result(
    lab: dict[str, Any], workspace_m: Path, long_job: str
) -> None:
    async with stdio_server(server_args(lab, workspace_m), mode=MODERN) as plain:
        started = time.monotonic()
        args = {"command": "wait", "node_group": "pi", "job_ids": [long_job], "wait_s": 0.5}
        r = await plain.call_tool("run_slurm", args)
        assert time.monotonic() - started < 10
        assert isinstance(r, CallToolResult) and not r.is_error and r.structured_content is not None
        assert r.structured_content["done"] is False and "call wait again" in r.structured_content["summary"]
        with pytest.raises(MCPError) as refused:  # tasks/* are the extension's: refused when not declared
            await get(plain, f"slurm:pi:{long_job}")
        assert refused.value.error.code == -32021


async def test_cancel_does_not_cancel_without_the_persons_consent(
    lab: dict[str, Any], tasks_client: Client, workspace_m: Path, long_job: str
) -> None:
    job = long_job
    created = await start(tasks_client, "run_slurm", {"command": "wait", "node_group": "pi", "job_ids": [job]})
    assert isinstance(created, CreatedTask), created

    # a client that cannot ask the person: acknowledged, nothing cancelled, and the task says how
    ack = await cancel(tasks_client, created.task_id)
    assert ack.result_type == "complete"
    state = await get(tasks_client, created.task_id)
    assert state.status == "working" and state.status_message is not None
    assert "Nothing was cancelled" in state.status_message and "confirm=true" in state.status_message
    assert await job_state(lab, job) in ("RUNNING", "PENDING")

    # a client that can: the question goes to the person; no stops nothing, yes cancels
    answers: list[str] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        raise AssertionError("the question comes through the task's inputRequests, not as a request")

    async with stdio_server(
        server_args(lab, workspace_m), mode=MODERN, extensions=[Tasks()], elicitation_callback=person
    ) as asking:
        for answer in (False, True):
            await cancel(asking, created.task_id)
            state = await get(asking, created.task_id)
            assert state.status == "input_required" and state.input_requests, state
            (key, question), *_ = state.input_requests.items()
            assert key not in answers  # a key is never used twice in a task's life
            answers.append(key)
            assert question["method"] == "elicitation/create" and job in question["params"]["message"]
            await update(asking, created.task_id, {key: {"action": "accept", "content": {"approve": answer}}})
            if not answer:
                assert await job_state(lab, job) in ("RUNNING", "PENDING")
        state = await get(asking, created.task_id)
    assert state.status == "cancelled" and "consent" in (state.status_message or ""), state
    assert await job_state(lab, job) in ("", "CANCELLED", "COMPLETING")
    audit = (workspace_m / "audit.jsonl").read_text()
    assert '"act": "scancel"' in audit or '"scancel"' in audit


async def test_unknown_and_malformed_task_ids_are_not_found(tasks_client: Client) -> None:
    for task_id in ("nonsense", "slurm:pi:abc", "transfer:data-000000000000", "approval:certificate"):
        with pytest.raises(MCPError) as e:
            await get(tasks_client, task_id)
        assert e.value.error.code == -32602 and "Task not found" in e.value.error.message


async def test_a_pending_two_factor_approval_becomes_a_task(workspace: Path, tmp_path: Path) -> None:
    from lab.api_double import run_double

    password = tmp_path / "pw.txt"
    password.write_text("lab-password-1\n")
    with run_double(asyncssh.generate_private_key("ssh-ed25519")) as (url, state):
        args = ["--workspace", str(workspace), "--api-url", url, "--approval-wait", "0"]
        async with stdio_server(args, mode=MODERN, extensions=[Tasks()]) as c:
            r = await c.call_tool("request_token", {"username": "hpcrobot", "password_file": str(password)})
            assert not r.is_error, r.content
            created = await start(c, "request_certificate", {"valid_time": 600})
            assert isinstance(created, CreatedTask), created
            assert created.task_id == "approval:certificate" and created.status == "working"
            assert "approval" in (created.status_message or "")
            assert (await get(c, created.task_id)).status == "working"
            await cancel(c, created.task_id)  # an approval is not withdrawn from here: it runs on
            state.decide(decision="approve")
            done = await until(c, created.task_id, {"completed", "failed", "cancelled"}, limit_s=15)
            assert done.status == "completed" and done.result is not None, done
            assert done.result["structuredContent"]["status"] == "issued"
            assert done.result["structuredContent"]["principals"] == ["hpcrobot"]
        async with stdio_server(args, mode=MODERN, extensions=[Tasks()]) as fresh:  # the outcome outlives the process
            again = await get(fresh, created.task_id)
    assert again.status == "completed" and again.result == done.result
