"""core.tasks: task ids both ways, which calls become tasks, the work's state as a task status, the consent
question before a cancel, and the wire objects (io.modelcontextprotocol/tasks, 2026-07-28)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from sjtu_hpc_mcp.core import tasks as tk
from sjtu_hpc_mcp.core.platform import load_platform

P = load_platform()
GROUPS = tuple(P.groups)
PARTITION_OF = {g: P.group(g).partitions[0] for g in GROUPS}


# -- ids ---------------------------------------------------------------------------------------------------------

REFS: list[tk.TaskRef] = [
    tk.SlurmTask("pi", ("123",)),
    tk.SlurmTask("sy", ("1", "22_3", "4567890123")),
    tk.SlurmTask("kp", ("99_0",)),
    tk.TransferTask("data-0123456789ab"),
    tk.TransferTask("sydata-abcdefabcdef", verify=True),
    tk.TransferTask("local-000000000000"),
    tk.ApprovalTask("certificate"),
    tk.ApprovalTask("update_user"),
]


@pytest.mark.parametrize("ref", REFS, ids=tk.task_id)
def test_every_id_reads_back_as_the_work_it_names(ref: tk.TaskRef) -> None:
    assert tk.parse_task_id(tk.task_id(ref)) == ref


def test_ids_have_the_documented_forms() -> None:
    assert [tk.task_id(r) for r in REFS] == [
        "slurm:pi:123",
        "slurm:sy:1,22_3,4567890123",
        "slurm:kp:99_0",
        "transfer:data-0123456789ab",
        "transfer:sydata-abcdefabcdef:verify",
        "transfer:local-000000000000",
        "approval:certificate",
        "approval:update_user",
    ]


@pytest.mark.parametrize(
    "text",
    [
        None,
        42,
        "",
        "slurm",
        "slurm:",
        "slurm:pi",
        "slurm:pi:",
        "slurm::123",
        "slurm:PI:123",
        "slurm:pi:0",
        "slurm:pi:abc",
        "slurm:pi:123,",
        "slurm:pi:123,123",
        "slurm:pi:123_[1-3]",
        "slurm:pi:-123",
        "slurm:pi:123;rm",
        "slurm:pi:12345678901",
        "slurm:pi/../x:123",
        "transfer:",
        "transfer:data-0123",
        "transfer:data-0123456789AB",
        "transfer:other-0123456789ab",
        "transfer:data-0123456789ab:",
        "transfer:data-0123456789ab:verify:x",
        "transfer:data-0123456789ab:force",
        "approval:",
        "approval:password",
        "approval:certificate:x",
        "task:123",
        "SLURM:pi:123",
        "slurm:pi:" + ",".join(str(i) for i in range(1, tk.MAX_JOBS + 2)),
    ],
)
def test_anything_else_names_no_task(text: Any) -> None:
    assert tk.parse_task_id(text) is None


def test_as_many_jobs_as_wait_takes_still_make_an_id() -> None:
    ids = tuple(str(i) for i in range(1, tk.MAX_JOBS + 1))
    ref = tk.SlurmTask("pi", ids)
    assert tk.parse_task_id(tk.task_id(ref)) == ref


# -- which calls become tasks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caps", "declared"),
    [
        (None, False),
        ({}, False),
        ({"extensions": None}, False),
        ({"extensions": {}}, False),
        ({"extensions": ["io.modelcontextprotocol/tasks"]}, False),
        ({"extensions": {"io.modelcontextprotocol/ui": {}}}, False),
        ({"experimental": {"io.modelcontextprotocol/tasks": {}}}, False),
        ({"tasks": {"requests": {"tools": {"call": {}}}}}, False),  # the 2025-11-25 capability is not the extension
        ({"extensions": {"io.modelcontextprotocol/tasks": {}}}, True),
        ({"extensions": {"io.modelcontextprotocol/tasks": {"x": 1}, "other.ext/y": {}}}, True),
    ],
)
def test_only_a_request_that_declares_the_extension_gets_tasks(caps: Any, declared: bool) -> None:
    assert tk.declared(caps) is declared


@pytest.mark.parametrize("group", GROUPS)
def test_wait_becomes_a_task_on_the_group_of_its_partition_or_node_group(group: str) -> None:
    by_group = {"command": "wait", "node_group": group, "job_ids": ["5", "6", "5"]}
    by_partition = {"command": "wait", "partition": PARTITION_OF[group], "job_ids": ["5", "6"]}
    assert tk.followed_call("run_slurm", by_group, P) == tk.SlurmTask(group, ("5", "6"))
    assert tk.followed_call("run_slurm", by_partition, P) == tk.SlurmTask(group, ("5", "6"))


@pytest.mark.parametrize(
    "args",
    [
        {"command": "squeue", "node_group": "pi"},
        {"command": "sbatch", "partition": "cpu", "script": "#!/bin/bash\n"},
        {"command": "scancel", "node_group": "pi", "job_ids": ["1"], "confirm": True},
        {"command": "wait", "node_group": "pi"},
        {"command": "wait", "node_group": "pi", "job_ids": []},
        {"command": "wait", "node_group": "pi", "job_ids": "123"},
        {"command": "wait", "node_group": "pi", "job_ids": [123]},
        {"command": "wait", "node_group": "pi", "job_ids": ["12a"]},
        {"command": "wait", "node_group": "pi", "job_ids": ["1_[1-3]"]},
        {"command": "wait", "job_ids": ["1"]},
        {"command": "wait", "node_group": "xx", "job_ids": ["1"]},
        {"command": "wait", "partition": "nope", "job_ids": ["1"]},
        {"command": "wait", "partition": PARTITION_OF["sy"], "node_group": "pi", "job_ids": ["1"]},
        {"command": "wait", "node_group": ["pi"], "job_ids": ["1"]},
    ],
)
def test_other_slurm_calls_and_calls_the_tool_refuses_stay_plain(args: dict[str, Any]) -> None:
    assert tk.followed_call("run_slurm", args, P) is None


@pytest.mark.parametrize(
    ("args", "ref"),
    [
        ({"action": "status", "transfer_id": "data-0123456789ab", "wait_s": 30}, tk.TransferTask("data-0123456789ab")),
        (
            {"action": "status", "transfer_id": "sydata-0123456789ab", "wait_s": 0.5, "verify": True},
            tk.TransferTask("sydata-0123456789ab", True),
        ),
        (
            {"action": "status", "transfer_id": "local-0123456789ab", "wait_s": 50},
            tk.TransferTask("local-0123456789ab"),
        ),
        ({"action": "status", "transfer_id": "data-0123456789ab"}, None),  # no wait: answered at once as before
        ({"action": "status", "transfer_id": "data-0123456789ab", "wait_s": 0}, None),
        ({"action": "status", "transfer_id": "data-0123456789ab", "wait_s": "30"}, None),
        ({"action": "status", "transfer_id": "data-xyz", "wait_s": 30}, None),
        ({"action": "status", "wait_s": 30}, None),
        ({"action": "start", "source": "lustre:a", "destination": "cold", "wait_s": 30}, None),
        ({"action": "cancel", "transfer_id": "data-0123456789ab", "wait_s": 30}, None),
        ({"action": "list", "wait_s": 30}, None),
    ],
)
def test_transfer_status_becomes_a_task_only_when_it_waits(args: dict[str, Any], ref: tk.TaskRef | None) -> None:
    assert tk.followed_call("transfer_data", args, P) == ref


@pytest.mark.parametrize(
    "tool", ["credential_status", "request_token", "get_user", "query_quota", "manage_storage", "request_certificate"]
)
def test_no_other_tool_is_followed(tool: str) -> None:
    assert tk.followed_call(tool, {"command": "wait", "action": "status", "job_ids": ["1"], "wait_s": 5}, P) is None


@pytest.mark.parametrize(
    ("tool", "structured", "ref"),
    [
        ("request_certificate", {"status": "waiting_for_approval"}, tk.ApprovalTask("certificate")),
        ("update_user", {"status": "waiting_for_approval"}, tk.ApprovalTask("update_user")),
        ("request_certificate", {"status": "issued"}, None),
        ("request_certificate", {"status": "already_valid"}, None),
        ("request_certificate", {"status": "denied"}, None),
        ("request_certificate", {"status": "confirm_needed"}, None),
        ("update_user", {"status": "preview"}, None),
        ("update_user", {"status": "waiting_for_password"}, None),
        ("update_user", None, None),
        ("request_token", {"status": "waiting_for_approval"}, None),
        ("run_slurm", {"status": "waiting_for_approval"}, None),
    ],
)
def test_an_approval_becomes_a_task_only_while_it_waits(tool: str, structured: Any, ref: tk.TaskRef | None) -> None:
    assert tk.approval_task(tool, structured) == ref


# -- following --------------------------------------------------------------------------------------------------


def test_the_follow_calls_report_without_waiting() -> None:
    assert tk.follow_call(tk.SlurmTask("sy", ("1", "2"))) == (
        "run_slurm",
        {"command": "wait", "node_group": "sy", "job_ids": ["1", "2"], "wait_s": 0},
    )
    assert tk.follow_call(tk.TransferTask("data-0123456789ab", True)) == (
        "transfer_data",
        {"action": "status", "transfer_id": "data-0123456789ab", "verify": True, "wait_s": 0},
    )
    first = {"valid_time": 7200, "force": True, "export_to": "~/.ssh/sjtu-hpc", "confirm": False, "other": 1}
    assert tk.follow_call(tk.ApprovalTask("certificate"), first) == (
        "request_certificate",
        {"valid_time": 7200, "force": True, "export_to": "~/.ssh/sjtu-hpc", "confirm": False},
    )
    assert tk.follow_call(tk.ApprovalTask("certificate")) == ("request_certificate", {})
    # a pending change is picked up without its arguments: no password file, no confirm, nothing asked again
    assert tk.follow_call(tk.ApprovalTask("update_user"), {"password_file": "/x", "confirm": True}) == (
        "update_user",
        {},
    )


def test_records_keep_no_argument_but_the_certificates() -> None:
    args = {"valid_time": 600, "password_file": "/tmp/pw", "email": "a@b.c", "confirm": True}
    assert tk.kept_arguments(tk.ApprovalTask("certificate"), args) == {"valid_time": 600, "confirm": True}
    for ref in (tk.ApprovalTask("update_user"), tk.SlurmTask("pi", ("1",)), tk.TransferTask("data-0123456789ab")):
        assert tk.kept_arguments(ref, args) == {}


@pytest.mark.parametrize("ref", REFS, ids=tk.task_id)
def test_every_task_has_a_ttl_and_a_poll_interval(ref: tk.TaskRef) -> None:
    assert tk.ttl_ms(ref) >= 3_600_000 and 1000 <= tk.poll_ms(ref) <= 10_000
    assert tk.ttl_ms(ref) == (tk.APPROVAL_TTL_MS if isinstance(ref, tk.ApprovalTask) else tk.WORK_TTL_MS)


def job(job_id: str, state: str, finished: bool) -> dict[str, Any]:
    return {"job_id": job_id, "state": state, "finished": finished}


SLURM = tk.SlurmTask("pi", ("1", "2"))


@pytest.mark.parametrize(
    ("structured", "age", "status", "known"),
    [
        (
            {"done": True, "summary": "2 of 2 jobs ended", "jobs": [job("1", "COMPLETED", True)] * 2},
            0,
            "completed",
            True,
        ),
        (
            {"done": True, "summary": "s", "jobs": [job("1", "FAILED", True), job("2", "CANCELLED", True)]},
            0,
            "completed",
            True,
        ),
        ({"done": True, "summary": "s", "jobs": [job("1", "OUT_OF_MEMORY", True)]}, 9999, "completed", True),
        (
            {"done": False, "summary": "s", "jobs": [job("1", "RUNNING", False), job("2", "COMPLETED", True)]},
            0,
            "working",
            True,
        ),
        ({"done": False, "summary": "s", "jobs": [job("1", "PENDING", False)]}, 9999, "working", True),
        (
            {"done": False, "summary": "s", "jobs": [job("1", "UNKNOWN", False), job("2", "RUNNING", False)]},
            9999,
            "working",
            True,
        ),
        ({"done": False, "summary": "s", "jobs": [job("1", "UNKNOWN", False)]}, 0, "working", False),
        (
            {"done": False, "summary": "s", "jobs": [job("1", "UNKNOWN", False)]},
            tk.UNKNOWN_GRACE_S - 1,
            "working",
            False,
        ),
        (
            {"done": False, "summary": "s", "jobs": [job("1", "UNKNOWN", False)]},
            tk.UNKNOWN_GRACE_S + 1,
            "completed",
            True,
        ),
        ({"done": False, "summary": "s", "jobs": []}, 0, "working", False),
        (None, 0, "working", False),
    ],
)
def test_a_wait_result_reads_as_a_task_status(structured: Any, age: float, status: str, known: bool) -> None:
    reading = tk.read_result(SLURM, structured, False, "", age)
    assert (reading.status, reading.known) == (status, known)


def test_a_running_wait_names_each_jobs_state() -> None:
    structured = {
        "done": False,
        "summary": "1 of 2 jobs ended",
        "jobs": [job("1", "RUNNING", False), job("2", "COMPLETED", True)],
    }
    assert tk.read_result(SLURM, structured, False, "").message == "1 of 2 jobs ended: 1 RUNNING, 2 COMPLETED"


TRANSFER = tk.TransferTask("data-0123456789ab")


@pytest.mark.parametrize(
    ("state", "status"),
    [("running", "working"), ("done", "completed"), ("failed", "completed"), ("cancelled", "completed")],
)
def test_a_transfer_status_reads_as_a_task_status(state: str, status: str) -> None:
    structured = {"action": "status", "summary": f"Transfer is {state}.", "transfer": {"state": state, "percent": 40.5}}
    reading = tk.read_result(TRANSFER, structured, False, "")
    assert reading.status == status and reading.known
    assert reading.message == ("data-0123456789ab: 40.5% copied." if state == "running" else f"Transfer is {state}.")


@pytest.mark.parametrize(
    ("structured", "status"),
    [
        ({"status": "waiting_for_approval", "waited_s": 45}, "working"),
        ({"status": "waiting_for_approval"}, "working"),
        ({"status": "issued", "message": "stored"}, "completed"),
        ({"status": "denied", "message": "denied"}, "completed"),
        ({"status": "updated", "message": "updated"}, "completed"),
    ],
)
def test_an_approval_reads_as_a_task_status(structured: dict[str, Any], status: str) -> None:
    reading = tk.read_result(tk.ApprovalTask("certificate"), structured, False, "")
    assert reading.status == status
    if "waited_s" in structured:
        assert "45 s so far" in reading.message


@pytest.mark.parametrize("ref", REFS, ids=tk.task_id)
@pytest.mark.parametrize(
    ("text", "known"),
    [
        ("E_UNKNOWN_TRANSFER: data has no transfer x. Fix: list.", False),
        ("E_ARG: bad. Fix: x.", False),
        ("E_GROUP: Unknown node group. Fix: x.", False),
        ("E_JOBID: bad id. Fix: x.", False),
        ("E_SSH_CONNECT: cannot reach pilogin. Fix: retry.", True),
        ("E_CERT_EXPIRED: the certificate expired. Fix: request_certificate.", True),
        ("E_INTERNAL: boom.", True),
        ("not coded at all", True),
    ],
)
def test_a_failed_check_keeps_the_task_working_unless_the_work_is_unknown(
    ref: tk.TaskRef, text: str, known: bool
) -> None:
    reading = tk.read_result(ref, None, True, text)
    assert reading.status == "working" and reading.known is known
    assert text in reading.message


def test_error_codes_are_read_from_the_coded_form_only() -> None:
    assert tk.error_code("E_SSH: x") == "E_SSH"
    assert tk.error_code("x E_SSH: x") is None
    assert tk.error_code("E_ssh: x") is None


def test_no_reading_is_ever_failed_or_cancelled() -> None:
    """failed is left to protocol errors, cancelled to a consented tasks/cancel: the work never reads as either."""
    samples: list[Any] = [None, {}, {"done": True}, {"transfer": {"state": "cancelled"}}, {"status": "denied"}]
    for ref, structured, is_error in itertools.product(REFS, samples, (False, True)):
        assert tk.read_result(ref, structured, is_error, "E_X: y", 1e9).status in ("working", "completed")


# -- cancelling ---------------------------------------------------------------------------------------------------


def test_cancel_maps_to_the_consent_gated_tool_calls() -> None:
    assert tk.cancel_call(tk.SlurmTask("sy", ("7", "8"))) == (
        "run_slurm",
        {"command": "scancel", "node_group": "sy", "job_ids": ["7", "8"], "confirm": True},
    )
    assert tk.cancel_call(tk.TransferTask("data-0123456789ab", True)) == (
        "transfer_data",
        {"action": "cancel", "transfer_id": "data-0123456789ab", "confirm": True},
    )
    assert tk.cancel_call(tk.ApprovalTask("certificate")) is None
    assert tk.cancel_call(tk.ApprovalTask("update_user")) is None


@pytest.mark.parametrize("ref", REFS, ids=tk.task_id)
def test_the_hint_says_nothing_was_cancelled_and_what_would_cancel(ref: tk.TaskRef) -> None:
    hint = tk.cancel_hint(ref)
    if isinstance(ref, tk.ApprovalTask):
        assert "declines the approval" in hint
    else:
        assert hint.startswith("Nothing was cancelled: that needs the person's consent.")
        assert "confirm=true" in hint
    if isinstance(ref, tk.SlurmTask):
        assert f"job_ids=[{','.join(ref.job_ids)}]" in hint and f"node_group={ref.node_group}" in hint


@pytest.mark.parametrize("ref", [r for r in REFS if not isinstance(r, tk.ApprovalTask)], ids=tk.task_id)
def test_the_question_is_a_form_elicitation_naming_the_work(ref: tk.TaskRef) -> None:
    q = tk.consent_request(ref)
    assert q["method"] == "elicitation/create" and q["params"]["mode"] == "form"
    schema = q["params"]["requestedSchema"]
    assert schema["required"] == ["approve"] and schema["properties"]["approve"]["type"] == "boolean"
    named = ref.job_ids if isinstance(ref, tk.SlurmTask) else (ref.transfer_id,)  # type: ignore[union-attr]
    assert all(n in q["params"]["message"] for n in named)


def test_question_keys_are_never_reused() -> None:
    keys = [tk.consent_key(n) for n in range(50)]
    assert len(set(keys)) == 50 and keys[0] == "cancel-consent-1"


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ({"action": "accept", "content": {"approve": True}}, "approve"),
        ({"action": "accept", "content": {"approve": False}}, "decline"),
        ({"action": "accept", "content": {"approve": "true"}}, "decline"),
        ({"action": "accept", "content": {"approve": 1}}, "decline"),
        ({"action": "accept", "content": {}}, "decline"),
        ({"action": "accept"}, "decline"),
        ({"action": "decline"}, "decline"),
        ({"action": "cancel"}, "decline"),
        ({"action": "decline", "content": {"approve": True}}, "decline"),
        ({"action": "other", "content": {"approve": True}}, None),
        ({"content": {"approve": True}}, None),
        ({}, None),
        (None, None),
        ("accept", None),
        (["accept"], None),
    ],
)
def test_only_an_accepted_yes_is_consent(response: Any, answer: str | None) -> None:
    assert tk.consent_answer(response) == answer


# -- the wire objects ---------------------------------------------------------------------------------------------

BASE = {"created": "2026-07-28T10:00:00Z", "updated": "2026-07-28T10:05:00Z"}


@pytest.mark.parametrize("ref", REFS, ids=tk.task_id)
@pytest.mark.parametrize("status", tk.STATUSES)
def test_a_task_carries_exactly_its_statuss_fields(ref: tk.TaskRef, status: tk.Status) -> None:
    task = tk.task_object(
        ref,
        status,
        message="m",
        result={"content": [], "isError": False},
        error={"code": -32603, "message": "x"},
        input_requests={"k": {"method": "elicitation/create"}},
        **BASE,
    )
    common = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs", "statusMessage"}
    extra = {"completed": {"result"}, "failed": {"error"}, "input_required": {"inputRequests"}}.get(status, set())
    assert set(task) == common | extra
    assert task["taskId"] == tk.task_id(ref) and task["status"] == status
    assert task["createdAt"] == BASE["created"] and task["lastUpdatedAt"] == BASE["updated"]
    assert "resultType" not in task  # tasks/get's resultType is "complete": the SDK stamps it


def test_a_failed_task_always_has_an_error_and_no_message_is_left_out() -> None:
    task = tk.task_object(tk.SlurmTask("pi", ("1",)), "failed", **BASE)
    assert task["error"] == {"code": -32603, "message": "Internal error"} and "statusMessage" not in task
    assert tk.task_object(tk.SlurmTask("pi", ("1",)), "completed", **BASE)["result"] == {}


def test_the_created_task_is_marked_as_a_task() -> None:
    task = tk.task_object(tk.TransferTask("data-0123456789ab"), "working", message="m", **BASE)
    created = tk.created_task(task)
    assert created["resultType"] == "task" and {k: v for k, v in created.items() if k != "resultType"} == task


def test_the_extension_and_statuses_are_the_specs() -> None:
    assert tk.EXTENSION == "io.modelcontextprotocol/tasks"
    assert set(tk.STATUSES) == {"working", "input_required", "completed", "failed", "cancelled"}
    assert tk.TERMINAL == {"completed", "failed", "cancelled"}
