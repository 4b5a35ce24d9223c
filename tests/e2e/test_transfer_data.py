"""transfer_data and manage_storage through a real stdio client against the lab (issue 7's acceptance)."""

from __future__ import annotations

import asyncio
import shlex
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import DATA, DATA_NODES, LOGIN, call, error, node_shell, server_args

pytestmark = [pytest.mark.lab, pytest.mark.anyio]

Shell = Callable[..., Awaitable[str]]


@pytest.fixture
def creds(lab: dict[str, Any], workspace: Path) -> Path:
    return install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])), token=None)


@pytest.fixture
async def client(lab: dict[str, Any], workspace: Path, creds: Path) -> AsyncIterator[Client]:
    async with stdio_server(server_args(lab, workspace)) as c:
        yield c


@pytest.fixture
async def node(lab: dict[str, Any]) -> AsyncIterator[Shell]:
    """A shell on the data node as the lab user: to lay out trees and to look behind the tools."""
    async with node_shell(lab, DATA) as sh:
        yield sh


@pytest.fixture
def tag() -> str:
    return "t" + uuid.uuid4().hex[:8]


@pytest.fixture
async def cleanup(node: Shell, lab: dict[str, Any]) -> AsyncIterator[list[str]]:
    """Relative names to delete from every pool (and the transfer state) after the test."""
    names: list[str] = []
    yield names
    rel = lab["home"].split("/", 2)[2]
    paths = [f"/{pool}/{rel}/{n}" for n in names for pool in ("lustre", "archive", "vault")]
    if paths:
        await node("rm -rf -- " + " ".join(shlex.quote(p) for p in paths), check=False)
    for n in names:  # and the state folders of the transfers that touched them
        await node(
            f"grep -l -F -- {shlex.quote(n)} ~/.sjtu-hpc-mcp/transfers/*/meta.json 2>/dev/null "
            "| xargs -r -n1 dirname | xargs -r rm -rf --",
            check=False,
        )


async def make_tree(node: Shell, root: str, files: int, size: int, big: int = 0) -> None:
    """`files` files of `size` bytes in a few subfolders, plus one file of `big` bytes."""
    q = shlex.quote(root)
    await node(
        f"mkdir -p {q}/a {q}/b/c && for i in $(seq 1 {files}); do d=a; [ $((i % 3)) = 0 ] && d=b/c; "
        f"head -c {size} /dev/urandom > {q}/$d/f$i; done"
        + (f" && head -c {big} /dev/urandom > {q}/big.bin" if big else "")
    )


