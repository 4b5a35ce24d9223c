"""run_slurm through a real stdio client against the lab: routing, jobs end to end, consent, attacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, make_user_cert, stdio_server

pytestmark = [pytest.mark.lab, pytest.mark.anyio]


def server_args(lab: dict[str, Any], workspace: Path) -> list[str]:
    return ["--workspace", str(workspace), "--known-hosts", lab["known_hosts"], "--host-map", lab["host_map"]]


@pytest.fixture
async def client(lab: dict[str, Any], workspace: Path) -> AsyncIterator[Client]:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    async with stdio_server(server_args(lab, workspace)) as c:
        yield c


async def call(client: Client, **args: Any) -> dict[str, Any]:
    r = await client.call_tool("run_slurm", args)
    text = "".join(getattr(c, "text", "") for c in r.content)
    assert not r.is_error, text
    assert r.structured_content is not None
    return r.structured_content


async def error(client: Client, **args: Any) -> str:
    r = await client.call_tool("run_slurm", args)
    text = "".join(getattr(c, "text", "") for c in r.content)
    assert r.is_error, text
    return text


async def test_sinfo_and_credential_status_show_the_nodes_slurm_release(client: Client, lab: dict[str, Any]) -> None:
    """Detected once per connection (SshPool.slurm_version) and shown where the person looks."""
    from integration.test_slurm_version import expected_release

    want = expected_release(lab)  # 24.11: the full version is shown, e.g. 24.11.5
    r = await call(client, command="sinfo", node_group="sy")
    assert r["slurm"].startswith(want + "."), r["slurm"]
    status = (await client.call_tool("credential_status", {})).structured_content
    assert status is not None and status["slurm"] == {r["node"]: r["slurm"]}


@pytest.mark.parametrize(
    ("args", "node", "host"),
    [
        ({"partition": "a100"}, "sylogin.hpc.sjtu.edu.cn", "sylogin"),
        ({"partition": "cpu"}, "pilogin.hpc.sjtu.edu.cn", "pilogin"),
        ({"partition": "arm128c256g"}, "armlogin.hpc.sjtu.edu.cn", "armlogin"),
        ({"node_group": "sy"}, "sylogin.hpc.sjtu.edu.cn", "sylogin"),
    ],
)
async def test_sinfo_runs_on_the_partitions_login_node(
    client: Client, args: dict[str, Any], node: str, host: str
) -> None:
    r = await call(client, command="sinfo", **args)
    assert r["node"] == node and r["host"] == host
    names = [row[0].rstrip("*") for row in r["table"]["rows"]]
    if "partition" in args:
        assert names == [args["partition"]]
    else:  # a login node reports only its own node group's partitions
        assert set(names) == {
            "small",
            "64c512g",
            "el9",
            "debug64c512g",
            "win32",
            "a100",
            "a800",
            "debug100",
            "debuga100",
        }
    cols = r["table"]["columns"]
    if args.get("partition") == "a100":
        assert r["table"]["rows"][0][cols.index("gpus_per_node")].startswith("a100:4")


async def test_partition_of_another_group_is_refused(client: Client) -> None:
    text = await error(client, command="sinfo", partition="a100", node_group="pi")
    assert "E_WRONG_GROUP" in text
    assert "E_PARTITION" in await error(client, command="sinfo", partition="gpu")


async def wait_for(client: Client, job_id: str, states: set[str], node_group: str = "pi") -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = await call(client, command="sacct", node_group=node_group, job_ids=[job_id])
        rows = r["table"].get("rows", [])  # a table without rows is just its total
        if rows and rows[0][3].split()[0] in states:
            return r
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {states}")


async def test_job_lifecycle_exit_code_and_seff(client: Client) -> None:
    sub = await call(
        client,
        command="sbatch",
        partition="cpu",
        script="#!/bin/bash\necho hello-from-job\nsleep 2\nexit 7\n",
        options={"job_name": "mcp-e2e", "time": "5", "mem": "100M"},
    )
    job_id = sub["submission"]["job_id"]
    assert sub["node"] == "pilogin.hpc.sjtu.edu.cn" and job_id.isdigit()
    q = await call(client, command="squeue", partition="cpu", job_ids=[job_id])
    assert [row[0] for row in q["table"]["rows"]] == [job_id]
    done = await wait_for(client, job_id, {"FAILED"})
    cols = done["table"]["columns"]
    assert done["table"]["rows"][0][cols.index("exit")] == "7:0"
    out = await call(client, command="job_output", partition="cpu", job_ids=[job_id])
    assert "hello-from-job" in out["output"]["text"]
    eff = await call(client, command="seff", partition="cpu", job_ids=[job_id])
    assert eff["efficiency"]["state"] == "FAILED" and eff["efficiency"]["exit_code"] == 7
    assert eff["efficiency"]["efficiency_available"]


async def test_test_only_submits_nothing(client: Client) -> None:
    r = await call(
        client,
        command="sbatch",
        partition="a100",
        script="#!/bin/bash\nhostname\n",
        test_only=True,
        options={"gpus": 1, "time": "10"},
    )
    assert r["node"] == "sylogin.hpc.sjtu.edu.cn"
    assert r["submission"]["test_only"] and r["submission"].get("job_id") is None
    assert r["submission"]["estimated_start"]


async def test_scancel_needs_confirm(client: Client) -> None:
    sub = await call(
        client,
        command="sbatch",
        partition="cpu",
        script="#!/bin/bash\nsleep 300\n",
        options={"job_name": "mcp-cancel-me", "time": "10"},
    )
    job_id = sub["submission"]["job_id"]
    preview = await call(client, command="scancel", partition="cpu", job_ids=[job_id])
    assert preview["cancelled"] is False and preview["table"]["rows"][0][0] == job_id
    q = await call(client, command="squeue", node_group="pi", job_ids=[job_id])
    assert q["table"]["rows"][0][2] in ("PENDING", "RUNNING")
    done = await call(client, command="scancel", partition="cpu", job_ids=[job_id], confirm=True)
    assert done["cancelled"] is True
    await wait_for(client, job_id, {"CANCELLED"})


async def test_cold_storage_script_is_refused_before_anything_runs(client: Client, lab: dict[str, Any]) -> None:
    marker = f"{lab['home']}/cold-marker-{time.time_ns()}"
    text = await error(
        client,
        command="sbatch",
        partition="cpu",
        script=f"#!/bin/bash\ntouch {marker}\ncat /archive/home/acct-hpc/hpcrobot/data.csv\n",
    )
    assert "E_COLD_STORAGE" in text and "transfer_data" in text
    assert not Path(marker).exists()


HOSTILE = ["x; touch /tmp/pwned", "$(id)", "`id`", "--wrap=id", "a\nb", "../../etc/passwd", "-x"]


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_values_are_refused_or_inert(client: Client, value: str) -> None:
    Path("/tmp/pwned").unlink(missing_ok=True)
    for args in (
        {"command": "squeue", "node_group": "pi", "name": value},
        {"command": "sacct", "node_group": "pi", "start": value},
        {"command": "squeue", "node_group": "pi", "states": [value]},
        {"command": "sinfo", "partition": value},
        {"command": "seff", "node_group": "pi", "job_ids": [value]},
        {"command": "sbatch", "partition": "cpu", "script": "#!/bin/bash\ntrue\n", "options": {"job_name": value}},
        {"command": "sbatch", "partition": "cpu", "script": "#!/bin/bash\ntrue\n", "options": {"output": value}},
        {"command": "sbatch", "partition": "cpu", "script": "#!/bin/bash\ntrue\n", "options": {"time": value}},
        {"command": "scancel", "node_group": "pi", "name": value, "confirm": True},
    ):
        r = await client.call_tool("run_slurm", args)
        assert r.is_error, (args, r.content)
    assert not Path("/tmp/pwned").exists()


async def test_scancel_asks_the_person_where_the_client_can(lab: dict[str, Any], workspace: Path) -> None:
    from mcp.client.context import ClientRequestContext
    from mcp.types import ElicitRequestParams, ElicitResult

    answers = ["decline", "accept"]
    asked: list[str] = []

    async def person(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        action = answers.pop(0)
        return ElicitResult(action=action, content={"approve": True} if action == "accept" else None)  # type: ignore[arg-type]

    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    async with stdio_server(server_args(lab, workspace), mode="legacy", elicitation_callback=person) as c:
        sub = await call(
            c, command="sbatch", partition="cpu", script="#!/bin/bash\nsleep 300\n", options={"time": "10"}
        )
        job_id = sub["submission"]["job_id"]
        declined = await call(c, command="scancel", partition="cpu", job_ids=[job_id], confirm=True)
        assert declined["cancelled"] is False and "declined" in declined["summary"]
        q = await call(c, command="squeue", node_group="pi", job_ids=[job_id])
        assert q["table"].get("rows"), "the job must still be there"
        done = await call(c, command="scancel", partition="cpu", job_ids=[job_id], confirm=True)
        assert done["cancelled"] is True
    assert len(asked) == 2 and job_id in asked[0]


async def test_the_job_script_is_uploaded_with_mode_0700(client: Client, lab: dict[str, Any]) -> None:
    """README: job scripts go to ~/.sjtu-hpc-mcp/jobs/ in the login node's home, with mode 0700."""
    from e2e.lab_helpers import LOGIN, node_shell

    r = await call(client, command="sbatch", partition="debug", script="#!/bin/bash\ntrue\n", test_only=True)
    path = r["submission"]["script_path"]
    assert path.startswith(lab["home"] + "/.sjtu-hpc-mcp/jobs/"), path
    async with node_shell(lab, LOGIN["pi"]) as sh:
        try:
            assert (await sh(f"stat -c %a {path}")).strip() == "700"
        finally:
            await sh(f"rm -f {path}", check=False)


@pytest.mark.parametrize("prewarm", ["true", "false"])
async def test_the_last_used_entry_node_is_connected_at_start_up(
    lab: dict[str, Any], workspace: Path, tmp_path: Path, prewarm: str
) -> None:
    """README: the server connects to credentials/last_entry_node in the background at start-up, before any
    call (`--prewarm false` turns it off)."""
    creds = install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    (creds / "last_entry_node").write_text("sylogin.hpc.sjtu.edu.cn\n")  # not the default (pilogin)
    log = tmp_path / "server.log"
    args = [*server_args(lab, workspace), "--log-level", "INFO", "--prewarm", prewarm]
    async with stdio_server(args, stderr_path=log):  # initialize only: no tool is called
        deadline = time.monotonic() + (10 if prewarm == "true" else 1.5)
        while "connected to sylogin" not in log.read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        text = log.read_text()
    assert ("connected to sylogin" in text) == (prewarm == "true"), text
    assert "connected to pilogin" not in text, text
