"""request_certificate export_to (issue 10) through a real stdio client: the exported key, certificate and
config work with plain OpenSSH on the lab's five entry nodes; validity, folders, replacements, no key material."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp import types
from mcp.client import Client

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.test_account_tools import APPROVAL_WAIT_S, approve_later, call, login, ok
from lab.api_double import DoubleState, run_double
from sjtu_hpc_mcp.app import build_server
from sjtu_hpc_mcp.core.certs import parse_certificate
from sjtu_hpc_mcp.settings import Settings

pytestmark = pytest.mark.anyio
UNUSED_API = "http://127.0.0.1:9"  # flows that must ask the API nothing


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The server's and ssh's HOME: ~/.ssh/sjtu-hpc lands here, not in the real home."""
    h = tmp_path / "home"
    h.mkdir()
    return h


def server(
    workspace: Path, home: Path, url: str = UNUSED_API, lab: dict[str, Any] | None = None, *extra: str
) -> dict[str, Any]:
    args = [
        "--workspace",
        str(workspace),
        "--api-url",
        url,
        "--approval-wait",
        str(APPROVAL_WAIT_S),
        "--prewarm",
        "false",
    ]
    if lab is not None:
        args += ["--known-hosts", lab["known_hosts"], "--host-map", lab["host_map"]]
    return {"args": [*args, *extra], "env": {"HOME": str(home)}}


def secrets_of(workspace: Path) -> list[str]:
    """The private key's base64 lines and the token: none may appear in a result or a log line."""
    creds = workspace / "credentials"
    key = (creds / "id_ed25519").read_text().splitlines()[1:-1]
    token = (creds / "hpc_token").read_text().strip() if (creds / "hpc_token").exists() else None
    return [line for line in key if len(line) > 20] + ([token] if token else [])


def ssh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    return {**env, "HOME": str(home)}


def openssh(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    return subprocess.run(
        [argv[0], *opts, *argv[1:]], capture_output=True, text=True, timeout=60, env=ssh_env(home), check=False
    )


@pytest.fixture
def lab_ca(lab: dict[str, Any]) -> asyncssh.SSHKey:
    return asyncssh.read_private_key(lab["ca_key"])


@pytest.fixture
def own_ca() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def lab_double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"]) as pair:  # certificates signed by the lab's CA: they log in
        yield pair


# -- acceptance on the lab ---------------------------------------------------------------------------


@pytest.mark.lab
async def test_export_logs_in_with_plain_openssh_everywhere(
    lab: dict[str, Any], lab_double: tuple[str, DoubleState], workspace: Path, home: Path, tmp_path: Path
) -> None:
    url, state = lab_double
    log = tmp_path / "server.log"
    s = server(workspace, home, url, lab, "--log-level", "DEBUG")
    seen: list[str] = []
    async with stdio_server(s["args"], env=s["env"], stderr_path=log) as c:
        await login(c, tmp_path)
        approve_later(state, APPROVAL_WAIT_S + 1)  # after the first call gave up waiting
        err, r, text = await call(c, "request_certificate", export_to="~/.ssh/sjtu-hpc")
        seen.append(text)
        assert not err and r is not None and r["status"] == "waiting_for_approval", text
        assert "export_to" in r["message"]
        folder = home / ".ssh/sjtu-hpc"
        assert not folder.exists(), "nothing is written before the approval"
        deadline = time.monotonic() + 30
        while r["status"] == "waiting_for_approval" and time.monotonic() < deadline:
            err, r, text = await call(c, "request_certificate", export_to="~/.ssh/sjtu-hpc")
            seen.append(text)
            assert not err and r is not None, text
        assert r["status"] == "issued", text
        ex = r["export"]
        assert ex["folder"] == str(folder)
        assert ex["files"] == {
            "key": str(folder / "id_ed25519"),
            "certificate": str(folder / "id_ed25519-cert.pub"),
            "config": str(folder / "config"),
        }
        assert ex["valid_before"] and ex["valid_after"] and ex["fingerprint"].startswith("SHA256:")
        assert ex["use"]["ssh"] == f"ssh -F {folder}/config pilogin"
        assert "remote.SSH.configFile" in ex["use"]["vscode"] and ex["use"]["include"].startswith("Include")
        assert "shared or public computer" in r["message"] and "request_certificate" in r["message"]
        assert "no host key" not in r["message"]
        status = await ok(c, "credential_status")
        seen.append(str(status))
        assert [(e["folder"], e["present"], e["expired"]) for e in status["exports"]] == [(str(folder), True, False)]
        assert status["exports"][0]["valid_before"] == ex["valid_before"]

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "id_ed25519").stat().st_mode) == 0o600
    assert (folder / "id_ed25519").read_text() == (workspace / "credentials/id_ed25519").read_text()
    assert (folder / "id_ed25519").stat().st_uid == os.getuid()
    cfg = str(folder / "config")
    for name, node in lab["nodes"].items():
        for target in (name.split(".")[0], name):
            p = openssh(home, "ssh", "-F", cfg, target, "hostname")
            assert p.returncode == 0 and p.stdout.strip() == node["hostname"], (target, p.stderr)

    payload = tmp_path / "payload.txt"
    payload.write_text("exported-scp-check\n")
    remote = f"export-ssh-{os.getpid()}-{time.time_ns()}.txt"
    p = openssh(home, "scp", "-F", cfg, str(payload), f"data:{remote}")
    assert p.returncode == 0, p.stderr
    back = tmp_path / "back.txt"
    p = openssh(home, "scp", "-F", cfg, f"data:{remote}", str(back))
    assert p.returncode == 0 and back.read_text() == payload.read_text(), p.stderr
    p = openssh(home, "ssh", "-F", cfg, "data", "rm", "-f", remote)
    assert p.returncode == 0, p.stderr

    everything = "\n".join(seen) + log.read_text()
    for secret in secrets_of(workspace):
        assert secret not in everything
    assert "BEGIN OPENSSH PRIVATE KEY" not in everything


