"""Judging credentials: missing, valid, expired, not yet valid, foreign, unsafe modes."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncssh
import pytest

from sjtu_hpc_mcp.core.credentials import FileSeen, assess

NOW = datetime.now(UTC)
T = int(NOW.timestamp())


@pytest.fixture(scope="module")
def ca() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="module")
def key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def cert(ca: asyncssh.SSHKey, key: asyncssh.SSHKey, after: int, before: int, user: str = "hpcrobot") -> str:
    c = ca.generate_user_certificate(key, "k", principals=[user], valid_after=T + after, valid_before=T + before)
    return c.export_certificate("openssh").decode()


def run(
    key: asyncssh.SSHKey | None,
    cert_text: str | None,
    token: bool = True,
    folder_mode: int = 0o700,
    token_mode: int = 0o600,
    key_mode: int = 0o600,
    owner_ok: bool = True,
):  # type: ignore[no-untyped-def]
    return assess(
        folder=FileSeen("/w/credentials", True, folder_mode),
        token=FileSeen("/w/credentials/hpc_token", token, token_mode if token else None, owner_ok),
        key=FileSeen("/w/credentials/id_ed25519", key is not None, key_mode if key else None),
        public_key_text=key.export_public_key("openssh").decode() if key else None,
        cert_text=cert_text,
        stored_user=None,
        now=NOW,
    )


def test_nothing_there() -> None:
    s = assess(
        folder=FileSeen("/w/credentials", False, None),
        token=FileSeen("/w/credentials/hpc_token", False, None),
        key=FileSeen("/w/credentials/id_ed25519", False, None),
        public_key_text=None,
        cert_text=None,
        stored_user=None,
        now=NOW,
    )
    assert not s.ready_for_api and not s.ready_for_ssh
    assert s.user is None
    assert "request_token" in s.next_step and "request_certificate" in s.next_step
    assert s.next_step.index("request_token") < s.next_step.index("request_certificate")
    assert s.folder.safe and s.token.safe


def test_valid(ca: asyncssh.SSHKey, key: asyncssh.SSHKey) -> None:
    s = run(key, cert(ca, key, -60, 3600))
    assert s.ready_for_api and s.ready_for_ssh
    assert s.user == "hpcrobot"
    assert s.certificate.principals == ["hpcrobot"]
    assert s.certificate.matches_key is True
    assert 3590 <= (s.certificate.seconds_left or 0) <= 3600
    assert s.problems == []
    assert s.next_step.startswith("Nothing to do")
    assert s.key_fingerprint == key.get_fingerprint("sha256")


def test_expired(ca: asyncssh.SSHKey, key: asyncssh.SSHKey) -> None:
    s = run(key, cert(ca, key, -7200, -3600))
    assert not s.ready_for_ssh and s.ready_for_api
    assert any("expired" in p for p in s.problems)
    assert "request_certificate" in s.next_step and "request_token" not in s.next_step


def test_not_yet_valid(ca: asyncssh.SSHKey, key: asyncssh.SSHKey) -> None:
    s = run(key, cert(ca, key, 600, 3600))
    assert not s.ready_for_ssh
    assert any("valid only from" in p for p in s.problems)


def test_about_to_expire_is_still_usable_but_flagged(ca: asyncssh.SSHKey, key: asyncssh.SSHKey) -> None:
    s = run(key, cert(ca, key, -60, 100))
    assert s.ready_for_ssh
    assert any("expires in" in p for p in s.problems)


def test_certificate_of_another_key(ca: asyncssh.SSHKey, key: asyncssh.SSHKey) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    s = run(key, cert(ca, other, -60, 3600))
    assert s.certificate.matches_key is False and not s.ready_for_ssh
    assert any("does not belong" in p for p in s.problems)


def test_damaged_certificate(key: asyncssh.SSHKey) -> None:
    s = run(key, "ssh-ed25519-cert-v01@openssh.com AAAA")
    assert not s.ready_for_ssh and s.problems


@pytest.mark.parametrize(
    ("kw", "unsafe"),
    [
        ({"folder_mode": 0o755}, "/w/credentials"),
        ({"token_mode": 0o644}, "/w/credentials/hpc_token"),
        ({"key_mode": 0o640}, "/w/credentials/id_ed25519"),
        ({"owner_ok": False}, "/w/credentials/hpc_token"),
    ],
)
def test_unsafe_modes(ca: asyncssh.SSHKey, key: asyncssh.SSHKey, kw: dict[str, object], unsafe: str) -> None:
    s = run(key, cert(ca, key, -60, 3600), **kw)  # type: ignore[arg-type]
    assert any(unsafe in p for p in s.problems)
    assert "chmod" in s.next_step