async def wait_done(client: Client, tid: str, limit_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while True:
        r = await call(client, "transfer_data", action="status", transfer_id=tid, wait_s=20)
        if r["transfer"]["state"] != "running" or time.monotonic() > deadline:
            return r


# -- the cold copy: choice of pool, progress, a server restart, verify, resume ---------------------


async def test_tree_to_cold_survives_a_server_restart(
    lab: dict[str, Any], workspace: Path, creds: Path, node: Shell, tag: str, cleanup: list[str]
) -> None:
    home = lab["home"]
    rel = home.split("/", 2)[2]
    cleanup += [tag, f"{tag}-filler"]
    await make_tree(node, f"{home}/{tag}", files=100, size=1_000_000, big=100_000_000)  # 200 MB
    # /vault is the larger pool: fill it so that /archive has more free space and must be chosen.
    await node(f"fallocate -l 900M /vault/{rel}/{tag}-filler")
    slow = server_args(lab, workspace, "--transfer-bwlimit", "20000")  # 20 MB/s a stream: long enough to watch
    async with stdio_server(slow) as first:
        r = await call(first, "transfer_data", action="start", source=f"lustre:{tag}", destination="cold", streams=2)
        st = r["transfer"]
        assert r["node"] == DATA and st["destination"] == f"/archive/{rel}/{tag}"
        assert "/archive has the most free space" in r["summary"]
        tid = st["id"]
        progress: list[tuple[float, float | None]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total))

        r = await first.call_tool(
            "transfer_data", {"action": "status", "transfer_id": tid, "wait_s": 2}, progress_callback=on_progress
        )
        mid = r.structured_content["transfer"]  # type: ignore[index]
        assert mid["state"] == "running" and 0 < mid["bytes_done"] < mid["bytes_total"] == 200_000_000
        assert progress and progress[-1][1] == 200_000_000 and progress[0][0] <= progress[-1][0]
    # The server is gone; the transfer runs on in tmux on the node, and a fresh server sees it.
    assert "rsync" in await node(f"pgrep -af '[r]sync.*{tid}' || true")
    async with stdio_server(server_args(lab, workspace)) as second:
        listed = await call(second, "transfer_data", action="list")
        assert tid in [row[0] for row in listed["transfers"]["rows"]]
        done = await wait_done(second, tid)
        assert done["transfer"]["state"] == "done", done
        assert done["transfer"]["bytes_done"] == 200_000_000 and done["transfer"]["files_done"] == 101
        v = await call(second, "transfer_data", action="status", transfer_id=tid, verify=True)
        assert v["verified"] is True
        again = await call(second, "transfer_data", action="start", source=f"lustre:{tag}", destination="cold")
        assert again["summary"].startswith("Nothing to copy") and again["plan"]["files"] == 0
    sums = await node(f"cd {home}/{tag} && find . -type f -exec md5sum {{}} + | sort")
    assert sums == await node(f"cd /archive/{rel}/{tag} && find . -type f -exec md5sum {{}} + | sort")


