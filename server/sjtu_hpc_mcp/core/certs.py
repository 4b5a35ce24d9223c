"""OpenSSH public keys and user certificates, parsed from their text (PROTOCOL.certkeys).

Pure: what `ssh-keygen -L` shows (principals, validity window, key id, signing CA) without
running it. Only public material is handled here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from .errors import HpcError

# Fields of the certified key that precede the serial, per key type.
_KEY_FIELDS = {
    "ssh-ed25519-cert-v01@openssh.com": ("string",),
    "ssh-rsa-cert-v01@openssh.com": ("string", "string"),
    "ecdsa-sha2-nistp256-cert-v01@openssh.com": ("string", "string"),
    "ecdsa-sha2-nistp384-cert-v01@openssh.com": ("string", "string"),
    "ecdsa-sha2-nistp521-cert-v01@openssh.com": ("string", "string"),
    "sk-ssh-ed25519-cert-v01@openssh.com": ("string", "string"),
}
_FOREVER = 2**64 - 1


class Certificate(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_type: str
    key_id: str
    serial: int
    cert_type: str  # "user" or "host"
    principals: tuple[str, ...]
    valid_after: datetime
    valid_before: datetime | None  # None: forever
    key_fingerprint: str  # SHA256 of the certified public key
    ca_fingerprint: str  # SHA256 of the signing CA's public key

    def is_valid_at(self, now: datetime) -> bool:
        return self.valid_after <= now and (self.valid_before is None or now < self.valid_before)

    def seconds_left(self, now: datetime) -> int | None:
        if self.valid_before is None:
            return None
        return max(0, int((self.valid_before - now).total_seconds()))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def string(self) -> bytes:
        return self.take(self.uint32())


def fingerprint(blob: bytes) -> str:
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _blob(text: str, what: str) -> tuple[str, bytes]:
    parts = text.strip().split()
    if len(parts) < 2:
        raise HpcError("E_CERT", f"The {what} is not in OpenSSH format.", "Request a new one with request_certificate.")
    try:
        return parts[0], base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise HpcError(
            "E_CERT", f"The {what} is not valid base64.", "Request a new one with request_certificate."
        ) from None


def public_key_fingerprint(text: str) -> str:
    """Fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA... comment`)."""
    _, blob = _blob(text, "public key")
    return fingerprint(blob)


_PRIVATE_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PRIVATE_END = "-----END OPENSSH PRIVATE KEY-----"
_PRIVATE_MAGIC = b"openssh-key-v1\x00"


def private_key_fingerprint(text: str) -> str:
    """Fingerprint of the public key stored in the clear header of an OpenSSH private key file.

    Only the header is read (cipher, KDF, key count, public key); the secret part is never decoded.
    """
    body = text.strip()
    if not (body.startswith(_PRIVATE_BEGIN) and body.endswith(_PRIVATE_END)):
        raise HpcError("E_KEY", "The file is not an OpenSSH private key.", "Use a key in OpenSSH format.")
    b64 = "".join(body[len(_PRIVATE_BEGIN) : -len(_PRIVATE_END)].split())
    try:
        data = base64.b64decode(b64, validate=True)
        if not data.startswith(_PRIVATE_MAGIC):
            raise ValueError("magic")
        r = _Reader(data)
        r.take(len(_PRIVATE_MAGIC))
        r.string()  # cipher
        r.string()  # KDF
        r.string()  # KDF options
        if r.uint32() < 1:
            raise ValueError("no key")
        return fingerprint(r.string())
    except (binascii.Error, ValueError, struct.error):
        raise HpcError("E_KEY", "The OpenSSH private key is damaged.", "Use a key in OpenSSH format.") from None


def covers(seconds_left: int | None, needed_s: int, slack_s: int = 60) -> bool:
    """Whether a certificate with `seconds_left` (None: no end) is good for `needed_s` more seconds.

    A minute of slack: a certificate requested for an hour a moment ago still counts as an hour.
    """
    return seconds_left is None or seconds_left >= needed_s - slack_s


def _time(value: int) -> datetime:
    return datetime.fromtimestamp(min(value, 253402300799), tz=UTC)


def parse_certificate(text: str) -> Certificate:
    """Parse an OpenSSH certificate line (the `-cert.pub` file)."""
    kind, blob = _blob(text, "certificate")
    fields = _KEY_FIELDS.get(kind)
    if fields is None:
        raise HpcError(
            "E_CERT", f"Unsupported certificate type {kind!r}.", "Request a new one with request_certificate."
        )
    try:
        r = _Reader(blob)
        if r.string().decode() != kind:
            raise ValueError("type mismatch")
        r.string()  # nonce
        key_start = r.pos
        for _ in fields:
            r.string()
        key_parts = blob[key_start : r.pos]
        serial = r.uint64()
        cert_type = {1: "user", 2: "host"}.get(r.uint32(), "unknown")
        key_id = r.string().decode("utf-8", "replace")
        pr = _Reader(r.string())
        principals: list[str] = []
        while pr.pos < len(pr.data):
            principals.append(pr.string().decode("utf-8", "replace"))
        valid_after = r.uint64()
        valid_before = r.uint64()
        r.string()  # critical options
        r.string()  # extensions
        r.string()  # reserved
        ca_blob = r.string()
        r.string()  # signature: read so that a truncated file is caught
    except (ValueError, struct.error, UnicodeDecodeError):
        raise HpcError("E_CERT", "The certificate is damaged.", "Request a new one with request_certificate.") from None
    plain_type = kind.replace("-cert-v01@openssh.com", "")
    plain_blob = struct.pack(">I", len(plain_type)) + plain_type.encode() + key_parts
    return Certificate(
        key_type=plain_type,
        key_id=key_id,
        serial=serial,
        cert_type=cert_type,
        principals=tuple(principals),
        valid_after=_time(valid_after),
        valid_before=None if valid_before == _FOREVER else _time(valid_before),
        key_fingerprint=fingerprint(plain_blob),
        ca_fingerprint=fingerprint(ca_blob),
    )