@pytest.mark.lab
async def test_longer_validity_gets_a_new_certificate_first(
    lab: dict[str, Any],
    lab_double: tuple[str, DoubleState],
    lab_ca: asyncssh.SSHKey,
    workspace: Path,
    home: Path,
    tmp_path: Path,
) -> None:
    url, state = lab_double
    key, cert = make_user_cert(lab_ca, valid_for=1800)
    install_credentials(workspace, key, cert, token=None)
    shared = tmp_path / "shared"
    shared.mkdir()
    log = tmp_path / "server.log"
    s = server(workspace, home, url, lab, "--local-root", str(shared), "--log-level", "DEBUG")
    seen: list[str] = []
    async with stdio_server(s["args"], env=s["env"], stderr_path=log) as c:
        await login(c, tmp_path)
        # the current certificate covers 10 minutes: exported as it is, nobody is asked
        r = await ok(c, "request_certificate", valid_time=600, export_to=str(shared / "ssh"))
        seen.append(str(r))
        assert r["status"] == "already_valid" and r["export"]["fingerprint"] == key.get_fingerprint("sha256")
        assert not state.snapshot()["approvals"]
        first_until = r["export"]["valid_before"]

        # two hours: a new certificate first, which comes with a new key, so the earlier copy needs confirm
        r = await ok(c, "request_certificate", valid_time=7200, export_to=str(shared / "ssh"))
        seen.append(str(r))
        assert r["status"] == "confirm_needed" and "new key" in r["message"], r
        assert not state.snapshot()["approvals"], "nothing is asked before the person confirmed"
        state.configure(auto_approve_after=0.2)
        r = await ok(c, "request_certificate", valid_time=7200, export_to=str(shared / "ssh"), confirm=True)
        seen.append(str(r))
        assert r["status"] == "issued", r
        assert len(state.snapshot()["approvals"]) == 1
        issued = state.snapshot()["certificates"][-1]
        assert issued["valid_before"] - issued["valid_after"] == 7200 + 60
        ex = r["export"]
        assert ex["fingerprint"] != key.get_fingerprint("sha256") and ex["valid_before"] > first_until
        exported = parse_certificate((shared / "ssh/id_ed25519-cert.pub").read_text())
        assert exported.valid_before is not None
        assert 7000 < exported.valid_before.timestamp() - time.time() <= 7200

        # a fresh folder and a longer need again: covered now, nothing asked
        r = await ok(c, "request_certificate", valid_time=3600, export_to=str(shared / "other"))
        assert r["status"] == "already_valid" and len(state.snapshot()["approvals"]) == 1
        status = await ok(c, "credential_status")
        assert {e["folder"] for e in status["exports"]} == {str(shared / "ssh"), str(shared / "other")}
    p = openssh(home, "ssh", "-F", str(shared / "ssh/config"), "sylogin", "hostname")
    assert p.returncode == 0 and p.stdout.strip() == "sylogin", p.stderr
    everything = "\n".join(seen) + log.read_text()
    for secret in [*secrets_of(workspace), *key.export_private_key("openssh").decode().splitlines()[1:-1]]:
        assert secret not in everything


