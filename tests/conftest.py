"""Shared fixtures: the lab description, a scratch workspace, and the server over a real stdio pipe."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp import StdioServerParameters
from mcp.client import Client

# The server's nine tools, by the design card's names: tests that list tools compare with this one set.
TOOL_NAMES = frozenset(
    {
        "credential_status",
        "request_token",
        "request_certificate",
        "get_user",
        "query_quota",
        "update_user",
        "run_slurm",
        "transfer_data",
        "manage_storage",
    }
)
LAB_DIR = Path(os.environ.get("SJTU_HPC_LAB_DIR", "/var/tmp/sjtu-hpc-lab"))
# Which of the lab's two Slurm versions the lab tests run against: unset (or 22.05) the lab of tests/lab/up,
# 24.11 the one beside it (tests/lab/slurm24: its own entry nodes, known_hosts and lab dir, the same storage,
# users and CA). Its lab.json has the same shape, so a test reaches either through the same host map.
LAB_SLURM = os.environ.get("SJTU_HPC_LAB_SLURM", "").strip()


def lab_json_path() -> Path:
    if LAB_SLURM in ("", "22.05"):
        return LAB_DIR / "lab.json"
    return LAB_DIR / f"slurm-{LAB_SLURM}" / "lab.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def load_lab() -> dict[str, Any]:
    path = lab_json_path()
    if not path.exists():
        pytest.fail(f"the lab is not up ({path} missing): run tests/lab/up as root, or deselect with -m 'not lab'")
    return dict(json.loads(path.read_text()))


@pytest.fixture(scope="session")
def lab() -> dict[str, Any]:
    return load_lab()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws


def make_user_cert(
    ca: asyncssh.SSHKey, user: str = "hpcrobot", valid_from: float = -60, valid_for: float = 3600
) -> tuple[asyncssh.SSHKey, str]:
    """A fresh Ed25519 key and an OpenSSH user certificate for it signed by `ca`."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key, f"test-{user}", principals=[user], valid_after=now + int(valid_from), valid_before=now + int(valid_for)
    )
    return key, cert.export_certificate("openssh").decode()


def install_credentials(
    workspace: Path, key: asyncssh.SSHKey, cert_text: str, token: str | None = "test-token"
) -> Path:
    creds = workspace / "credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    (creds / "id_ed25519").write_bytes(key.export_private_key("openssh"))
    (creds / "id_ed25519").chmod(0o600)
    (creds / "id_ed25519.pub").write_bytes(key.export_public_key("openssh"))
    (creds / "id_ed25519-cert.pub").write_text(cert_text)
    if token is not None:
        (creds / "hpc_token").write_text(token + "\n")
        (creds / "hpc_token").chmod(0o600)
    return creds


ServerArgs = Callable[..., list[str]]


@asynccontextmanager
async def stdio_server(
    args: list[str], env: dict[str, str] | None = None, stderr_path: Path | None = None, **client_kw: Any
) -> AsyncIterator[Client]:
    """The server as a real subprocess, spoken to by the SDK client over stdio.

    With `stderr_path`, the server's stderr (its log) is captured there for assertions.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    full_env.update(env or {})
    argv = [sys.executable, "-m", "sjtu_hpc_mcp", *args]
    if stderr_path is not None:
        argv = ["/bin/sh", "-c", f'exec "$@" 2>>{shlex.quote(str(stderr_path))}', "sh", *argv]
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=full_env)
    async with Client(params, **client_kw) as client:
        yield client
