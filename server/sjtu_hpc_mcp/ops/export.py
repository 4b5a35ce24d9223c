"""The certificate's export (request_certificate's export_to): the key, certificate and an OpenSSH config
on the person's own disk, for their own ssh, scp and VS Code. Folder rules, config text and messages are
in core.export."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.certs import parse_certificate
from ..core.errors import HpcError
from ..core.export import (
    CERT_FILE,
    CONFIG_FILE,
    DEFAULT_FOLDER,
    KEY_FILE,
    RECORD_FILE,
    Exported,
    ExportRecord,
    InFolder,
    Node,
    export_folder,
    folder_problem,
    known_hosts_name,
    missing_host_keys,
    parse_records,
    reminder,
    ssh_config,
    use_lines,
    with_record,
)
from ..core.platform import Platform
from ..settings import Settings
from ..shell import export as disk
from ..shell.credentials import CERTIFICATE, KEY, CredentialStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    folder: Path
    is_default: bool
    found: InFolder


def target(settings: Settings, store: CredentialStore, given: str, roots: list[str]) -> Target:
    """The export folder, symlinks resolved, confined to the shared folders (--local-root and the client's
    roots) or the default one, and what it holds."""
    default = os.path.realpath(Path(DEFAULT_FOLDER).expanduser())
    path = Path(given).expanduser()
    if not path.is_absolute():
        raise HpcError("E_EXPORT_FOLDER", f"{given} is not an absolute path.", f"Give one, e.g. {DEFAULT_FOLDER}.")
    shared = [os.path.realpath(r) for r in [*map(str, settings.local_root), *roots]]
    try:
        folder = Path(export_folder(os.path.realpath(path), shared, default, os.path.realpath(store.folder)))
        facts = disk.folder_facts(folder)
        found = disk.contents(folder)
    except (OSError, ValueError):  # a name too long, or holding a NUL
        raise HpcError(
            "E_EXPORT_FOLDER", "export_to is not a usable folder path.", f"Give a plain one, e.g. {DEFAULT_FOLDER}."
        ) from None
    problem = folder_problem(facts.present, facts.is_dir, facts.owner_ok, facts.mode)
    if problem:
        raise HpcError("E_EXPORT_FOLDER", f"{folder} {problem}.", f"Choose another folder, e.g. {DEFAULT_FOLDER}.")
    return Target(folder, str(folder) == default, found)


def write(
    settings: Settings, platform: Platform, store: CredentialStore, to: Target, user: str
) -> tuple[Exported, str]:
    """Copy the workspace's key and certificate into the folder with a config; record the copy.

    Returns what was written (paths, fingerprint, validity, lines to use) and the reminder for the person.
    """
    cfg = settings
    key_text, cert_text = store.read_text(KEY), store.read_text(CERTIFICATE)
    if not key_text or not cert_text:
        raise HpcError("E_NO_CERT", "The key or certificate is missing from the workspace.", "Call again.")
    cert = parse_certificate(cert_text)
    known_hosts = os.path.abspath(cfg.known_hosts)
    nodes = [Node(n, a.host, a.port) for n in platform.entry_nodes for a in [cfg.address_of(n)]]
    paths = {name: str(to.folder / name) for name in (KEY_FILE, CERT_FILE, CONFIG_FILE)}
    config = ssh_config(nodes, user=user, key=paths[KEY_FILE], cert=paths[CERT_FILE], known_hosts=known_hosts)
    disk.make_folder(to.folder, private=to.is_default)
    disk.write_files(
        to.folder,
        [(KEY_FILE, key_text, 0o600), (CERT_FILE, cert_text.strip() + "\n", 0o644), (CONFIG_FILE, config, 0o600)],
    )
    record = ExportRecord(
        folder=str(to.folder),
        fingerprint=cert.key_fingerprint,
        valid_before=cert.valid_before,
        exported_at=datetime.now(UTC),
    )
    store.write(RECORD_FILE, with_record(parse_records(store.read_text(RECORD_FILE)), record), secret=False)
    log.info("exported the SSH key, certificate and config to %s", to.folder)
    unknown = missing_host_keys(disk.read_text(Path(known_hosts)), [known_hosts_name(n.host, n.port) for n in nodes])
    exported = Exported(
        folder=str(to.folder),
        files={"key": paths[KEY_FILE], "certificate": paths[CERT_FILE], "config": paths[CONFIG_FILE]},
        fingerprint=cert.key_fingerprint,
        valid_after=cert.valid_after,
        valid_before=cert.valid_before,
        use=use_lines(paths[CONFIG_FILE], platform.entry_nodes[0], platform.data_nodes[0]),
    )
    return exported, reminder(cert.valid_before, known_hosts, unknown)
