"""CredentialStore: the workspace's credential files (docs/platform.md#credentials), with safe modes and atomic writes.

File names are those of the original scripts, so both can share one workspace.
Secrets are read here and handed on; they are never logged or put in an exception.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import HpcError

TOKEN = "hpc_token"  # noqa: S105 (a file name)
KEY = "id_ed25519"
PUBLIC_KEY = "id_ed25519.pub"
CERTIFICATE = "id_ed25519-cert.pub"
USER = "hpc_user"  # not secret: the username the token belongs to
DIR_MODE = 0o700
SECRET_MODE = 0o600


@dataclass(frozen=True)
class FileFacts:
    path: Path
    present: bool
    mode: int | None  # permission bits, None when absent
    owner_ok: bool = True


class CredentialStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / name

    # -- facts -----------------------------------------------------------------------

    def facts(self, name: str | None = None) -> FileFacts:
        path = self.folder if name is None else self.path(name)
        try:
            st = path.lstat()
        except FileNotFoundError:
            return FileFacts(path, False, None)
        if name is not None and not stat.S_ISREG(st.st_mode):
            return FileFacts(path, True, stat.S_IMODE(st.st_mode), owner_ok=False)
        return FileFacts(path, True, stat.S_IMODE(st.st_mode), owner_ok=st.st_uid == os.getuid())

    def read_text(self, name: str) -> str | None:
        try:
            return self.path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HpcError(
                "E_CREDENTIALS",
                f"Cannot read {self.path(name)} ({exc.strerror}).",
                "Check the workspace folder's owner and permissions.",
            ) from None

    def token(self) -> str | None:
        text = self.read_text(TOKEN)
        token = (text or "").strip()
        return token.removeprefix("Bearer ").strip() or None

    def user(self) -> str | None:
        return (self.read_text(USER) or "").strip() or None

    # -- writes ----------------------------------------------------------------------

    def ensure_folder(self) -> None:
        self.folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.folder, DIR_MODE)

    def write(self, name: str, data: str, secret: bool) -> Path:
        self.ensure_folder()
        return write_atomic(self.folder, name, data, SECRET_MODE if secret else 0o644)

    def write_token(self, token: str) -> Path:
        return self.write(TOKEN, token.removeprefix("Bearer ").strip() + "\n", secret=True)

    def write_user(self, user: str) -> Path:
        return self.write(USER, user + "\n", secret=False)


def write_atomic(folder: Path, name: str, data: str, mode: int) -> Path:
    """Atomically replace folder/name: a temp file (0600 from the start) in the same folder, fsync, rename.

    The rename replaces a link of that name, never the file it points to.
    """
    target = folder / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


MAX_PASSWORD_FILE = 1024


def read_password_file(path_text: str, credentials_dir: Path) -> tuple[str, Path]:
    """The password from a file the person uploaded: one line, a small regular file of ours.

    The checks keep a model from pointing here at some other file, which would then be deleted:
    symlinks, large or multi-line files, files of other owners and the credentials folder are refused.
    The caller deletes the file after use (see `delete_password_file`).
    """
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        raise HpcError("E_PASSWORD_FILE", "password_file must be an absolute path.", "Give the uploaded file's path.")
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise HpcError(
            "E_PASSWORD_FILE",
            f"{path} does not exist.",
            "Ask the person to upload a text file holding only the password.",
        ) from None
    except (OSError, ValueError):  # a name too long, or holding a NUL: not a file anyone uploaded
        raise HpcError(
            "E_PASSWORD_FILE",
            "password_file is not a usable path (too long, or it holds a NUL or another odd character).",
            "Give the uploaded file's absolute path.",
        ) from None
    reason = None
    if not stat.S_ISREG(st.st_mode):
        reason = "is not a regular file"
    elif st.st_uid != os.getuid():
        reason = "belongs to another user"
    elif st.st_size > MAX_PASSWORD_FILE or st.st_size == 0:
        reason = "is empty or too large to be a password file"
    elif credentials_dir.resolve() in path.resolve().parents:
        reason = "is inside the credentials folder"
    if reason is None:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) != 1 or not lines[0].strip():
            reason = "does not hold exactly one line"
    if reason is not None:
        raise HpcError(
            "E_PASSWORD_FILE",
            f"{path} {reason}; it was not used and not deleted.",
            "Ask the person to upload a text file holding only the password.",
        )
    return lines[0].strip("\r\n"), path


def delete_password_file(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
