"""run_slurm wait through a real stdio client on the lab: a job followed to its end in calls of at
most 50 s with progress notifications, diagnoses of failed jobs, and one shared poll per node."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, make_user_cert, stdio_server
from sjtu_hpc_mcp.core.slurm.outcome import oom_kills

pytestmark = [pytest.mark.lab, pytest.mark.anyio]

OOM_SCRIPT = """#!/bin/bash
python3 -c '
import time
a = []
for i in range(100):
    a.append(bytearray(20 * 1024 * 1024))
    time.sleep(0.05)
'
"""


def server_args(lab: dict[str, Any], workspace: Path) -> list[str]:
    return ["--workspace", str(workspace), "--known-hosts", lab["known_hosts"], "--host-map", lab["host_map"]]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    workspace = tmp_path_factory.mktemp("wait") / "workspace"
    workspace.mkdir()
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    async with stdio_server(server_args(lab, workspace), stderr_path=workspace.parent / "server.log") as c:
        yield c


async def call(client: Client, **args: Any) -> dict[str, Any]:
    r = await client.call_tool("run_slurm", args)
    text = "".join(getattr(c, "text", "") for c in r.content)
    assert not r.is_error, text
    assert r.structured_content is not None
    return r.structured_content


async def submit(client: Client, script: str, **options: Any) -> str:
    r = await call(client, command="sbatch", partition="cpu", script=script, options=options)
    return str(r["submission"]["job_id"])


@pytest.fixture(scope="module")
async def jobs(client: Client) -> dict[str, str]:
    """Submitted together so that their minutes overlap."""
    return {
        "long": await submit(client, "#!/bin/bash\necho start\nsleep 70\necho end\n", time="5", mem="200M"),
        "exit": await submit(
            client, "#!/bin/bash\necho working\necho 'ValueError: no input.csv' >&2\nexit 3\n", time="5", mem="100M"
        ),
        "oom": await submit(client, OOM_SCRIPT, time="5", mem="100M"),
        "timeout": await submit(client, "#!/bin/bash\necho tick\nsleep 600\n", time="1", mem="100M"),
    }


async def wait_until_done(client: Client, job_id: str, progress: list[str]) -> tuple[dict[str, Any], list[float]]:
    """Call wait (at most 50 s a call) until the job has ended; the durations of the calls."""

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    durations = []
    for _ in range(6):
        start = time.monotonic()
        r = await client.call_tool(
            "run_slurm",
            {"command": "wait", "node_group": "pi", "job_ids": [job_id], "wait_s": 50},
            progress_callback=on_progress,
        )
        durations.append(time.monotonic() - start)
        assert not r.is_error, r.content
        assert r.structured_content is not None
        if r.structured_content["done"]:
            return r.structured_content, durations
    raise AssertionError(f"job {job_id} did not end")


async def test_a_70_s_job_is_followed_to_its_end_with_progress(client: Client, jobs: dict[str, str]) -> None:
    progress: list[str] = []
    result, durations = await wait_until_done(client, jobs["long"], progress)
    assert len(durations) >= 2 and max(durations) <= 52, durations  # 50 s of waiting + one reply
    (job,) = result["jobs"]
    assert (job["state"], job["exit_code"], job["finished"]) == ("COMPLETED", 0, True)
    assert job["elapsed"] >= "00:01:10" and job["cpu_efficiency_percent"] is not None
    assert job["memory_requested_mb"] == 200 and job["memory_efficiency_percent"] is not None
    assert f"job {jobs['long']}: RUNNING" in progress and progress[-1] == f"job {jobs['long']}: COMPLETED"


@pytest.mark.parametrize(
    ("kind", "state", "diagnosis", "fix"),
    [
        ("exit", "FAILED", "exit code 3", "stderr lines below"),
        ("oom", "OUT_OF_MEMORY", "memory limit of 100 MB", "Raise mem, e.g. options.mem=1G"),
        ("timeout", "TIMEOUT", "time limit (00:01:00)", "Raise time, e.g. options.time=00:10:00"),
    ],
)
async def test_failed_jobs_get_a_diagnosis_and_the_fix(
    client: Client, jobs: dict[str, str], kind: str, state: str, diagnosis: str, fix: str
) -> None:
    result, _ = await wait_until_done(client, jobs[kind], [])
    (job,) = result["jobs"]
    assert job["state"] == state, job
    assert diagnosis in job["diagnosis"] and fix in job["fix"]
    if kind == "exit":
        assert job["exit_code"] == 3 and "ValueError: no input.csv" in job["stderr_tail"]
    if kind == "oom":  # slurmstepd's line, worded differently by 22.05 and 24.11, is read and named
        assert oom_kills(job["stderr_tail"]) and "oom-kill event in step" in job["diagnosis"]


def sessions_by_port(log: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for port in re.findall(r"Starting session: command for \S+ from \S+ port (\d+)", log):
        counts[port] = counts.get(port, 0) + 1
    return counts


def server_port(workspace: Path, pilogin_port: int) -> str:
    """The local port of the server process's connection to pilogin (127.0.0.1:<pilogin_port>)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sjtu_hpc_mcp" in cmdline and str(workspace).encode() in cmdline:
            inodes = {
                link.readlink().name[len("socket:[") : -1]
                for link in (proc / "fd").iterdir()
                if str(link.readlink()).startswith("socket:")
            }
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                f = line.split()
                if f[2].upper() == f"0100007F:{pilogin_port:04X}" and f[9] in inodes:  # 127.0.0.1:<port>
                    return str(int(f[1].split(":")[1], 16))
    raise AssertionError("the server's connection to pilogin was not found")


