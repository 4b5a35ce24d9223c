"""Policy conformance through the tools (issue 11, item 8): one row per rule of docs/platform.md#rules and per
consent rule, each exercised over a real stdio client against the lab, so a change that breaks a rule fails.

tests/unit/test_data_policy.py checks the same data rules on the pure functions; these rows check that the
tools really ask the policy and that the lab (the platform's stand-in) behaves as the rule says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, load_lab, make_user_cert, stdio_server
from e2e.lab_helpers import DATA, DATA_NODES, LOGIN, SYDATA, call, error, node_shell, server_args
from sjtu_hpc_mcp.core import consent
from sjtu_hpc_mcp.core.consent import ACTS

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
TAG = "pc" + uuid.uuid4().hex[:8]
PERSON = {"action": "accept"}  # what the person answers when the server asks (elicitation)


@dataclass
class Env:
    client: Client
    lab: dict[str, Any]
    sh: Callable[..., Awaitable[str]]
    rel: str
    home: str
    ws: Path  # the server's workspace, for a row that needs a server of its own
    person: Any  # the elicitation callback (answers PERSON["action"])


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def env(anyio_backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    from mcp.client.context import ClientRequestContext
    from mcp.types import ElicitRequestParams, ElicitResult

    lab = load_lab()
    ws = tmp_path_factory.mktemp("conformance") / "workspace"
    ws.mkdir()
    install_credentials(ws, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))

    async def person(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        action = PERSON["action"]
        return ElicitResult(action=action, content={"approve": True} if action == "accept" else None)  # type: ignore[arg-type]

    rel = lab["home"].split("/", 2)[2]
    async with (
        node_shell(lab, DATA) as sh,
        stdio_server(server_args(lab, ws), mode="legacy", elicitation_callback=person) as client,
    ):
        await sh(f"mkdir -p {lab['home']}/{TAG}")
        try:
            yield Env(client, lab, sh, rel, lab["home"], ws, person)
        finally:
            pools = ("lustre", "archive", "vault")
            await sh(" ".join(["rm -rf --", *(f"/{p}/{rel}/{TAG}*" for p in pools)]), check=False)


RULES: dict[str, Callable[[Env], Awaitable[None]]] = {}
ACTS_COVERED: set[str] = set()


def rule(name: str, acts: tuple[str, ...] = ()) -> Callable[[Callable[[Env], Awaitable[None]]], Any]:
    def add(fn: Callable[[Env], Awaitable[None]]) -> Callable[[Env], Awaitable[None]]:
        RULES[name] = fn
        ACTS_COVERED.update(acts)
        return fn

    return add


# -- §3 node groups, partitions, entry nodes -----------------------------------------------------------

PARTITION_NODE = {
    "cpu": "pi",
    "debug": "pi",
    "dgx2": "pi",
    "huge": "pi",
    "192c6t": "pi",
    "debugarm": "kp",
    "arm128c256g": "kp",
    "scnet_arm": "kp",
    "small": "sy",
    "64c512g": "sy",
    "el9": "sy",
    "debug64c512g": "sy",
    "win32": "sy",
    "a100": "sy",
    "a800": "sy",
    "debug100": "sy",
    "debuga100": "sy",
}


@rule("§3 the job entry node follows from the partition (every partition of the table)")
async def _partitions(e: Env) -> None:
    for partition, group in PARTITION_NODE.items():
        r = await call(e.client, "run_slurm", command="sinfo", partition=partition)
        assert r["node"] == LOGIN[group], (partition, r["node"])
        assert r["host"] == LOGIN[group].split(".")[0]


@rule("§3 the job entry node follows from the node group")
async def _groups(e: Env) -> None:
    for group, node in LOGIN.items():
        r = await call(e.client, "run_slurm", command="squeue", node_group=group)
        assert r["node"] == node


@rule("§3 an entry node submits only to its own group's partitions")
async def _wrong_group(e: Env) -> None:
    for partition, group in (("a100", "pi"), ("cpu", "sy"), ("arm128c256g", "pi")):
        text = await error(
            e.client, "run_slurm", command="sbatch", partition=partition, node_group=group, script="true"
        )
        assert text.startswith("E_WRONG_GROUP"), text


@rule("§3 there is no default cluster: a request names a partition or node group")
async def _no_default(e: Env) -> None:
    assert (await error(e.client, "run_slurm", command="squeue")).startswith("E_GROUP_NEEDED")


@rule("§3 data business: /lustre (pi, kp) goes to data, /dssg (sy) to sydata")
async def _data_nodes(e: Env) -> None:
    assert (await call(e.client, "manage_storage", action="list", path="lustre:"))["node"] == DATA
    assert (await call(e.client, "manage_storage", action="usage", path="dssg:"))["node"] == SYDATA


@rule("§3 data nodes are for transfers only: no Slurm request and no tool argument reaches a host")
async def _data_nodes_no_jobs(e: Env) -> None:
    for tool in (await e.client.list_tools()).tools:
        props = set(tool.input_schema.get("properties", {}))
        assert not props & {"host", "node", "hostname", "address", "command_line"}, (tool.name, props)
    for group in LOGIN:
        r = await call(e.client, "run_slurm", command="sacct", node_group=group)
        assert r["node"] not in DATA_NODES


@rule("§3 the docs' partition limits are hints: sbatch warns instead of refusing")
async def _limits(e: Env) -> None:
    r = await call(
        e.client,
        "run_slurm",
        command="sbatch",
        partition="debug",
        script="#!/bin/bash\ntrue\n",
        options={"time": "2:00:00"},
        test_only=True,
    )
    assert any("debug" in w and "minutes" in w for w in r["submission"]["warnings"]), r


# -- §4 storage ----------------------------------------------------------------------------------------


@rule("§4 cold pools are written only on data nodes (and really are read-only on login nodes)")
async def _cold_writes(e: Env) -> None:
    for path in (f"archive:{TAG}/w", f"vault:{TAG}/w", f"/union/{e.rel}/{TAG}/w"):
        assert (await call(e.client, "manage_storage", action="mkdir", path=path))["node"] in DATA_NODES
    async with node_shell(e.lab, LOGIN["pi"]) as login:
        out = await login(f"touch /archive/{e.rel}/{TAG}-login 2>&1 || echo refused", check=False)
        assert "refused" in out and "Read-only" in out


@rule("§4 a job never reads cold storage (paths, .., $ARCHIVE/$VAULT/$UNION, options)")
async def _jobs_not_cold(e: Env) -> None:
    for script in (
        f"cat /archive/{e.rel}/x\n",
        "cp $VAULT/x .\n",
        "ls ${UNION}\n",
        f"cat /lustre/../vault/{e.rel}/x\n",
    ):
        text = await error(e.client, "run_slurm", command="sbatch", partition="cpu", script=script)
        assert text.startswith("E_COLD_STORAGE"), text
    text = await error(
        e.client, "run_slurm", command="sbatch", partition="cpu", script="true\n", options={"chdir": "/archive/x"}
    )
    assert "E_COLD_STORAGE" in text or text.startswith("E_ARG"), text


@rule("§4 before writing cold storage the pool with the most free space is picked")
async def _most_free(e: Env) -> None:
    r = await call(e.client, "manage_storage", action="free")
    free = {row[0]: row[2] for row in r["free"]["rows"]}
    best = max(("/archive", "/vault"), key=lambda p: free[p])
    assert f"{best} has the most free space" in r["summary"], (free, r["summary"])
    await e.sh(f"mkdir -p {e.home}/{TAG}/c && echo x > {e.home}/{TAG}/c/f")
    start = await call(
        e.client, "transfer_data", action="start", source=f"lustre:{TAG}/c", destination="cold", wait_s=10
    )
    assert start["transfer"]["destination"].startswith(best + "/"), start


@rule("§4 cold data without a named pool is read through /union")
async def _union(e: Env) -> None:
    r = await call(e.client, "manage_storage", action="list", path="cold:")
    assert r["path"] == f"/union/{e.rel}"


@rule("§4 a personal path is the same in every pool")
async def _same_path(e: Env) -> None:
    for pool in ("lustre", "archive", "vault", "union"):
        r = await call(e.client, "manage_storage", action="usage", path=f"{pool}:")
        assert r["path"] == f"/{pool}/{e.rel}"


@rule("§4 nothing outside the person's own folders (.., another account, symlink escape)")
async def _own_folders(e: Env) -> None:
    await e.sh(f"ln -sfn /lustre/home/acct-other {e.home}/{TAG}/escape")
    for path in ("lustre:../../acct-other/otheruser", "/lustre/home/acct-other/otheruser", f"lustre:{TAG}/escape"):
        text = await error(e.client, "manage_storage", action="list", path=path)
        assert text.startswith("E_NOT_YOURS"), text


@rule("§4 large transfers run on a data node in tmux (rsync), surviving the connection")
async def _tmux(e: Env) -> None:
    await e.sh(f"mkdir -p {e.home}/{TAG}/t && head -c 100000 /dev/urandom > {e.home}/{TAG}/t/f")
    r = await call(e.client, "transfer_data", action="start", source=f"lustre:{TAG}/t", destination=f"vault:{TAG}/t")
    tid = r["transfer"]["id"]
    assert r["node"] == DATA
    deadline = time.monotonic() + 30
    while (await call(e.client, "transfer_data", action="status", transfer_id=tid))["transfer"]["state"] == "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    meta = await e.sh(f"cat ~/.sjtu-hpc-mcp/transfers/{tid}/meta.json")
    assert "rsync" in meta or tid in meta


@rule("§4 at most 10 parallel streams")
async def _streams(e: Env) -> None:
    text = await error(
        e.client, "transfer_data", action="start", source=f"lustre:{TAG}", destination="cold", streams=11
    )
    assert text.startswith("E_ARG"), text


# -- §5 Slurm and the consent rules --------------------------------------------------------------------


@rule("§5 sacct shows the last 24 h by default")
async def _sacct(e: Env) -> None:
    r = await call(e.client, "run_slurm", command="sacct", node_group="pi")
    assert "the last 24 h" in r["summary"]


@rule("consent: scancel without confirm only previews; with it (and the person's yes) cancels", acts=("scancel",))
async def _scancel(e: Env) -> None:
    sub = await call(
        e.client, "run_slurm", command="sbatch", partition="debug", script="#!/bin/bash\nsleep 300\n",
        options={"job_name": TAG, "time": "5"},
    )  # fmt: skip
    job = sub["submission"]["job_id"]
    try:
        r = await call(e.client, "run_slurm", command="scancel", partition="debug", job_ids=[job])
        assert r["cancelled"] is False
        q = await call(e.client, "run_slurm", command="squeue", partition="debug", job_ids=[job])
        assert q["table"].get("rows")
        PERSON["action"] = "decline"
        r = await call(e.client, "run_slurm", command="scancel", partition="debug", job_ids=[job], confirm=True)
        assert r["cancelled"] is False
    finally:
        PERSON["action"] = "accept"
        r = await call(e.client, "run_slurm", command="scancel", partition="debug", job_ids=[job], confirm=True)
    assert r["cancelled"] is True


@rule("consent: update_user without confirm only previews", acts=("update_user",))
async def _update_user(e: Env) -> None:
    r = await call(e.client, "update_user", email="new@sjtu.edu.cn")
    assert r["status"] == "preview" and "Nothing changed" in r["message"]


@rule("consent: remove (delete) needs confirm; a declined confirm deletes nothing", acts=("remove",))
async def _remove(e: Env) -> None:
    await e.sh(f"mkdir -p {e.home}/{TAG}/r && echo keep > {e.home}/{TAG}/r/f")
    r = await call(e.client, "manage_storage", action="remove", path=f"lustre:{TAG}/r")
    assert r["removed"] is False
    PERSON["action"] = "decline"
    try:
        r = await call(e.client, "manage_storage", action="remove", path=f"lustre:{TAG}/r", confirm=True)
    finally:
        PERSON["action"] = "accept"
    assert r["removed"] is False
    assert (await e.sh(f"cat {e.home}/{TAG}/r/f")).strip() == "keep"
    assert (await call(e.client, "manage_storage", action="remove", path=f"lustre:{TAG}/r", confirm=True))["removed"]


@rule("consent: a transfer that would overwrite different files needs confirm", acts=("overwrite",))
async def _overwrite(e: Env) -> None:
    await e.sh(f"mkdir -p {e.home}/{TAG}/o /vault/{e.rel}/{TAG}/o && echo new > {e.home}/{TAG}/o/f")
    await e.sh(f"echo old-content > /vault/{e.rel}/{TAG}/o/f")
    r = await call(e.client, "transfer_data", action="start", source=f"lustre:{TAG}/o", destination=f"vault:{TAG}/o")
    assert r["would_overwrite"] == ["f"] and r.get("transfer") is None
    assert (await e.sh(f"cat /vault/{e.rel}/{TAG}/o/f")).strip() == "old-content"
    PERSON["action"] = "decline"
    try:
        r = await call(
            e.client, "transfer_data", action="start", source=f"lustre:{TAG}/o", destination=f"vault:{TAG}/o",
            confirm=True,
        )  # fmt: skip
    finally:
        PERSON["action"] = "accept"
    assert r["summary"] == consent.say("overwrite", "declined") and r.get("transfer") is None, r
    assert (await e.sh(f"cat /vault/{e.rel}/{TAG}/o/f")).strip() == "old-content"


@rule("consent: a move (deletes its source) needs confirm", acts=("move",))
async def _move(e: Env) -> None:
    await e.sh(f"mkdir -p {e.home}/{TAG}/m && echo m > {e.home}/{TAG}/m/f")
    r = await call(
        e.client, "transfer_data", action="start", source=f"lustre:{TAG}/m", destination=f"archive:{TAG}/m", mode="move"
    )
    assert "Would move" in r["summary"] and r.get("transfer") is None
    assert (await e.sh(f"cat {e.home}/{TAG}/m/f")).strip() == "m"
    PERSON["action"] = "decline"
    try:
        r = await call(
            e.client, "transfer_data", action="start", source=f"lustre:{TAG}/m", destination=f"archive:{TAG}/m",
            mode="move", confirm=True,
        )  # fmt: skip
    finally:
        PERSON["action"] = "accept"
    assert r["summary"] == consent.say("move", "declined") and r.get("transfer") is None, r
    assert (await e.sh(f"cat {e.home}/{TAG}/m/f")).strip() == "m"
    assert (await e.sh(f"test -e /archive/{e.rel}/{TAG}/m && echo there || echo absent")).strip() == "absent"


BWLIMIT_KIB = 400  # --transfer-bwlimit (KiB/s per stream) of the cancel row's server
CANCEL_BYTES = 4 << 20  # one stream: about 10 s at BWLIMIT_KIB, so it is running at every cancel below


@rule(
    "consent: cancelling a running transfer needs confirm; a declined confirm leaves it running",
    acts=("cancel_transfer",),
)
async def _cancel_transfer(e: Env) -> None:
    await e.sh(f"mkdir -p {e.home}/{TAG}/k && head -c {CANCEL_BYTES} /dev/urandom > {e.home}/{TAG}/k/big")
    args = server_args(e.lab, e.ws, "--transfer-bwlimit", str(BWLIMIT_KIB))
    async with stdio_server(args, mode="legacy", elicitation_callback=e.person) as client:
        r = await call(client, "transfer_data", action="start", source=f"lustre:{TAG}/k", destination=f"vault:{TAG}/k")
        tid = r["transfer"]["id"]

        async def rsync_lines() -> str:
            return await e.sh(f"pgrep -af '[r]sync.*partial-dir=.*{tid}' || true")

        async def assert_running() -> None:
            """Right before a cancel: the throttled rsync is on the node and has not copied everything."""
            deadline = time.monotonic() + 15  # tmux and the stream may take a moment to start
            while f"--bwlimit={BWLIMIT_KIB}" not in await rsync_lines():
                assert time.monotonic() < deadline, "the throttled rsync never showed up on the data node"
                await asyncio.sleep(0.1)
            s = (await call(client, "transfer_data", action="status", transfer_id=tid))["transfer"]
            assert s["state"] == "running" and s.get("bytes_done", 0) < CANCEL_BYTES, s

        await assert_running()
        r = await call(client, "transfer_data", action="cancel", transfer_id=tid)
        assert r["transfer"]["state"] == "running" and r["summary"] == consent.say("cancel_transfer", "preview"), r
        await assert_running()
        PERSON["action"] = "decline"
        try:
            r = await call(client, "transfer_data", action="cancel", transfer_id=tid, confirm=True)
        finally:
            PERSON["action"] = "accept"
        assert r["transfer"]["state"] == "running" and r["summary"] == consent.say("cancel_transfer", "declined"), r
        await assert_running()
        r = await call(client, "transfer_data", action="cancel", transfer_id=tid, confirm=True)
        assert r["transfer"]["state"] == "cancelled", r  # stopped mid-copy, not "done"
        assert (await rsync_lines()).strip() == ""


# Acts whose row needs a server of its own (a shared local folder): where they are exercised instead.
COVERED_ELSEWHERE = {"replace_key": "tests/e2e/test_export_ssh.py::test_a_different_key_is_replaced_only_with_confirm"}


async def test_every_consent_act_has_a_row() -> None:
    covered = ACTS_COVERED | set(COVERED_ELSEWHERE)
    assert covered == ACTS, ACTS ^ covered


@pytest.mark.parametrize("name", list(RULES))
async def test_rule(env: Env, name: str) -> None:
    await RULES[name](env)
