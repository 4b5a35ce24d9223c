"""Faults (issue 11, item 3): each with its visible behaviour (a coded error that says what to do, or a state
that says what happened) and the recovery once the fault is gone, the server staying up throughout.

These disrupt the shared lab (a node's sshd, slurmctld, a full pool): each test restores it (tests/lab/up, in a
finally) and keeps the fault's window short. The faults: a node's sshd killed mid-command and restarted; the
connection dropped during a transfer (the tmux transfer runs on); API 500, hang and malformed body; the
certificate expiring mid-session; the token expiring; slurmctld down; a pool full during a transfer;
MaxSessions exhausted by another client.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import DATA, LOGIN, call, lab_up, new_token, node_pids, node_shell, server_args, text_of
from lab.api_double import DoubleState, Fault, run_double
from sjtu_hpc_mcp.shell.watch import MIN_GAP_S

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
SURVIVED: list[str] = []


def coded(text: str, *codes: str) -> None:
    assert re.match(r"^E_[A-Z0-9_]+: .+ Fix: .+", text, re.S), text
    if codes:
        assert text.split(":", 1)[0] in codes, text


async def alive(c: Client) -> None:
    """The server still answers."""
    assert not (await c.call_tool("credential_status", {})).is_error


async def outcome(c: Client, tool: str, **args: Any) -> tuple[bool, str, dict[str, Any]]:
    r = await c.call_tool(tool, args)
    return bool(r.is_error), text_of(r), r.structured_content or {}


def survived(name: str) -> None:
    SURVIVED.append(name)
    figures = os.environ.get("SJTU_HPC_FIGURES")
    if figures:
        with open(figures, "a") as fh:
            fh.write(f"fault survived={name}\n")


@pytest.fixture(scope="module", autouse=True)
def restore_lab_at_the_end(lab: dict[str, Any]) -> Iterator[None]:
    yield
    lab_up()
    resume_if_drained(lab)


@pytest.fixture
def creds(lab: dict[str, Any], workspace: Path) -> Path:
    return install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))


@pytest.fixture
async def client(lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path) -> AsyncIterator[Client]:
    async with stdio_server(server_args(lab, workspace, "--command-timeout", "20"), stderr_path=tmp_path / "log") as c:
        yield c


@pytest.fixture
def tag() -> str:
    return "flt" + uuid.uuid4().hex[:8]


def kill_in_node(lab: dict[str, Any], hostname: str, only: str | None = None) -> int:
    """SIGKILL a node's processes (all, or those whose command line contains `only`)."""
    n = 0
    for pid in node_pids(lab, hostname):
        try:
            if only is None or only in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                os.kill(pid, signal.SIGKILL)
                n += 1
        except (OSError, ProcessLookupError):
            continue
    return n


# -- SSH ----------------------------------------------------------------------------------------------


async def test_a_nodes_sshd_killed_mid_command_then_restarted(client: Client, lab: dict[str, Any], tag: str) -> None:
    node = LOGIN["kp"]
    async with node_shell(lab, node) as sh:
        job = (await sh(f"sbatch --parsable -p debugarm -J {tag} -t 2 --wrap 'sleep 60'")).strip().split(";")[0]
    try:
        waiting = asyncio.create_task(
            outcome(client, "run_slurm", command="wait", partition="debugarm", job_ids=[job], wait_s=8)
        )
        await asyncio.sleep(MIN_GAP_S)  # the wait is in flight: its first sacct poll done, the next one due
        t0 = time.monotonic()
        assert kill_in_node(lab, "armlogin") > 0  # the node "crashes": its sshd and every session
        is_error, text, data = await asyncio.wait_for(waiting, 30)
        took = time.monotonic() - t0
        if is_error:
            coded(text, "E_LOST", "E_CONNECT", "E_TIMEOUT", "E_SLURM")
        else:  # wait may report what it knew; it must say it could not follow the job to the end
            # wait reports what it could see: the job's state unknown, not ended; call wait again
            assert not data["done"] and data["jobs"][0]["state"] == "UNKNOWN", data
        await alive(client)
        is_error, text, _ = await outcome(client, "run_slurm", command="squeue", node_group="kp")
        assert is_error, text
        coded(text, "E_CONNECT", "E_LOST")
        assert "armlogin" in text
    finally:
        lab_up()
    r = await call(client, "run_slurm", command="squeue", node_group="kp", job_ids=[job])
    assert r["host"] == "armlogin"
    async with node_shell(lab, LOGIN["pi"]) as sh:
        await sh(f"scancel {job}", check=False)
    survived(f"sshd killed mid-command (answered in {took:.1f} s)")


