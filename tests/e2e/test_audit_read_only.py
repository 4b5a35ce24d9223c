"""The audit trail and the read-only mode through a real stdio client (issue 11, items 6 and 7)."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.types import Implementation

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import LOGIN, call, error, node_shell, server_args
from lab.api_double import DoubleState, run_double
from sjtu_hpc_mcp.core.slurm.results import Command

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
CLIENT = Implementation(name="audit-check", version="1.2.3")


@pytest.fixture
def double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"], auto_approve_after=0.3) as pair:
        yield pair


async def test_every_changing_act_leaves_one_audit_line(
    lab: dict[str, Any], double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, _ = double
    tag = "aud" + uuid.uuid4().hex[:8]
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])), token=None)
    pw = tmp_path / "pw.txt"
    pw.write_text("lab-password-1\n")
    args = server_args(lab, workspace, "--api-url", url, "--approval-wait", "5")
    expected: list[tuple[str, bool]] = []  # (act, ok) in order
    async with stdio_server(args, client_info=CLIENT) as c, node_shell(lab) as sh:
        try:
            await call(c, "request_token", username="hpcrobot", password_file=str(pw))
            expected.append(("token", True))
            await call(c, "request_certificate", valid_time=3600, force=True)
            expected.append(("certificate", True))
            sub = await call(
                c, "run_slurm", command="sbatch", partition="debug", script="#!/bin/bash\nsleep 60\n",
                options={"job_name": tag},
            )  # fmt: skip
            job = sub["submission"]["job_id"]
            expected.append(("sbatch", True))
            await call(c, "run_slurm", command="squeue", partition="debug", job_ids=[job])  # a read: no line
            await call(c, "run_slurm", command="scancel", partition="debug", job_ids=[job])  # a preview
            expected.append(("scancel", True))
            await call(c, "run_slurm", command="scancel", partition="debug", job_ids=[job], confirm=True)
            expected.append(("scancel", True))
            await call(c, "manage_storage", action="mkdir", path=f"lustre:{tag}/x")
            expected.append(("mkdir", True))
            await sh(f"echo data > ~/{tag}/x/f")
            await call(
                c, "transfer_data", action="start", source=f"lustre:{tag}/x", destination=f"vault:{tag}", wait_s=10
            )
            expected.append(("transfer_start", True))
            await call(c, "manage_storage", action="remove", path=f"lustre:{tag}")
            expected.append(("remove", True))
            await call(c, "manage_storage", action="remove", path=f"lustre:{tag}", confirm=True)
            expected.append(("remove", True))
            assert (await error(c, "manage_storage", action="remove", path="/etc", confirm=True)).startswith("E_")
            expected.append(("remove", False))
            await call(c, "update_user", email="new@sjtu.edu.cn")
            expected.append(("update_user", True))
            await call(c, "manage_storage", action="free")  # reads: no line
            await call(c, "credential_status")
            recent = await c.read_resource("sjtu-hpc://audit/recent")
        finally:
            await sh(f"rm -rf ~/{tag} /vault/home/acct-hpc/hpcrobot/{tag}", check=False)
    path = workspace / "audit.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "lab-password-1" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["act"], r["outcome"]["ok"]) for r in records] == expected
    for r in records:
        assert set(r) >= {"time", "tool", "act", "arguments", "client", "node", "outcome"}
        assert r["client"] == {"name": "audit-check", "version": "1.2.3"}
    by_act = {r["act"]: r for r in records}
    assert by_act["sbatch"]["node"] == LOGIN["pi"] and by_act["sbatch"]["outcome"]["submission_job_id"] == job
    assert by_act["mkdir"]["node"] == "data.hpc.sjtu.edu.cn"
    assert by_act["token"]["arguments"]["password_file"] == str(pw) and by_act["token"]["outcome"]["status"] == "issued"
    assert records[3]["outcome"]["cancelled"] is False and records[3]["arguments"].get("confirm") is None
    assert records[4]["outcome"]["cancelled"] is True and records[4]["arguments"]["confirm"] is True
    assert records[9]["outcome"]["error"].startswith("E_PATH")
    shown = json.loads(recent.contents[0].text)  # type: ignore[union-attr]
    assert shown["entries"] == records[-20:] and shown["file"] == str(path)


READ_COMMANDS = {"sinfo", "squeue", "sacct", "seff", "job_output", "wait", "modules", "since"}


async def test_read_only_lists_and_runs_only_what_reads(lab: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    tag = "ro" + uuid.uuid4().hex[:8]
    async with stdio_server(server_args(lab, workspace, "--read-only")) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == {
            "credential_status",
            "get_user",
            "query_quota",
            "run_slurm",
            "transfer_data",
            "manage_storage",
        }
        for t in tools.values():
            assert t.annotations is not None and t.annotations.read_only_hint is True, t.name
            assert t.annotations.destructive_hint is False and "confirm" not in t.input_schema["properties"], t.name
        assert set(tools["run_slurm"].input_schema["properties"]["command"]["enum"]) == READ_COMMANDS
        assert READ_COMMANDS < set(Command.__args__)  # type: ignore[attr-defined]
        assert set(tools["transfer_data"].input_schema["properties"]["action"]["enum"]) == {"status", "list"}
        assert set(tools["manage_storage"].input_schema["properties"]["action"]["enum"]) == {
            "list",
            "read",
            "stat",
            "usage",
            "free",
        }
        for tool, args in (
            ("run_slurm", {"command": "sbatch", "partition": "debug", "script": "#!/bin/bash\ntrue\n"}),
            ("run_slurm", {"command": "scancel", "node_group": "pi", "job_ids": ["1"], "confirm": True}),
            ("manage_storage", {"action": "mkdir", "path": f"lustre:{tag}"}),
            ("manage_storage", {"action": "remove", "path": f"lustre:{tag}", "confirm": True}),
            ("transfer_data", {"action": "start", "source": f"lustre:{tag}", "destination": "cold"}),
            ("transfer_data", {"action": "cancel", "transfer_id": "data-000000000000", "confirm": True}),
            ("request_token", {"username": "hpcrobot"}),
            ("request_certificate", {}),
            ("update_user", {"email": "a@b.c", "confirm": True}),
        ):
            text = await error(c, tool, **args)
            assert text.startswith("E_READ_ONLY: ") and "--read-only" in text, text
        assert (await call(c, "run_slurm", command="sinfo", partition="cpu"))["host"] == "pilogin"
        assert "No job" in (await call(c, "run_slurm", command="since"))["summary"]  # writes only the seen mark
        assert (await call(c, "manage_storage", action="free"))["node"]
        await call(c, "transfer_data", action="list")
    assert not Path(f"{lab['home']}/{tag}").exists()
    records = [json.loads(line) for line in (workspace / "audit.jsonl").read_text().splitlines()]
    assert len(records) == 9 and all(r["outcome"]["error"].startswith("E_READ_ONLY") for r in records)
