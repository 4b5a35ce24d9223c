"""The person's own SSH: where an export of the key, certificate and OpenSSH config may go, what it may
replace, the config text, the lines to use, and the record of exported copies. Pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from . import consent
from .account import check_username
from .certs import parse_certificate
from .errors import HpcError
from .platform import within
from .policy import confine_local

DEFAULT_FOLDER = "~/.ssh/sjtu-hpc"
KEY_FILE = "id_ed25519"
CERT_FILE = "id_ed25519-cert.pub"
CONFIG_FILE = "config"
CONFIG_MARK = "# Written by sjtu-hpc-mcp (request_certificate export_to); the next export replaces it."
_OUR_CONFIG = "# Written by sjtu-hpc-mcp"  # the stable part: a config that starts so is ours to replace
RECORD_FILE = "ssh_exports.json"  # in the credentials folder; not secret
MAX_RECORDS = 20
# Characters an OpenSSH config path cannot hold plainly: quotes, escapes, %-tokens, ${VAR}, glob (Include).
_AWKWARD = re.compile(r"[\"'\\%$*?\[\]\x00-\x1f\x7f]")

Seen = Literal["absent", "file", "other"]  # other: a symlink, folder or device


@dataclass(frozen=True)
class Node:
    """An entry node and where to reach it (its own name on port 22, or the test host map's address)."""

    name: str
    host: str
    port: int = 22


def alias(node: str) -> str:
    """pilogin.hpc.sjtu.edu.cn -> pilogin."""
    return node.split(".", 1)[0]


def known_hosts_name(host: str, port: int) -> str:
    """The name a host key is looked up under in known_hosts (as the server's SSH pool does)."""
    return host if port == 22 else f"[{host}]:{port}"


def check_config_path(path: str) -> str:
    if not posixpath.isabs(path) or _AWKWARD.search(path):
        raise HpcError(
            "E_EXPORT_FOLDER",
            f"{path!r} is not an absolute path an OpenSSH config can name plainly (no quotes, backslash, %, $, "
            "*, ?, brackets or control characters).",
            f"Choose a plainer folder, e.g. {DEFAULT_FOLDER}.",
        )
    return path


def _q(path: str) -> str:
    return f'"{check_config_path(path)}"'


def ssh_config(nodes: Sequence[Node], *, user: str, key: str, cert: str, known_hosts: str) -> str:
    """One Host entry per entry node: its short and full name, the exported key and certificate, the
    known_hosts the server verifies against (strictly: no trust on first use)."""
    check_username(user)
    lines = [
        CONFIG_MARK,
        "# A login certificate for the SJTU HPC platform: never copy this folder to a shared or public computer.",
        "",
    ]
    for n in nodes:
        lines.append(f"Host {alias(n.name)} {n.name}")
        lines.append(f"  HostName {n.host}")
        if n.port != 22:
            lines.append(f"  Port {n.port}")
            lines.append(f"  HostKeyAlias {known_hosts_name(n.host, n.port)}")
        lines += [
            f"  User {user}",
            f"  IdentityFile {_q(key)}",
            f"  CertificateFile {_q(cert)}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {_q(known_hosts)}",
            "  StrictHostKeyChecking yes",
            "",
        ]
    return "\n".join(lines)


def is_our_config(text: str) -> bool:
    return text.startswith(_OUR_CONFIG)


def export_folder(resolved: str, shared: Iterable[str], default: str, credentials: str) -> str:
    """The folder an export may write to (symlinks already resolved): inside a shared folder or the
    default one, and never the server's own credentials folder."""
    check_config_path(resolved)
    folder = confine_local(resolved, [*shared, default])
    own = posixpath.normpath(credentials)
    if within(folder, own):
        raise HpcError(
            "E_EXPORT_FOLDER",
            f"{folder} is the server's own credentials folder.",
            f"Export to another folder, e.g. {DEFAULT_FOLDER}.",
        )
    return folder


def folder_problem(present: bool, is_dir: bool, owner_ok: bool, mode: int | None) -> str | None:
    """Why an existing folder cannot hold a private key safely, or None."""
    if not present:
        return None
    if not is_dir:
        return "is not a folder"
    if not owner_ok:
        return "belongs to another user"
    if mode is not None and mode & 0o022:
        return "can be written by other users"
    return None


@dataclass(frozen=True)
class InFolder:
    """What the export folder already holds under the three names (only public facts of a key)."""

    key: Seen = "absent"
    key_fingerprint: str | None = None  # None: not an OpenSSH key
    cert: Seen = "absent"
    cert_key_fingerprint: str | None = None  # the key the certificate certifies; None: not a certificate
    config: Seen = "absent"
    config_ours: bool = False


def replacements(found: InFolder, writing: str | None) -> list[str]:
    """Existing files an export would replace by something different: they need confirm.

    `writing` is the fingerprint of the key being exported, None when a new one is still to come (a new
    certificate comes with a new key). Links and folders under these names, and a config this server did
    not write, are refused outright.
    """
    odd = [n for n, s in ((KEY_FILE, found.key), (CERT_FILE, found.cert), (CONFIG_FILE, found.config)) if s == "other"]
    if odd:
        raise HpcError(
            "E_EXPORT_EXISTS",
            f"The folder holds {', '.join(odd)} as a link or folder, not a plain file; nothing was written.",
            f"Choose another folder, e.g. {DEFAULT_FOLDER}.",
        )
    if found.config == "file" and not found.config_ours:
        raise HpcError(
            "E_EXPORT_EXISTS",
            "The folder holds an OpenSSH config this server did not write; it is never replaced.",
            f"Choose another folder, e.g. {DEFAULT_FOLDER}.",
        )
    out = []
    if found.key == "file" and (writing is None or found.key_fingerprint != writing):
        out.append(f"{KEY_FILE} (a different key: {found.key_fingerprint or 'not an OpenSSH key'})")
    if found.cert == "file" and (writing is None or found.cert_key_fingerprint != writing):
        out.append(f"{CERT_FILE} (for a different key)")
    return out


class UseLines(BaseModel):
    """How the person uses the export from their own computer."""

    ssh: str
    scp: str
    include: str
    vscode: str


class Exported(BaseModel):
    """Where an export went and how long it works; never the key itself."""

    folder: str
    files: dict[str, str] = {}
    fingerprint: str
    valid_after: datetime
    valid_before: datetime | None = None
    use: UseLines


def use_lines(config: str, login: str, data: str) -> UseLines:
    cfg = shlex.quote(config)
    return UseLines(
        ssh=f"ssh -F {cfg} {alias(login)}",
        scp=f"scp -F {cfg} FILE {alias(data)}:",
        include=f'Include "{config}"  (first line of ~/.ssh/config; then plain ssh {alias(login)} works)',
        vscode='VS Code settings.json: "remote.SSH.configFile": ' + json.dumps(config),
    )


def reminder(valid_before: datetime | None, known_hosts: str, unknown: Sequence[str]) -> str:
    """What the person must hear with every export."""
    until = f"{valid_before:%Y-%m-%d %H:%M} UTC" if valid_before else "no end date"
    text = (
        f"Copied to the export folder; the copy works until {until}. Tell the person: these files log in as them, "
        "so never use them on a shared or public computer. To retire them, delete the folder; a new certificate "
        "(request_certificate) comes with a new key, and this one stops working at the time shown. If they may "
        "have leaked, write to hpc@sjtu.edu.cn."
    )
    if unknown:
        text += (
            f" {known_hosts} has no host key for {', '.join(unknown)}: ssh refuses those until the person adds keys "
            "checked against the fingerprints SJTU HPC publishes."
        )
    return text


def confirm_question(folder: str, replaced: Sequence[str], new_key: bool) -> str:
    """The preview before a key in the export folder is replaced (the replace_key act)."""
    note = " (a new certificate comes with a new key)" if new_key else ""
    return consent.say("replace_key", "preview", folder=folder, replaced="; ".join(replaced), new_key=note)


def missing_host_keys(known_hosts: str | None, names: Sequence[str]) -> list[str]:
    """The lookup names without a host key line in a known_hosts text (plain, lists, patterns or hashed)."""
    entries: list[str] = []
    for raw in (known_hosts or "").splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0].startswith("@"):
            if fields[0] != "@cert-authority" or len(fields) < 2:
                continue  # @revoked: not a trusted key
            fields = fields[1:]
        entries.append(fields[0])
    return [name for name in names if not any(_matches(entry, name) for entry in entries)]