async def test_cold_to_hot_through_union_then_a_job_reads_it(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    rel = lab["home"].split("/", 2)[2]
    cleanup += [tag, f"{tag}-hot"]
    await node(f"mkdir -p /vault/{rel}/{tag} && echo cold-bytes-{tag} > /vault/{rel}/{tag}/input.txt")
    r = await call(
        client, "transfer_data", action="start", source=f"cold:{tag}", destination=f"lustre:{tag}-hot", wait_s=30
    )
    assert r["transfer"]["source"] == f"/union/{rel}/{tag}" and r["transfer"]["state"] == "done"
    script = f"#!/bin/bash\ncat {lab['home']}/{tag}-hot/input.txt\n"
    sub = await call(client, "run_slurm", command="sbatch", partition="debug", script=script)
    job = sub["submission"]["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        q = await call(client, "run_slurm", command="sacct", partition="debug", job_ids=[job])
        if q["table"].get("rows") and q["table"]["rows"][0][3] == "COMPLETED":
            break
        await asyncio.sleep(1)
    out = await call(client, "run_slurm", command="job_output", partition="debug", job_ids=[job])
    assert f"cold-bytes-{tag}" in out["output"]["text"]
    # the job itself may not name the cold copy
    refused = await error(client, "run_slurm", command="sbatch", partition="debug", script=f"cat /union/{rel}/x\n")
    assert "E_COLD_STORAGE" in refused


# -- nothing writes cold storage from a login node ------------------------------------------------------


async def test_cold_storage_is_only_ever_written_from_a_data_node(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    rel = lab["home"].split("/", 2)[2]
    cleanup += [tag]
    for path in (f"archive:{tag}/x", f"vault:{tag}/y", f"/union/{rel}/{tag}/z"):
        r = await call(client, "manage_storage", action="mkdir", path=path)
        assert r["node"] in DATA_NODES
    await node(f"echo x > {lab['home']}/{tag}.src && mkdir -p {lab['home']}/{tag}")
    for dst in ("cold", f"archive:{tag}/copy", f"vault:{tag}/copy"):
        r = await call(client, "transfer_data", action="start", source=f"lustre:{tag}", destination=dst, wait_s=10)
        assert r["node"] in DATA_NODES
    for script in (f"touch /archive/{rel}/x\n", "cp a $VAULT/\n", f"rsync -a x /lustre/../archive/{rel}/\n"):
        assert "E_COLD_STORAGE" in await error(client, "run_slurm", command="sbatch", partition="cpu", script=script)
    # and the lab's login nodes really cannot write it: the rule is the platform's, not only ours
    async with node_shell(lab, LOGIN["pi"]) as login:
        await login(f"touch /archive/{rel}/{tag}-from-login 2>&1 | grep -q Read-only")
    await node(f"rm -f {lab['home']}/{tag}.src")


# -- consent and space -----------------------------------------------------------------------------------


async def test_an_existing_different_file_is_listed_and_left_alone(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    rel = lab["home"].split("/", 2)[2]
    cleanup += [tag]
    await node(f"mkdir -p {lab['home']}/{tag} /vault/{rel}/{tag} && echo new > {lab['home']}/{tag}/same.txt")
    await node(f"echo other > {lab['home']}/{tag}/fresh.txt && echo old-content > /vault/{rel}/{tag}/same.txt")
    r = await call(client, "transfer_data", action="start", source=f"lustre:{tag}", destination="vault", wait_s=10)
    assert r["would_overwrite"] == ["same.txt"] and r["would_overwrite_total"] == 1
    assert r.get("transfer") is None and "nothing started" in r["summary"]
    assert (await node(f"cat /vault/{rel}/{tag}/same.txt")).strip() == "old-content"
    assert (await node(f"ls /vault/{rel}/{tag}")).split() == ["same.txt"]  # nothing else copied either
    r = await call(
        client, "transfer_data", action="start", source=f"lustre:{tag}", destination="vault", confirm=True, wait_s=10
    )
    assert r["transfer"]["state"] == "done"
    assert (await node(f"cat /vault/{rel}/{tag}/same.txt")).strip() == "new"


async def test_a_full_pool_is_refused_before_anything_is_copied(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    rel = lab["home"].split("/", 2)[2]
    cleanup += [tag, f"{tag}-filler"]
    await make_tree(node, f"{lab['home']}/{tag}", files=3, size=1000, big=120_000_000)
    free = int((await node("df -P -B1 /archive | awk 'NR==2 {print $4}'")).strip())
    await node(f"fallocate -l {free - 50_000_000} /archive/{rel}/{tag}-filler")
    text = await error(client, "transfer_data", action="start", source=f"lustre:{tag}", destination=f"archive:{tag}")
    assert "E_NO_SPACE" in text and "120003000 bytes" in text and "bytes (0.0" in text
    assert (await node(f"ls /archive/{rel}/")).split().count(tag) == 0


async def test_a_move_deletes_the_source_only_after_confirm_and_verification(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    rel = lab["home"].split("/", 2)[2]
    cleanup += [tag]
    await make_tree(node, f"{lab['home']}/{tag}", files=30, size=2000)
    r = await call(client, "transfer_data", action="start", source=f"lustre:{tag}", destination="vault", mode="move")
    assert "Would move 30 files" in r["summary"] and r.get("transfer") is None
    assert (await node(f"ls {lab['home']}/{tag}/a | wc -l")).strip() == "20"
    r = await call(
        client,
        "transfer_data",
        action="start",
        source=f"lustre:{tag}",
        destination="vault",
        mode="move",
        confirm=True,
        wait_s=20,
    )
    assert r["transfer"]["state"] == "done" and r["transfer"]["source_removed"] is True
    assert (await node(f"test -e {lab['home']}/{tag} && echo there || echo gone")).strip() == "gone"
    assert (await node(f"find /vault/{rel}/{tag} -type f | wc -l")).strip() == "30"


# -- cancel ---------------------------------------------------------------------------------------------


async def test_cancel_needs_confirm_and_leaves_no_rsync_behind(
    lab: dict[str, Any], workspace: Path, creds: Path, node: Shell, tag: str, cleanup: list[str]
) -> None:
    cleanup += [tag]
    await make_tree(node, f"{lab['home']}/{tag}", files=24, size=1_000_000)
    async with stdio_server(server_args(lab, workspace, "--transfer-bwlimit", "3000")) as client:
        r = await call(client, "transfer_data", action="start", source=f"lustre:{tag}", destination="vault", streams=4)
        tid = r["transfer"]["id"]
        assert r["transfer"]["streams"] == 4
        deadline = time.monotonic() + 15  # a loaded machine may take a moment to start tmux and the streams
        while len((await node(f"pgrep -f '[r]sync.*partial-dir=.*{tid}' || true")).split()) < 4:
            assert time.monotonic() < deadline, "the four streams never showed up on the data node"
            await asyncio.sleep(0.1)
        r = await call(client, "transfer_data", action="cancel", transfer_id=tid)
        assert r["transfer"]["state"] == "running" and "nothing done" in r["summary"]
        r = await call(client, "transfer_data", action="cancel", transfer_id=tid, confirm=True)
        assert r["transfer"]["state"] == "cancelled", r
        assert (await node(f"pgrep -af '[r]sync.*{tid}' || true")).strip() == ""
        copied = int((await node(f"find /vault/{lab['home'].split('/', 2)[2]}/{tag} -type f | wc -l")).strip())
        assert copied < 24  # what was copied stays; the rest was never written
        # starting it again resumes and finishes
        again = await call(client, "transfer_data", action="start", source=f"lustre:{tag}", destination="vault")
        assert again["transfer"]["id"] == tid and again["transfer"]["run"] == 2
        assert (await wait_done(client, tid))["transfer"]["state"] == "done"


# -- manage_storage ---------------------------------------------------------------------------------------


async def test_storage_list_usage_free_mkdir_and_a_guarded_remove(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    cleanup += [tag]
    await make_tree(node, f"{lab['home']}/{tag}", files=6, size=1000)
    r = await call(client, "manage_storage", action="list", path=f"lustre:{tag}")
    assert [row[0] for row in r["entries"]["rows"]] == ["a", "b"] and r["node"] == DATA
    u = await call(client, "manage_storage", action="usage", path=f"lustre:{tag}")
    assert u["usage"]["complete"] and u["usage"]["bytes"] >= 6000
    f = await call(client, "manage_storage", action="free")
    assert {row[0] for row in f["free"]["rows"]} >= {"/lustre", "/archive", "/vault"}
    await call(client, "manage_storage", action="mkdir", path=f"vault:{tag}/new/deep")
    assert (await node(f"test -d /vault/{lab['home'].split('/', 2)[2]}/{tag}/new/deep && echo ok")).strip() == "ok"
    r = await call(client, "manage_storage", action="remove", path=f"lustre:{tag}")
    assert r["removed"] is False and r["removal"]["files"] == 6 and r["removal"]["bytes"] == 6000
    assert (await node(f"find {lab['home']}/{tag} -type f | wc -l")).strip() == "6"
    r = await call(client, "manage_storage", action="remove", path=f"lustre:{tag}/a", confirm=True)
    assert r["removed"] is True
    assert (await node(f"ls {lab['home']}/{tag}")).split() == ["b"]


@pytest.mark.parametrize(
    "path",
    [
        "lustre:../../acct-other/otheruser",
        "/lustre/home/acct-other/otheruser/x",
        "/lustre/home/acct-hpc/hpcrobot2/x",
        "/lustre/home/acct-hpc",
        "lustre:",
        "/archive/home/acct-hpc/hpcrobot",
        "/etc/passwd",
        "lustre:-rf",
        "pilogin.hpc.sjtu.edu.cn:/etc",
    ],
)
async def test_remove_refuses_what_is_not_inside_your_own_folders(client: Client, path: str) -> None:
    text = await error(client, "manage_storage", action="remove", path=path, confirm=True)
    assert text.split(":")[0] in ("E_NOT_YOURS", "E_PERSONAL_ROOT", "E_PATH", "E_POOL"), text


async def test_a_symlink_pointing_outside_is_refused(
    client: Client, lab: dict[str, Any], node: Shell, tag: str, cleanup: list[str]
) -> None:
    cleanup += [tag]
    await node(f"mkdir -p {lab['home']}/{tag} && ln -s /lustre/home/acct-other {lab['home']}/{tag}/escape")
    await node(f"ln -s /etc {lab['home']}/{tag}/etc")
    for tool, args in (
        ("manage_storage", {"action": "remove", "path": f"lustre:{tag}/escape", "confirm": True}),
        ("manage_storage", {"action": "list", "path": f"lustre:{tag}/etc"}),
        ("transfer_data", {"action": "start", "source": f"lustre:{tag}/escape", "destination": "cold"}),
        ("transfer_data", {"action": "start", "source": f"lustre:{tag}/etc", "destination": "cold"}),
        ("transfer_data", {"action": "start", "source": f"lustre:{tag}", "destination": f"lustre:{tag}/escape/x"}),
    ):
        assert "E_NOT_YOURS" in await error(client, tool, **args)
    assert (await node(f"test -L {lab['home']}/{tag}/escape && echo kept")).strip() == "kept"


# -- this computer <-> a data node --------------------------------------------------------------------


def local_tree(root: Path) -> None:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "sub" / "deep" / "big.bin").write_bytes(bytes(range(256)) * 40_000)  # 10 MB
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b name with spaces.txt").write_text("beta\n")


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_upload_then_download_gives_identical_files(
    lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path, tag: str, cleanup: list[str]
) -> None:
    cleanup += [tag]
    shared = tmp_path / "shared"
    local_tree(shared / "up")
    async with stdio_server(server_args(lab, workspace, "--local-root", str(shared))) as client:
        up = await call(
            client, "transfer_data", action="start", source=f"local:{shared}/up", destination=f"lustre:{tag}", wait_s=30
        )
        assert up["transfer"]["state"] == "done" and up["transfer"]["survives_restart"] is False
        assert up["transfer"]["id"].startswith("local-") and up["node"] == DATA
        down = await call(
            client,
            "transfer_data",
            action="start",
            source=f"lustre:{tag}",
            destination=f"local:{shared}/down",
            wait_s=30,
        )
        assert down["transfer"]["state"] == "done"
        assert tree_bytes(shared / "down") == tree_bytes(shared / "up")
        # a changed local file is not overwritten without confirm
        (shared / "down" / "a.txt").write_text("changed here\n")
        again = await call(
            client, "transfer_data", action="start", source=f"lustre:{tag}", destination=f"local:{shared}/down"
        )
        assert again["would_overwrite"] == ["a.txt"] and (shared / "down" / "a.txt").read_text() == "changed here\n"
        listed = await call(client, "transfer_data", action="list")
        assert {up["transfer"]["id"], down["transfer"]["id"]} <= {row[0] for row in listed["transfers"]["rows"]}


async def test_local_paths_outside_the_shared_folders_are_refused(
    lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "escape").symlink_to(Path.home())
    (tmp_path / "shared-sibling").mkdir()
    async with stdio_server(server_args(lab, workspace, "--local-root", str(shared))) as client:
        for local in ("~/.ssh", "/etc", f"{shared}/escape/.ssh", f"{shared}/../shared-sibling", "relative/path"):
            text = await error(client, "transfer_data", action="start", source=f"local:{local}", destination="lustre:x")
            assert text.startswith(("E_LOCAL_ROOT", "E_PATH")), text
            text = await error(client, "transfer_data", action="start", source="lustre:x", destination=f"local:{local}")
            assert text.startswith(("E_LOCAL_ROOT", "E_PATH")), text
    async with stdio_server(server_args(lab, workspace)) as client:  # nothing shared: nothing local at all
        text = await error(client, "transfer_data", action="start", source=f"local:{shared}", destination="lustre:x")
        assert text.startswith("E_LOCAL_ROOT") and "--local-root" in text


async def test_the_clients_mcp_roots_are_shared_folders(
    lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path, tag: str, cleanup: list[str]
) -> None:
    from mcp import types

    cleanup += [tag]
    shared = tmp_path / "project"
    local_tree(shared)

    async def roots(_: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{shared}", name="project")])  # type: ignore[arg-type]

    async with stdio_server(server_args(lab, workspace), mode="legacy", list_roots_callback=roots) as client:
        r = await call(
            client, "transfer_data", action="start", source=f"local:{shared}", destination=f"lustre:{tag}", wait_s=30
        )
        assert r["transfer"]["state"] == "done"
        text = await error(client, "transfer_data", action="start", source=f"local:{tmp_path}", destination="lustre:x")
        assert text.startswith("E_LOCAL_ROOT")


async def test_the_quota_refuses_a_copy_it_cannot_hold(
    lab: dict[str, Any], workspace: Path, creds: Path, node: Shell, tag: str, cleanup: list[str]
) -> None:
    from lab.api_double import run_double

    rel = lab["home"].split("/", 2)[2]
    cleanup += [tag]
    await node(f"mkdir -p /archive/{rel}/{tag} && head -c 30000000 /dev/urandom > /archive/{rel}/{tag}/data.bin")
    with run_double(lab["ca_key"]) as (url, state):
        lustre = next(q for q in state.quotas[("account", lab["account"])]["quotas"] if q["filesystem"] == "lustre")
        lustre["space"]["used"] = lustre["space"]["limit"] - 20_000_000  # 20 MB left on the account's quota
        async with stdio_server(server_args(lab, workspace, "--api-url", url)) as client:
            text = await error(client, "transfer_data", action="start", source=f"archive:{tag}", destination="lustre")
            assert text.startswith("E_QUOTA") and "30000000 bytes" in text and "20000000 bytes" in text
            assert (await node(f"test -e {lab['home']}/{tag} && echo there || echo absent")).strip() == "absent"
            f = await call(client, "manage_storage", action="free")
            quota = [dict(zip(f["quota"]["columns"], row, strict=True)) for row in f["quota"]["rows"]]
            assert {(q["quota"].split()[0], q["pool"]) for q in quota} >= {("account", "lustre"), ("user", "lustre")}


async def test_without_a_quota_answer_within_3_s_only_free_space_is_checked(
    lab: dict[str, Any], workspace: Path, creds: Path, node: Shell, tag: str, cleanup: list[str]
) -> None:
    """README: the quota counts only "when it answers within 3 s"; otherwise start and free go on with the
    pools' free space and say so in `warnings`."""
    from lab.api_double import run_double
    from sjtu_hpc_mcp.ops.quota import QUOTA_S

    assert QUOTA_S == 3.0
    unread = "The quota could not be read from the API; only the pools' free space was checked."
    cleanup += [tag]
    await node(f"mkdir -p {lab['home']}/{tag} && echo q > {lab['home']}/{tag}/f")
    with run_double(lab["ca_key"]) as (url, state):
        state.configure(hang={"path": "/quota", "seconds": None, "times": None})  # every quota call, until dropped
        async with stdio_server(server_args(lab, workspace, "--api-url", url, "--api-timeout", "30")) as client:
            t0 = time.monotonic()
            f = await call(client, "manage_storage", action="free")
            took = time.monotonic() - t0
            assert unread in f["warnings"] and "quota" not in f, f
            assert QUOTA_S <= took < QUOTA_S + 3, took  # not the 30 s API timeout
            t0 = time.monotonic()
            r = await call(client, "transfer_data", action="start", source=f"lustre:{tag}", destination="vault")
            assert unread in r["warnings"] and r["transfer"]["id"] and "quota_left_bytes" not in r["plan"], r
            assert QUOTA_S <= time.monotonic() - t0 < QUOTA_S + 3
