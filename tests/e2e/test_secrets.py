"""Secrets (issue 11, item 2): the whole flow with the server's log at DEBUG — token, certificate, account,
quota, jobs, transfers and the failure paths — and no password, token or private key in any result, error
text, log line or command line of any process on this machine (the lab's nodes are local processes, so
their remote command lines are watched too). Modes are checked after every credential write; a process
killed in the middle of a credential write never leaves a truncated file."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from conftest import stdio_server
from e2e.lab_helpers import node_shell, server_args, text_of
from lab.api_double import DoubleState, run_double

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
PASSWORD = "lab-password-1"


class ProcessWatch:
    """Every distinct command line on this machine, polled every few milliseconds while the flow runs."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in os.scandir("/proc"):
                if p.name.isdigit():
                    try:
                        with open(f"/proc/{p.name}/cmdline", "rb") as fh:
                            self.seen.add(fh.read().replace(b"\0", b" ").decode(errors="replace"))
                    except OSError:
                        continue
            self.polls += 1
            time.sleep(0.005)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Flow:
    def __init__(self, client: Client, creds: Path, state: DoubleState) -> None:
        self.client, self.creds, self.state = client, creds, state
        self.tokens: set[str] = set()
        self.texts: list[str] = []
        self.mode_checks = 0

    async def call(self, tool: str, **args: Any) -> tuple[bool, dict[str, Any]]:
        r = await self.client.call_tool(tool, args)
        self.texts.append(text_of(r))
        self.texts.append(repr(r.structured_content))
        self.tokens |= set(self.state.tokens)  # every token the double ever issued (refresh drops old ones)
        self.check_modes()
        return bool(r.is_error), r.structured_content or {}

    def check_modes(self) -> None:
        if not self.creds.exists():
            return
        assert stat.S_IMODE(self.creds.stat().st_mode) == 0o700
        for name in ("hpc_token", "id_ed25519"):
            f = self.creds / name
            if f.exists():
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, name
        leftovers = [p.name for p in self.creds.iterdir() if p.name.startswith(".")]
        assert not leftovers, leftovers
        self.mode_checks += 1


@pytest.fixture
def double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"], auto_approve_after=0.3) as pair:
        yield pair


def password_file(folder: Path, text: str) -> str:
    p = folder / f"pw-{uuid.uuid4().hex[:6]}.txt"
    p.write_text(text + "\n")
    return str(p)