async def test_the_connection_dropped_during_a_transfer(
    lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path, tag: str
) -> None:
    args = server_args(lab, workspace, "--transfer-bwlimit", "4000")
    async with node_shell(lab) as sh, stdio_server(args, stderr_path=tmp_path / "log") as c:
        await sh(f"mkdir -p ~/{tag} && head -c 30000000 /dev/urandom > ~/{tag}/f")
        try:
            r = await call(c, "transfer_data", action="start", source=f"lustre:{tag}", destination=f"vault:{tag}")
            tid = r["transfer"]["id"]
            await asyncio.sleep(1)
            # drop the server's own connection to the data node: kill the sshd session serving it
            killed = drop_connection(lab, lab["nodes"][DATA]["port"], workspace)
            assert killed, "no session of the server found"

            st = await call(c, "transfer_data", action="status", transfer_id=tid)  # reconnects
            assert st["transfer"]["state"] == "running", st
            assert "rsync" in await sh(f"pgrep -af '[r]sync.*{tag}' || true")
            lab_up()  # idempotent: the node's sshd is up; the transfer stays
            done = await call(c, "transfer_data", action="status", transfer_id=tid, wait_s=30)
            while done["transfer"]["state"] == "running":
                done = await call(c, "transfer_data", action="status", transfer_id=tid, wait_s=30)
            assert done["transfer"]["state"] == "done" and done["transfer"]["bytes_done"] == 30_000_000, done
            await alive(c)
        finally:
            await sh(f"rm -rf ~/{tag} /vault/home/acct-hpc/hpcrobot/{tag}", check=False)
    survived("connection dropped during a transfer")


def drop_connection(lab: dict[str, Any], port: int, workspace: Path) -> int:
    """Kill the sshd processes of the server's TCP connection to 127.0.0.1:port (not the node's listener)."""
    server = next(
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and _cmd(p).startswith("python") is False
        and str(workspace) in _cmd(p)
        and "sjtu_hpc_mcp" in _cmd(p)
    )
    out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True, text=True).stdout
    ours = [line for line in out.splitlines() if f"pid={server}," in line and f"127.0.0.1:{port} " in line + " "]
    killed = 0
    for line in ours:
        local = line.split()[2]  # 127.0.0.1:<client port>
        for peer in out.splitlines():
            cols = peer.split()
            if cols[2] == f"127.0.0.1:{port}" and cols[3] == local:
                for pid in map(int, re.findall(r"pid=(\d+)", peer)):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
    return killed