async def test_twenty_concurrent_waits_share_one_poll_per_node(lab: dict[str, Any], workspace: Path) -> None:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    sshd_log = Path(lab["lab_dir"]) / "log" / "sshd-pilogin.log"
    server_log = workspace.parent / "server20.log"
    async with stdio_server(server_args(lab, workspace), stderr_path=server_log) as c:
        ids = [await submit(c, f"#!/bin/bash\nsleep {8 + i % 5}\n", time="5", mem="64M") for i in range(20)]
        port = server_port(workspace, lab["nodes"]["pilogin.hpc.sjtu.edu.cn"]["port"])
        before = sshd_log.read_text(errors="replace")
        polls_before = server_log.read_text().count("sjtu_hpc_mcp.shell.watch: poll ")
        start = time.monotonic()

        async def follow(job_id: str) -> dict[str, Any]:
            for _ in range(6):  # a busy lab may keep the jobs pending for a while
                r = await call(c, command="wait", node_group="pi", job_ids=[job_id], wait_s=50)
                if r["done"]:
                    break
            return r

        results = await asyncio.gather(*(follow(j) for j in ids))
        window = time.monotonic() - start
        after = sshd_log.read_text(errors="replace")
    assert all(r["done"] and r["jobs"][0]["state"] == "COMPLETED" for r in results)
    sessions = sessions_by_port(after[len(before) :]).get(port, 0)
    polls = server_log.read_text().count("sjtu_hpc_mcp.shell.watch: poll ") - polls_before
    print(f"20 concurrent waits: {window:.1f} s, {sessions} sshd sessions on pilogin, {polls} polls logged")
    assert sessions == polls, (sessions, polls)  # every command in the window was a shared poll
    assert 1 <= sessions <= window / 2.0 + 1, (sessions, window)  # at most one per 2 s poll gap


async def test_sbatch_warns_when_far_above_recent_usage(client: Client, lab: dict[str, Any], workspace: Path) -> None:
    quick = [await submit(client, "#!/bin/bash\ntrue\n", time="5", mem="64M") for _ in range(3)]
    done = await call(client, command="wait", node_group="pi", job_ids=quick, wait_s=40)
    assert done["done"]
    # a fresh server: limits and recent usage are kept for 10 minutes per process
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    async with stdio_server(server_args(lab, workspace)) as fresh:
        r = await call(
            fresh,
            command="sbatch",
            partition="cpu",
            script="#!/bin/bash\ntrue\n",
            test_only=True,
            options={"mem": "8G", "time": "2-00:00:00"},
        )
    warnings = "\n".join(r["submission"]["warnings"])
    assert "mem asks for 8 GB; your last" in warnings and "time asks for 2880 min" in warnings
