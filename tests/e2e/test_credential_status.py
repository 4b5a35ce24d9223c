"""credential_status through a real stdio subprocess: missing, valid, expired, unsafe modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert, stdio_server

pytestmark = pytest.mark.anyio


async def status(workspace: Path, tmp_path: Path) -> tuple[dict[str, Any], str]:
    log = tmp_path / "server.log"
    async with stdio_server(["--workspace", str(workspace)], stderr_path=log) as client:
        result = await client.call_tool("credential_status", {})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    text = "".join(getattr(c, "text", "") for c in result.content)
    return result.structured_content, text + log.read_text()


@pytest.fixture(scope="module")
def ca() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


async def test_missing(workspace: Path, tmp_path: Path) -> None:
    s, _ = await status(workspace, tmp_path)
    assert not s["token"]["present"] and not s["private_key"]["present"]
    assert not s["certificate"]["present"]
    assert not s["ready_for_api"] and not s["ready_for_ssh"]
    assert "request_token" in s["next_step"]
    assert not (workspace / "credentials").exists(), "a status call must not create anything"


async def test_valid(workspace: Path, tmp_path: Path, ca: asyncssh.SSHKey) -> None:
    key, cert = make_user_cert(ca)
    install_credentials(workspace, key, cert, token="secret-token-value-123")
    s, seen = await status(workspace, tmp_path)
    assert s["ready_for_api"] and s["ready_for_ssh"]
    assert s["user"] == "hpcrobot"
    assert s["certificate"]["principals"] == ["hpcrobot"]
    assert s["certificate"]["valid_now"] and s["certificate"]["matches_key"]
    assert s["key_fingerprint"] == key.get_fingerprint("sha256")
    assert s["token"] == {
        "present": True,
        "mode": "0600",
        "safe": True,
    }
    private = key.export_private_key("openssh").decode()
    assert "secret-token-value-123" not in seen
    assert private.splitlines()[1] not in seen


async def test_expired(workspace: Path, tmp_path: Path, ca: asyncssh.SSHKey) -> None:
    key, cert = make_user_cert(ca, valid_from=-7200, valid_for=-60)
    install_credentials(workspace, key, cert)
    s, _ = await status(workspace, tmp_path)
    assert s["ready_for_api"] and not s["ready_for_ssh"]
    assert not s["certificate"]["valid_now"]
    assert any("expired" in p for p in s["problems"])
    assert "request_certificate" in s["next_step"]


async def test_unsafe_modes(workspace: Path, tmp_path: Path, ca: asyncssh.SSHKey) -> None:
    key, cert = make_user_cert(ca)
    creds = install_credentials(workspace, key, cert)
    creds.chmod(0o755)
    (creds / "hpc_token").chmod(0o644)
    s, _ = await status(workspace, tmp_path)
    assert not s["folder"]["safe"] and s["folder"]["mode"] == "0755"
    assert not s["token"]["safe"] and s["token"]["mode"] == "0644"
    assert s["private_key"]["safe"]
    assert not s["ready_for_api"]
    assert "chmod" in s["next_step"]