def _cmd(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# -- the API -----------------------------------------------------------------------------------------------


@pytest.fixture
def double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"]) as pair:
        yield pair


async def test_api_500_hang_and_malformed_body(
    lab: dict[str, Any], double: tuple[str, DoubleState], workspace: Path, creds: Path
) -> None:
    url, state = double
    (workspace / "credentials" / "hpc_token").write_text(new_token(url) + "\n")
    (workspace / "credentials" / "hpc_user").write_text("hpcrobot\n")
    async with stdio_server(server_args(lab, workspace, "--api-url", url, "--api-timeout", "2")) as c:
        state.configure(fail_next={"path": "/user", "status": 500})
        is_error, text, _ = await outcome(c, "get_user")
        assert is_error and state.session_ids[-1] in text and "hpc@sjtu.edu.cn" in text, text
        coded(text, "E_API_INTERNAL")
        assert (await call(c, "get_user"))["username"] == "hpcrobot"
        survived("API 500 (session id passed on)")

        state.configure(hang={"path": "/quota", "seconds": None})
        t0 = time.monotonic()
        is_error, text, _ = await outcome(c, "query_quota", quota_type="user")
        assert is_error and time.monotonic() - t0 < 10, text
        coded(text, "E_API_TIMEOUT")
        assert (await call(c, "query_quota", quota_type="user"))["quota"]["rows"]
        survived("API hang (timed out)")

        state.faults.append(Fault("/user", None, 200, "{'uid': hpcrobot <html>", 1))  # a 200 that is not JSON
        is_error, text, _ = await outcome(c, "get_user")
        assert is_error, text
        coded(text, "E_API_BAD_REPLY")
        assert (await call(c, "get_user"))["username"] == "hpcrobot"
        survived("API malformed body")
        await alive(c)


async def test_the_token_expiring(
    lab: dict[str, Any], double: tuple[str, DoubleState], workspace: Path, creds: Path, tmp_path: Path
) -> None:
    url, state = double
    (workspace / "credentials" / "hpc_token").write_text(new_token(url) + "\n")
    (workspace / "credentials" / "hpc_user").write_text("hpcrobot\n")
    async with stdio_server(server_args(lab, workspace, "--api-url", url, "--approval-wait", "1")) as c:
        assert (await call(c, "get_user"))["username"] == "hpcrobot"
        state.expire_tokens()
        is_error, text, _ = await outcome(c, "get_user")
        assert is_error and "request_token" in text, text
        coded(text, "E_TOKEN_REFUSED")
        r = await call(c, "request_token")
        assert r["status"] == "waiting_for_password", r
        pw = tmp_path / "pw.txt"
        pw.write_text("lab-password-1\n")
        assert (await call(c, "request_token", password_file=str(pw)))["status"] == "issued"
        assert (await call(c, "get_user"))["username"] == "hpcrobot"
        await alive(c)
    survived("token expired")


# -- the certificate ------------------------------------------------------------------------------------


async def test_the_certificate_expiring_mid_session(lab: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    ca = asyncssh.read_private_key(lab["ca_key"])
    install_credentials(workspace, *make_user_cert(ca, valid_for=5))
    async with stdio_server(server_args(lab, workspace, "--prewarm", "false"), stderr_path=tmp_path / "log") as c:
        assert (await call(c, "run_slurm", command="sinfo", partition="cpu"))["host"] == "pilogin"
        await asyncio.sleep(6)
        # a node not yet connected: the expired certificate is refused before connecting, with the fix
        is_error, text, _ = await outcome(c, "run_slurm", command="sinfo", partition="a100")
        assert is_error and "request_certificate" in text, text
        coded(text, "E_CERT_EXPIRED")
        st = await call(c, "credential_status")
        assert "request_certificate" in str(st), st
        install_credentials(workspace, *make_user_cert(ca))  # the person got a new one
        assert (await call(c, "run_slurm", command="sinfo", partition="a100"))["host"] == "sylogin"
        assert (await call(c, "run_slurm", command="sinfo", partition="cpu"))["host"] == "pilogin"
    survived("certificate expired mid-session")


# -- Slurm ------------------------------------------------------------------------------------------------


async def test_slurmctld_down(client: Client, lab: dict[str, Any]) -> None:
    pid = int((Path(lab["lab_dir"]) / "run" / "slurmctld.pid").read_text().split()[0])
    # SIGTERM, not SIGKILL: a killed slurmctld loses the job ids it handed out since its last state save,
    # reuses them after the restart and drains the lab's node ("Duplicate jobid") for everyone.
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and _state(pid) != "Z" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    try:
        t0 = time.monotonic()
        is_error, text, _ = await outcome(client, "run_slurm", command="squeue", node_group="pi")
        took = time.monotonic() - t0
        assert is_error, text
        coded(text, "E_SLURM")
        assert "controller" in text.lower() or "slurm" in text.lower(), text
        await alive(client)
    finally:
        lab_up()
        resume_if_drained(lab)
    assert (await call(client, "run_slurm", command="squeue", node_group="pi"))["host"] == "pilogin"
    survived(f"slurmctld down (answered in {took:.1f} s)")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def resume_if_drained(lab: dict[str, Any]) -> None:
    """Undo a drain a controller restart may cause, so other tests on the shared lab keep running jobs."""
    node = lab["slurm_node"]
    out = subprocess.run(["scontrol", "show", "node", node], capture_output=True, text=True).stdout
    if "DRAIN" in out and "Duplicate jobid" in out:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], check=False)


