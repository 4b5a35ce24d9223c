"""OpenSSH certificates parsed from text, checked against asyncssh's own encoder."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import asyncssh
import pytest

from sjtu_hpc_mcp.core.certs import parse_certificate, public_key_fingerprint
from sjtu_hpc_mcp.core.errors import HpcError


@pytest.fixture(scope="module")
def ca() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def test_fields_match_what_was_signed(ca: asyncssh.SSHKey) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(
        key, "kid-1", principals=["hpcrobot", "alt"], serial=42, valid_after=1_700_000_000, valid_before=1_700_003_600
    )
    parsed = parse_certificate(cert.export_certificate("openssh").decode())
    assert parsed.key_id == "kid-1"
    assert parsed.serial == 42
    assert parsed.cert_type == "user"
    assert parsed.principals == ("hpcrobot", "alt")
    assert parsed.valid_after == datetime.fromtimestamp(1_700_000_000, UTC)
    assert parsed.valid_before == datetime.fromtimestamp(1_700_003_600, UTC)
    assert parsed.key_fingerprint == key.get_fingerprint("sha256")
    assert parsed.ca_fingerprint == ca.get_fingerprint("sha256")
    assert parsed.key_fingerprint == public_key_fingerprint(key.export_public_key("openssh").decode())
    mid = datetime.fromtimestamp(1_700_001_000, UTC)
    assert parsed.is_valid_at(mid)
    assert parsed.seconds_left(mid) == 2600
    assert not parsed.is_valid_at(mid + timedelta(hours=1))
    assert parsed.seconds_left(mid + timedelta(hours=1)) == 0


def test_forever_certificate(ca: asyncssh.SSHKey) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(key, "k", principals=["u"])
    parsed = parse_certificate(cert.export_certificate("openssh").decode())
    assert parsed.valid_before is None
    assert parsed.seconds_left(datetime.now(UTC)) is None


def test_rsa_and_ecdsa_keys_parse(ca: asyncssh.SSHKey) -> None:
    for alg in ("ssh-rsa", "ecdsa-sha2-nistp256"):
        key = (
            asyncssh.generate_private_key(alg, key_size=2048)
            if alg == "ssh-rsa"
            else asyncssh.generate_private_key(alg)
        )
        cert = ca.generate_user_certificate(key, "k", principals=["u"])
        parsed = parse_certificate(cert.export_certificate("openssh").decode())
        assert parsed.key_fingerprint == key.get_fingerprint("sha256")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com !!!notbase64",
        "ssh-ed25519-cert-v01@openssh.com " + base64.b64encode(b"\x00\x00\x00\x05short").decode(),
        "ssh-dss-cert-v01@openssh.com AAAA",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2U= plain key, not a cert",
    ],
)
def test_damaged_certificates_are_refused(text: str) -> None:
    with pytest.raises(HpcError) as err:
        parse_certificate(text)
    assert err.value.code == "E_CERT"
    assert "request_certificate" in str(err.value)


def test_truncated_real_certificate(ca: asyncssh.SSHKey) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    kind, b64 = (
        ca.generate_user_certificate(key, "k", principals=["u"]).export_certificate("openssh").decode().split()[:2]
    )
    blob = base64.b64decode(b64)
    with pytest.raises(HpcError, match="damaged"):
        parse_certificate(f"{kind} {base64.b64encode(blob[:-20]).decode()}")
