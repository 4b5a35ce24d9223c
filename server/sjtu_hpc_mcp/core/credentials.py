"""Judging the credentials on disk: what is missing, expired or unsafe, and the next step. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from .certs import parse_certificate, public_key_fingerprint
from .errors import HpcError
from .export import ExportedCopy


@dataclass(frozen=True)
class FileSeen:
    """What the shell saw of one file: path, presence, permission bits, owner check."""

    path: str
    present: bool
    mode: int | None
    owner_ok: bool = True


class FileState(BaseModel):
    """One credential file (its path only on the folder: the files are hpc_token, id_ed25519, id_ed25519-cert.pub)."""

    path: str | None = None
    present: bool
    mode: str | None = None
    safe: bool = True


class CertificateState(BaseModel):
    present: bool
    principals: list[str] = []
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    seconds_left: int | None = None
    valid_now: bool = False
    key_id: str | None = None
    ca_fingerprint: str | None = None
    matches_key: bool | None = None


class CredentialStatus(BaseModel):
    folder: FileState
    user: str | None = None
    token: FileState
    private_key: FileState
    key_fingerprint: str | None = None
    certificate: CertificateState
    ready_for_api: bool
    ready_for_ssh: bool
    problems: list[str] = []
    next_step: str
    pending_approvals: list[str] = []
    exports: list[ExportedCopy] = []
    # jobs submitted through this server not reported yet by run_slurm since (ended or not); None: 0
    unreported_jobs: int | None = None
    # the Slurm release of each entry node this server is connected to ({"pilogin.hpc.sjtu.edu.cn": "24.11.5"})
    slurm: dict[str, str] = {}


def _private(seen: FileSeen) -> bool:
    """Safe when nobody but the owner can read or write it, and we own it."""
    return not seen.present or (seen.owner_ok and seen.mode is not None and seen.mode & 0o077 == 0)


def _state(seen: FileSeen, secret: bool, with_path: bool = False) -> FileState:
    mode = None if seen.mode is None else f"{seen.mode:04o}"
    path = seen.path if with_path else None
    return FileState(path=path, present=seen.present, mode=mode, safe=_private(seen) if secret else True)


def assess(
    *,
    folder: FileSeen,
    token: FileSeen,
    key: FileSeen,
    public_key_text: str | None,
    cert_text: str | None,
    stored_user: str | None,
    now: datetime,
    renew_before_s: int = 300,
) -> CredentialStatus:
    problems: list[str] = []
    steps: list[str] = []

    folder_state = _state(folder, secret=True, with_path=True)
    token_state = _state(token, secret=True)
    key_state = _state(key, secret=True)
    unsafe = [seen.path for seen, st in ((folder, folder_state), (token, token_state), (key, key_state)) if not st.safe]
    if unsafe:
        problems.append("Readable by others or not owned by you: " + ", ".join(unsafe) + ".")
        steps.append(
            "restrict them (chmod 700 on the folder, 600 on hpc_token and id_ed25519), "
            "then replace the token and certificate, since others may have read them"
        )

    key_fp = None
    if public_key_text:
        try:
            key_fp = public_key_fingerprint(public_key_text)
        except HpcError:
            problems.append("id_ed25519.pub is not a valid OpenSSH public key.")

    cert = CertificateState(present=cert_text is not None)
    if cert_text is not None:
        try:
            parsed = parse_certificate(cert_text)
        except HpcError as exc:
            problems.append(exc.message)
        else:
            cert = CertificateState(
                present=True,
                principals=list(parsed.principals),
                valid_after=parsed.valid_after,
                valid_before=parsed.valid_before,
                seconds_left=parsed.seconds_left(now),
                valid_now=parsed.is_valid_at(now),
                key_id=parsed.key_id,
                ca_fingerprint=parsed.ca_fingerprint,
                matches_key=None if key_fp is None else key_fp == parsed.key_fingerprint,
            )
    user = stored_user or (cert.principals[0] if cert.principals else None)

    if not token.present:
        problems.append("No API token.")
        steps.append("call request_token (the person uploads a password file or types it in the one-time page)")
    if not key.present:
        problems.append("No SSH private key.")
    if not cert.present:
        problems.append("No SSH certificate.")
    elif cert.valid_before is not None and not cert.valid_now and cert.seconds_left == 0:
        problems.append(f"The SSH certificate expired at {cert.valid_before.isoformat()}.")
    elif not cert.valid_now and cert.valid_after is not None and cert.valid_after > now:
        problems.append(f"The SSH certificate is valid only from {cert.valid_after.isoformat()}.")
    elif cert.valid_now and cert.seconds_left is not None and cert.seconds_left < renew_before_s:
        problems.append(f"The SSH certificate expires in {cert.seconds_left} s.")
    if cert.matches_key is False:
        problems.append("The certificate does not belong to id_ed25519.")
    ready_for_ssh = key.present and cert.valid_now and cert.matches_key is not False and key_state.safe
    if not ready_for_ssh:
        steps.append("call request_certificate (the person approves it in 交我办 or by email)")

    return CredentialStatus(
        folder=folder_state,
        user=user,
        token=token_state,
        private_key=key_state,
        key_fingerprint=key_fp,
        certificate=cert,
        ready_for_api=token.present and token_state.safe,
        ready_for_ssh=ready_for_ssh,
        problems=problems,
        next_step="; then ".join(steps) if steps else "Nothing to do: credentials are ready.",
    )