def _matches(entry: str, name: str) -> bool:
    if entry.startswith("|1|"):
        try:
            salt, digest = (base64.b64decode(p, validate=True) for p in entry[3:].split("|", 1))
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
    hit = False
    for pattern in entry.split(","):
        negated = pattern.startswith("!")
        regex = "".join({"*": ".*", "?": "."}.get(c, re.escape(c)) for c in pattern.removeprefix("!"))
        if re.fullmatch(regex, name, re.IGNORECASE):
            if negated:
                return False
            hit = True
    return hit


# -- the record of exported copies (credential_status lists them) --------------------------------------


class ExportRecord(BaseModel):
    folder: str
    fingerprint: str
    valid_before: datetime | None
    exported_at: datetime


class ExportedCopy(BaseModel):
    folder: str
    present: bool
    fingerprint: str | None = None
    valid_before: datetime | None = None
    expired: bool = False


def parse_records(text: str | None) -> list[ExportRecord]:
    """The record file's entries; a damaged file counts as empty (it holds nothing secret)."""
    try:
        items = json.loads(text or "[]")
        return [ExportRecord.model_validate(i) for i in items] if isinstance(items, list) else []
    except (ValueError, ValidationError):
        return []


def with_record(records: Sequence[ExportRecord], new: ExportRecord) -> str:
    """The record file's new text: one entry per folder, newest last, the oldest dropped beyond MAX_RECORDS."""
    kept = [r for r in records if r.folder != new.folder] + [new]
    return json.dumps([r.model_dump(mode="json") for r in kept[-MAX_RECORDS:]], indent=1) + "\n"


def exported_copies(
    records: Sequence[ExportRecord], seen: Sequence[tuple[bool, str | None]], now: datetime
) -> list[ExportedCopy]:
    """Each recorded copy as it is now: `seen` holds, per record, whether its key file is still there and
    the text of its certificate (which may have been replaced since)."""
    out = []
    for rec, (present, cert_text) in zip(records, seen, strict=True):
        fingerprint, valid_before = rec.fingerprint, rec.valid_before
        if present and cert_text:
            try:
                cert = parse_certificate(cert_text)
            except HpcError:
                pass
            else:
                fingerprint, valid_before = cert.key_fingerprint, cert.valid_before
        out.append(
            ExportedCopy(
                folder=rec.folder,
                present=present,
                fingerprint=fingerprint,
                valid_before=valid_before,
                expired=valid_before is not None and valid_before <= now,
            )
        )
    return out
