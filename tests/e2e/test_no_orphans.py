"""No orphans (issue 11, item 4): the server exits within 2 s when its stdin closes and when its parent process
dies, even with a two-factor wait (the API double holds sign_cert open), a job wait and a local transfer in
flight; it leaves no child process behind, and the transfer it started on a data node keeps running there.

The server is spoken to in raw JSON-RPC over pipes, so that the test (or a parent process it kills) owns them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from e2e.lab_helpers import alive, descendants, new_token, node_shell, server_args
from lab.api_double import DoubleState, run_double

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
EXIT_S = 2.0

# The parent: starts the server on pipes it owns, puts calls in flight, says so, then waits to be killed
# (mode "parent") or closes the server's stdin itself (mode "stdin").
DRIVER = r"""
import json, subprocess, sys, time
argv, calls, mode = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
srv = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(sys.argv[4], "ab"))
def send(msg):
    srv.stdin.write((json.dumps(msg) + "\n").encode()); srv.stdin.flush()
send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
      "capabilities": {}, "clientInfo": {"name": "orphan-driver", "version": "1"}}})
srv.stdout.readline()
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
for i, (tool, args) in enumerate(calls, 1):
    send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": args}})
    if args.get("wait_s") == 0:  # a call that answers at once (a local transfer started): let it start
        print("answer", srv.stdout.readline().decode()[:300], file=sys.stderr, flush=True)
print(srv.pid, flush=True)
if mode == "stdin":
    sys.stdin.readline()
    t = time.monotonic(); srv.stdin.close(); srv.wait(30)
    print(f"{time.monotonic() - t:.3f}", flush=True)
else:
    time.sleep(3600)
"""


@pytest.fixture
def double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"]) as pair:  # no auto approval: sign_cert stays open
        yield pair


def _bytes_in(folder: Path) -> int:
    """Bytes under folder, partial files of the local copy included."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _exit_within(pid: int, limit: float) -> float:
    t = time.monotonic()
    while alive(pid) and time.monotonic() - t < limit + 3:
        time.sleep(0.01)
    return time.monotonic() - t


@pytest.mark.parametrize("how", ["stdin closes", "parent dies"])
async def test_the_server_exits_within_2_s_with_work_in_flight(
    lab: dict[str, Any], double: tuple[str, DoubleState], workspace: Path, tmp_path: Path, how: str
) -> None:
    url, state = double
    tag = "orph" + uuid.uuid4().hex[:8]
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
    install_credentials(workspace, key, cert, token=new_token(url))
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "big.bin").write_bytes(os.urandom(1 << 20) * 400)  # 400 MiB: still copying when the server goes
    argv = [
        sys.executable,
        "-m",
        "sjtu_hpc_mcp",
        *server_args(lab, workspace, "--api-url", url, "--approval-wait", "45", "--local-root", str(shared)),
        "--transfer-bwlimit",
        "2000",
    ]
    async with node_shell(lab, "pilogin.hpc.sjtu.edu.cn") as login, node_shell(lab) as data:
        job = (await login(f"sbatch --parsable -p debug -J {tag} -t 5 --wrap 'sleep 120'")).strip().split(";")[0]
        await data(f"mkdir -p ~/{tag}/src && head -c 20000000 /dev/zero > ~/{tag}/src/f")
        calls = [
            [
                "transfer_data",
                {
                    "action": "start",
                    "source": f"local:{shared}/big.bin",
                    "destination": f"lustre:{tag}/up",
                    "wait_s": 0,
                },
            ],
            ["request_certificate", {"force": True}],
            ["run_slurm", {"command": "wait", "partition": "debug", "job_ids": [job], "wait_s": 45}],
            [
                "transfer_data",
                {"action": "start", "source": f"lustre:{tag}/src", "destination": f"vault:{tag}", "wait_s": 45},
            ],
        ]
        mode = "stdin" if how == "stdin closes" else "parent"
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(argv), json.dumps(calls), mode, str(tmp_path / "server.log")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert driver.stdout is not None and driver.stdin is not None
            pid = int(driver.stdout.readline())
            deadline = time.monotonic() + 20
            while not (state.pending() and "rsync" in await data(f"pgrep -af '[r]sync.*{tag}' || true")):
                assert time.monotonic() < deadline, "the calls did not get in flight"
                time.sleep(0.1)
            time.sleep(0.5)
            kids = descendants(pid)
            up = Path(f"/lustre/home/acct-hpc/hpcrobot/{tag}")
            copied_at_close = _bytes_in(up)
            if mode == "stdin":
                driver.stdin.write("go\n")
                driver.stdin.flush()
                took = float(driver.stdout.readline())
            else:
                driver.send_signal(signal.SIGKILL)
                driver.wait(5)
                took = _exit_within(pid, EXIT_S)
            assert took < EXIT_S, f"the server took {took:.2f} s to exit ({how})"
            assert not alive(pid)
            time.sleep(0.3)
            left = [k for k in kids + descendants(pid) if alive(k)]
            assert not left, f"children left behind: {left}"
            # the local copy was in flight, and nothing goes on writing it once the server is gone
            stopped_at = _bytes_in(up)
            assert 0 < copied_at_close < 400 << 20 and stopped_at < 400 << 20, (copied_at_close, stopped_at)
            time.sleep(0.5)
            assert _bytes_in(up) == stopped_at
            # what runs on the data node keeps running
            assert "rsync" in await data(f"pgrep -af '[r]sync.*{tag}' || true")
            log = (tmp_path / "server.log").read_text()
            # the SDK's stdout writer reports the broken pipe of a dead parent; nothing else may fail
            raised = set(re.findall(r"^[\s|+-]*(\w+(?:Error|Exception|Group)):", log, re.M))
            assert raised <= {"BrokenPipeError", "ExceptionGroup", "BaseExceptionGroup"}, log[-3000:]
            figures = os.environ.get("SJTU_HPC_FIGURES")
            if figures:
                with open(figures, "a") as fh:
                    fh.write(f"orphans how={how.replace(' ', '_')} exit_s={took:.2f} children_left=0\n")
        finally:
            if driver.poll() is None:
                driver.kill()
            await login(f"scancel {job}", check=False)
            await data(f"pkill -f '[r]sync.*{tag}'; rm -rf ~/{tag} /vault/home/acct-hpc/hpcrobot/{tag}", check=False)
            await data(
                f"grep -l -F -- {tag} ~/.sjtu-hpc-mcp/transfers/*/meta.json 2>/dev/null | xargs -r -n1 dirname "
                "| xargs -r rm -rf --",
                check=False,
            )