# -- storage ----------------------------------------------------------------------------------------------


async def test_a_pool_full_during_a_transfer(
    lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path, tag: str
) -> None:
    rel = lab["home"].split("/", 2)[2]
    args = server_args(lab, workspace, "--transfer-bwlimit", "3000")
    async with node_shell(lab) as sh, stdio_server(args, stderr_path=tmp_path / "log") as c:
        await sh(f"mkdir -p ~/{tag} && head -c 24000000 /dev/urandom > ~/{tag}/f")
        try:
            r = await call(c, "transfer_data", action="start", source=f"lustre:{tag}", destination=f"archive:{tag}")
            tid = r["transfer"]["id"]
            await asyncio.sleep(1)
            free = int((await sh("df -P -B1 /archive | awk 'NR==2 {print $4}'")).strip())
            filler = f"/archive/{rel}/{tag}-filler"
            await sh(
                f"fallocate -l {max(free - (8 << 20), 4096)} {filler}; dd if=/dev/zero bs=64k >> {filler}", check=False
            )
            assert int((await sh("df -P -B1 /archive | awk 'NR==2 {print $4}'")).strip()) < 1 << 20
            st = await call(c, "transfer_data", action="status", transfer_id=tid, wait_s=40)
            while st["transfer"]["state"] == "running":
                st = await call(c, "transfer_data", action="status", transfer_id=tid, wait_s=40)
            failed = st["transfer"]
            assert failed["state"] == "failed", failed
            # the cause names the destination, the fix the space to free; starting again resumes
            assert "destination" in failed["cause"] and "free space" in failed["fix"].lower(), failed
            await sh(f"rm -f /archive/{rel}/{tag}-filler")
            again = await call(c, "transfer_data", action="start", source=f"lustre:{tag}", destination=f"archive:{tag}")
            assert again["transfer"]["id"] == tid
            done = await call(c, "transfer_data", action="status", transfer_id=tid, wait_s=40)
            while done["transfer"]["state"] == "running":
                done = await call(c, "transfer_data", action="status", transfer_id=tid, wait_s=40)
            assert done["transfer"]["state"] == "done", done
            await alive(c)
        finally:
            await sh(f"rm -rf ~/{tag} /archive/{rel}/{tag} /archive/{rel}/{tag}-filler", check=False)
    survived("pool full during a transfer")


# -- MaxSessions --------------------------------------------------------------------------------------------


async def test_max_sessions_exhausted_by_another_client(
    lab: dict[str, Any], workspace: Path, creds: Path, tmp_path: Path
) -> None:
    """Another client of the same person holds all 10 sessions of its connection to pilogin; the server (allowed
    more channels than sshd's MaxSessions here, so that it meets the limit on its own connection too) serves
    40 concurrent calls without an error, and the sessions it opened are all closed afterwards."""
    node = LOGIN["pi"]
    args = server_args(lab, workspace, "--max-channels", "16")
    async with node_shell(lab, node) as _, stdio_server(args, stderr_path=tmp_path / "log") as c:
        key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
        addr = lab["nodes"][node]
        async with asyncssh.connect(
            addr["host"], addr["port"], username=lab["user"], client_keys=[(key, asyncssh.import_certificate(cert))],
            known_hosts=lab["known_hosts"], agent_path=None, config=[],
        ) as other:  # fmt: skip
            held = [await other.create_process("sleep 30") for _ in range(10)]
            with pytest.raises(asyncssh.ChannelOpenError):
                await other.create_process("true")  # that connection is full
            results = await asyncio.gather(
                *(c.call_tool("run_slurm", {"command": "squeue", "node_group": "pi"}) for _ in range(40))
            )
            bad = [text_of(r) for r in results if r.is_error]
            assert not bad, bad[:3]
            for p in held:
                p.kill()
        await alive(c)
        assert (await call(c, "run_slurm", command="sinfo", partition="cpu"))["host"] == "pilogin"
    survived("MaxSessions exhausted by another client (40 concurrent calls, none failed)")