# -- folders, replacements, key material (no lab: the current certificate covers these) -------------


@pytest.fixture
def creds(workspace: Path, own_ca: asyncssh.SSHKey) -> asyncssh.SSHKey:
    key, cert = make_user_cert(own_ca, valid_for=7200)
    install_credentials(workspace, key, cert, token="secret-token-value-xyz")
    return key


async def test_export_outside_the_allowed_folders_is_refused(
    creds: asyncssh.SSHKey, workspace: Path, home: Path, tmp_path: Path
) -> None:
    shared, outside = tmp_path / "shared", tmp_path / "outside"
    shared.mkdir()
    outside.mkdir()
    (shared / "escape").symlink_to(outside)
    s = server(workspace, home, UNUSED_API, None, "--local-root", str(shared))
    async with stdio_server(s["args"], env=s["env"]) as c:
        for folder, code in [
            (str(outside / "ssh"), "E_LOCAL_ROOT"),
            (str(shared / "escape/ssh"), "E_LOCAL_ROOT"),  # a link out of the shared folder
            (str(home / ".ssh"), "E_LOCAL_ROOT"),  # ~/.ssh itself is not the default folder
            (str(shared / ".." / "outside"), "E_LOCAL_ROOT"),
            ("ssh-keys", "E_EXPORT_FOLDER"),
            (str(workspace / "credentials"), "E_LOCAL_ROOT"),
            (str(shared / "100%"), "E_EXPORT_FOLDER"),
            (str(shared / "a\x00b"), "E_EXPORT_FOLDER"),
            (str(shared / ("a" * 300)), "E_EXPORT_FOLDER"),  # longer than a file name may be
        ]:
            err, _, text = await call(c, "request_certificate", export_to=folder)
            assert err and text.startswith(code), (folder, text)
            assert "Fix:" in text
    assert list(outside.iterdir()) == [] and not (home / ".ssh").exists()
    assert sorted(p.name for p in shared.iterdir()) == ["escape"]


async def test_the_credentials_folder_is_refused_even_when_shared(
    creds: asyncssh.SSHKey, workspace: Path, home: Path
) -> None:
    s = server(workspace, home, UNUSED_API, None, "--local-root", str(workspace))
    async with stdio_server(s["args"], env=s["env"]) as c:
        err, _, text = await call(c, "request_certificate", export_to=str(workspace / "credentials"))
    assert err and text.startswith("E_EXPORT_FOLDER") and "credentials folder" in text
    assert not (workspace / "credentials/config").exists()