async def test_no_secret_in_results_logs_or_command_lines(
    lab: dict[str, Any], double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    log = tmp_path / "server.log"
    tag = "sec" + uuid.uuid4().hex[:8]
    new_password = "Nw-" + uuid.uuid4().hex  # the account's new password, changed in the flow
    keys: list[str] = []
    args = server_args(lab, workspace, "--api-url", url, "--approval-wait", "3", "--log-level", "DEBUG")
    with ProcessWatch() as watch:
        async with stdio_server(args, stderr_path=log) as c, node_shell(lab) as sh:
            f = Flow(c, workspace / "credentials", state)
            # the failure paths first: a wrong password, a login with nothing stored
            err, _ = await f.call(
                "request_token", username="hpcrobot", password_file=password_file(tmp_path, "wrong-pw")
            )
            assert err
            err, _ = await f.call("get_user")
            assert err
            # token, certificate (approved by the double after 0.3 s), refresh
            err, r = await f.call("request_token", username="hpcrobot", password_file=password_file(tmp_path, PASSWORD))
            assert not err and r["status"] == "issued", r
            err, r = await f.call("request_certificate", valid_time=3600)
            assert not err and r["status"] == "issued", r
            keys.append((f.creds / "id_ed25519").read_text())
            err, r = await f.call("request_token")
            assert r["status"] == "refreshed"
            # account, quota, an API 500 with a session id, a malformed body
            assert not (await f.call("get_user"))[0]
            assert not (await f.call("query_quota"))[0]
            state.configure(fail_next={"path": "/user", "status": 500})
            err, _ = await f.call("get_user")
            assert err and "session id" in f.texts[-2].lower(), f.texts[-2]
            state.configure(fail_next={"path": "/quota", "status": 400, "body": "{not json\x00\x1b[31m"})
            assert (await f.call("query_quota", quota_type="user"))[0]
            # jobs over the certificate the flow obtained
            err, r = await f.call(
                "run_slurm", command="sbatch", partition="debug", script="#!/bin/bash\necho ok\n",
                options={"job_name": tag},
            )  # fmt: skip
            assert not err, f.texts[-2]
            job = r["submission"]["job_id"]
            assert not (await f.call("run_slurm", command="wait", partition="debug", job_ids=[job], wait_s=20))[0]
            assert not (await f.call("run_slurm", command="job_output", partition="debug", job_ids=[job]))[0]
            assert not (await f.call("run_slurm", command="sacct", partition="debug", job_ids=[job]))[0]
            assert (await f.call("run_slurm", command="seff", partition="debug", job_ids=["999999999"]))[0]
            # a transfer and storage
            await sh(f"mkdir -p ~/{tag} && echo data > ~/{tag}/f")
            try:
                err, r = await f.call(
                    "transfer_data", action="start", source=f"lustre:{tag}", destination=f"vault:{tag}", wait_s=10
                )
                assert not err and r["transfer"]["state"] == "done", r
                assert not (await f.call("manage_storage", action="free"))[0]
                # the account's password changed (two-factor approved), then a new certificate is denied
                err, r = await f.call("update_user", password_file=password_file(tmp_path, new_password), confirm=True)
                assert not err and r["status"] == "updated", r
                state.configure(auto_decision="deny")
                err, r = await f.call("request_certificate", force=True)
                assert r["status"] == "denied", r
                state.configure(auto_decision="approve")
                # the token expires: refresh refused, a new one with the new password
                state.expire_tokens()
                err, r = await f.call("request_token")
                assert r["status"] == "waiting_for_password", r
                err, r = await f.call("request_token", password_file=password_file(tmp_path, new_password))
                assert r["status"] == "issued", r
                err, r = await f.call("request_certificate", force=True)
                assert r["status"] == "issued", r
                keys.append((f.creds / "id_ed25519").read_text())
                assert not (await f.call("credential_status"))[0]
            finally:
                await sh(f"rm -rf ~/{tag} /vault/home/acct-hpc/hpcrobot/{tag}", check=False)
    tokens = sorted(f.tokens)
    assert len(tokens) >= 4 and len(keys) == 2
    key_bodies = [line for k in keys for line in k.splitlines() if len(line) > 40]  # the base64 of the key
    secrets = [PASSWORD, new_password, *tokens, *key_bodies]
    stderr = log.read_text()
    assert "DEBUG" in stderr and len(stderr) > 1000
    audit = (workspace / "audit.jsonl").read_text()
    assert '"act":"token"' in audit and '"act":"certificate"' in audit
    where = {
        "results and errors": "\n".join(f.texts),
        "stderr (DEBUG)": stderr,
        "command lines": "\n".join(watch.seen),
        "audit trail": audit,
    }
    leaks = [(name, s[:6] + "…") for name, text in where.items() for s in secrets if s in text]
    assert not leaks, leaks
    assert watch.polls > 50 and f.mode_checks >= 20
    assert any("sshd: hpcrobot" in c for c in watch.seen)  # the nodes' sessions were in view
    figures = os.environ.get("SJTU_HPC_FIGURES")
    if figures:
        with open(figures, "a") as fh:
            fh.write(
                f"secrets calls={len(f.texts) // 2} stderr_bytes={len(stderr)} cmdlines={len(watch.seen)} "
                f"polls={watch.polls} secrets={len(secrets)} mode_checks={f.mode_checks} leaks=0\n"
            )


WRITER = """
import sys
from pathlib import Path
from sjtu_hpc_mcp.shell.credentials import CredentialStore, KEY
store = CredentialStore(Path(sys.argv[1]))
i = 0
print("ready", flush=True)
while True:
    i += 1
    body = f"{i}:" + "k" * (200_000 + i % 1000) + ":end"
    store.write(KEY, body, secret=True)
    store.write_token(f"tok{i}-" + "t" * 5000 + "-end")
"""


def test_a_writer_killed_mid_write_never_leaves_a_truncated_file(tmp_path: Path) -> None:
    folder = tmp_path / "credentials"
    kills = 0
    for n in range(25):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.02 + (n % 7) * 0.013)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        kills += 1
        for name, end in (("id_ed25519", ":end"), ("hpc_token", "-end\n")):
            p = folder / name
            if p.exists():
                text = p.read_text()
                assert text.endswith(end), (name, len(text))
                assert stat.S_IMODE(p.stat().st_mode) == 0o600
                if name == "id_ed25519":
                    i, body = text.split(":", 1)
                    assert len(body) == 200_000 + int(i) % 1000 + len(":end")
        # a temp file the kill interrupted may remain, but it is 0600 in the 0700 folder like the secret itself
        for tmp in folder.glob(".*"):
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o600, tmp
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert kills == 25 and (folder / "id_ed25519").exists()
