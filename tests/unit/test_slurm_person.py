"""The person's login name for Slurm lookups (sacctmgr, %u in output paths)."""

from __future__ import annotations

import time

import asyncssh

from sjtu_hpc_mcp.core.person import login_user


def certificate(principals: list[str]) -> str:
    ca = asyncssh.generate_private_key("ssh-ed25519")
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(key, "t", principals=principals, valid_after=now - 60, valid_before=now + 60)
    return cert.export_certificate("openssh").decode()


def test_configured_then_stored_then_certificate() -> None:
    cert = certificate(["hpcrobot"])
    assert login_user("alice", "bob", cert) == "alice"
    assert login_user(None, "bob", cert) == "bob"
    assert login_user(None, None, cert) == "hpcrobot"
    assert login_user(None, None, None) is None
    assert login_user(None, None, "not a certificate") is None