async def test_a_different_key_is_replaced_only_with_confirm(
    creds: asyncssh.SSHKey, workspace: Path, home: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    target = shared / "ssh"
    target.mkdir(parents=True)
    other = asyncssh.generate_private_key("ssh-ed25519")
    (target / "id_ed25519").write_bytes(other.export_private_key("openssh"))
    (target / "id_ed25519").chmod(0o600)
    before = (target / "id_ed25519").read_bytes()
    log = tmp_path / "server.log"
    s = server(workspace, home, UNUSED_API, None, "--local-root", str(shared), "--log-level", "DEBUG")
    seen: list[str] = []
    async with stdio_server(s["args"], env=s["env"], stderr_path=log) as c:
        r = await ok(c, "request_certificate", export_to=str(target))
        seen.append(str(r))
        assert r["status"] == "confirm_needed" and other.get_fingerprint("sha256") in r["message"]
        assert "export" not in r or r["export"] is None
        assert (target / "id_ed25519").read_bytes() == before
        assert sorted(p.name for p in target.iterdir()) == ["id_ed25519"]

        r = await ok(c, "request_certificate", export_to=str(target), confirm=True)
        seen.append(str(r))
        assert r["status"] == "already_valid" and r["export"]["fingerprint"] == creds.get_fingerprint("sha256")
        assert (target / "id_ed25519").read_text() == (workspace / "credentials/id_ed25519").read_text()
        assert stat.S_IMODE((target / "id_ed25519").stat().st_mode) == 0o600

        # the same key again: no confirm needed, the same files
        r = await ok(c, "request_certificate", export_to=str(target))
        seen.append(str(r))
        assert r["status"] == "already_valid" and r["export"]["folder"] == str(target)
        status = await ok(c, "credential_status")
        seen.append(str(status))
        assert len(status["exports"]) == 1
    everything = "\n".join(seen) + log.read_text()
    for secret in secrets_of(workspace) + other.export_private_key("openssh").decode().splitlines()[1:-1]:
        assert secret not in everything


async def test_a_config_of_the_person_is_never_replaced(
    creds: asyncssh.SSHKey, workspace: Path, home: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "config").write_text("Host mine\n  HostName example.org\n")
    s = server(workspace, home, UNUSED_API, None, "--local-root", str(shared))
    async with stdio_server(s["args"], env=s["env"]) as c:
        err, _, text = await call(c, "request_certificate", export_to=str(shared), confirm=True)
    assert err and text.startswith("E_EXPORT_EXISTS")
    assert (shared / "config").read_text() == "Host mine\n  HostName example.org\n"
    assert not (shared / "id_ed25519").exists()


async def test_the_default_folder_and_the_clients_roots(
    creds: asyncssh.SSHKey, workspace: Path, home: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()

    async def roots(_: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{project}", name="project")])  # type: ignore[arg-type]

    s = server(workspace, home)
    async with stdio_server(s["args"], env=s["env"], mode="legacy", list_roots_callback=roots) as c:
        r = await ok(c, "request_certificate", export_to=str(project / "hpc-ssh"))
        assert r["export"]["folder"] == str(project / "hpc-ssh")
        r = await ok(c, "request_certificate", export_to="~/.ssh/sjtu-hpc")
        assert r["export"]["folder"] == str(home / ".ssh/sjtu-hpc")
        assert "no host key" in r["message"]  # this server's known_hosts (in HOME) has none yet
        err, _, text = await call(c, "request_certificate", export_to=str(tmp_path / "elsewhere"))
        assert err and text.startswith("E_LOCAL_ROOT")
        status = await ok(c, "credential_status")
        assert [e["folder"] for e in status["exports"]] == [str(project / "hpc-ssh"), str(home / ".ssh/sjtu-hpc")]
    assert stat.S_IMODE((project / "hpc-ssh").stat().st_mode) == 0o700
    config = (home / ".ssh/sjtu-hpc/config").read_text()
    assert f'UserKnownHostsFile "{home}/.ssh/known_hosts"' in config and "HostKeyAlias" not in config
    assert "Host pilogin pilogin.hpc.sjtu.edu.cn" in config and "User hpcrobot" in config


async def test_a_deleted_copy_shows_as_absent(
    creds: asyncssh.SSHKey, workspace: Path, home: Path, tmp_path: Path
) -> None:
    s = server(workspace, home)
    async with stdio_server(s["args"], env=s["env"]) as c:
        await ok(c, "request_certificate", export_to="~/.ssh/sjtu-hpc")
        for name in ("id_ed25519", "id_ed25519-cert.pub", "config"):
            (home / ".ssh/sjtu-hpc" / name).unlink()
        status = await ok(c, "credential_status")
    assert [(e["present"], e["expired"]) for e in status["exports"]] == [(False, False)]


async def test_tool_surface(tmp_path: Path) -> None:
    """export_to lives on request_certificate; its schema names the default folder."""
    async with Client(build_server(Settings(workspace=tmp_path))) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    props = tools["request_certificate"].input_schema["properties"]
    assert "~/.ssh/sjtu-hpc" in props["export_to"]["description"] and props["confirm"]["default"] is False
