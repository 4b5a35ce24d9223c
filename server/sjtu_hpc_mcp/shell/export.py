"""The export folder on this computer: what it holds, and writing the key, certificate and config into it.

A private key read here (to compare it with the one exported) is only fingerprinted, never kept or logged.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.certs import parse_certificate, private_key_fingerprint
from ..core.errors import HpcError
from ..core.export import CERT_FILE, CONFIG_FILE, KEY_FILE, InFolder, Seen, is_our_config
from .credentials import DIR_MODE, write_atomic

MAX_READ = 64 * 1024  # bigger than any key, certificate or config this server writes


@dataclass(frozen=True)
class FolderFacts:
    present: bool
    is_dir: bool = False
    owner_ok: bool = True
    mode: int | None = None


def folder_facts(folder: Path) -> FolderFacts:
    try:
        st = folder.lstat()
    except FileNotFoundError:
        return FolderFacts(present=False)
    return FolderFacts(True, stat.S_ISDIR(st.st_mode), st.st_uid == os.getuid(), stat.S_IMODE(st.st_mode))


def _kind(path: Path) -> tuple[Seen, int]:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "absent", 0
    except OSError:
        return "other", 0
    return ("file" if stat.S_ISREG(st.st_mode) else "other"), st.st_size


def _read(path: Path) -> tuple[Seen, str | None]:
    """What is at the path, and its text when it is a plain file small enough to be ours."""
    kind, size = _kind(path)
    if kind != "file" or size > MAX_READ:
        return kind, None
    try:
        return kind, path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return kind, None


def contents(folder: Path) -> InFolder:
    key, key_text = _read(folder / KEY_FILE)
    cert, cert_text = _read(folder / CERT_FILE)
    config, config_text = _read(folder / CONFIG_FILE)
    key_fp = cert_fp = None
    if key_text is not None:
        try:
            key_fp = private_key_fingerprint(key_text)
        except HpcError:
            pass
    if cert_text is not None:
        try:
            cert_fp = parse_certificate(cert_text).key_fingerprint
        except HpcError:
            pass
    ours = config_text is not None and is_our_config(config_text)
    return InFolder(key, key_fp, cert, cert_fp, config, ours)


def make_folder(folder: Path, private: bool) -> None:
    """Create the folder and its missing parents 0700; with `private`, make an existing one 0700 too."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        for p in reversed(missing):
            p.mkdir(mode=DIR_MODE)
        if private or missing:
            os.chmod(folder, DIR_MODE)
    except OSError as exc:
        raise HpcError(
            "E_EXPORT_FOLDER", f"Cannot create {folder} ({exc.strerror}).", "Choose another folder."
        ) from None


def write_files(folder: Path, files: Sequence[tuple[str, str, int]]) -> list[Path]:
    """Write (name, text, mode) files into the folder, each atomically."""
    try:
        return [write_atomic(folder, name, text, mode) for name, text, mode in files]
    except OSError as exc:
        raise HpcError(
            "E_EXPORT_FOLDER", f"Cannot write into {folder} ({exc.strerror}).", "Choose another folder."
        ) from None


def read_text(path: Path) -> str | None:
    """A public file's text (known_hosts), None when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def copy_seen(folder: Path) -> tuple[bool, str | None]:
    """For credential_status: is an exported copy's key still there, and its certificate's text."""
    _, cert_text = _read(folder / CERT_FILE)
    return _kind(folder / KEY_FILE)[0] == "file", cert_text
