"""rsync: each stream's argv, the dry-run and checksum argvs, and reading their itemized output. Pure: no I/O.

Fixed safety policy, not parameters: never `--delete`; without consent `--ignore-existing`, so no
existing destination file changes; partial files wait in a hidden folder, never under a real name
(docs/platform.md#storage).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .split import Entry, file_list

if TYPE_CHECKING:
    from .script import Meta

PARTIAL_DIR = ".sjtu-hpc-partial"  # + "-<id>": rsync keeps interrupted files here, in each destination folder
ARGS_MAX = 32 * 1024  # a stream's units go on its command line up to this many bytes, else in a --files-from list


_ESC = re.compile(r"\\#([0-7]{3})")
_ITEM = re.compile(r"^([<>ch.*][fdLDS][^ ]{9}) (\d+) (.*)$")


@dataclass(frozen=True)
class Itemized:
    changes: str
    size: int
    path: str

    @property
    def is_new(self) -> bool:
        return set(self.changes[2:]) == {"+"}

    @property
    def transfers(self) -> bool:
        return self.changes[0] in "<>c"

    @property
    def changes_existing_file(self) -> bool:
        return self.changes[1] in "fL" and not self.is_new


def parse_itemized(out: str) -> list[Itemized]:
    """`rsync -n -i --out-format='%i %l %n'` lines; rsync writes odd bytes in names as \\#ooo."""
    items: list[Itemized] = []
    for line in out.split("\n"):  # not splitlines(): a name may hold U+2028 and the like, printed raw
        m = _ITEM.match(line)
        if m:
            items.append(Itemized(m.group(1), int(m.group(2)), _unescape(m.group(3)).rstrip("/")))
    return items


def _unescape(name: str) -> str:
    """\\#ooo is one byte of the name (in the C locale every non-ASCII byte): UTF-8 names decode whole."""
    parts = _ESC.split(name)  # text, octal, text, octal, …
    raw = b"".join(
        bytes([int(p, 8) & 0xFF]) if i % 2 else p.encode("utf-8", "surrogateescape") for i, p in enumerate(parts)
    )
    return raw.decode("utf-8", "surrogateescape")


def entries_from_itemized(items: Sequence[Itemized]) -> list[Entry]:
    out: list[Entry] = []
    for it in items:
        if it.transfers and it.path not in ("", "."):
            kind: Literal["f", "d", "l"] = "d" if it.changes[1] == "d" else "l" if it.changes[1] == "L" else "f"
            out.append(Entry(kind, it.size if kind != "d" else 0, it.path))
    return out


# An itemized line of a file or symlink whose content differs or is missing (not only its attributes:
# a cold NFS may force a group or permissions, and that must not fail every move).
CONTENT_DIFF = "^[<>ch][fL]"


def partial_dir(transfer: str) -> str:
    """Per transfer: a resume finds its own partial files, and every stream's command line names its id."""
    return f"{PARTIAL_DIR}-{transfer}"


def _rsync_base(transfer: str, overwrite: bool, bwlimit_kib: int) -> list[str]:
    argv = ["rsync", "-a", f"--partial-dir={partial_dir(transfer)}", "--info=progress2", "--no-human-readable"]
    if bwlimit_kib > 0:
        argv.append(f"--bwlimit={bwlimit_kib}")
    return argv if overwrite else [*argv, "--ignore-existing"]


def stream_argvs(
    meta: Meta, folder: str, lists: Sequence[Sequence[str]], bwlimit_kib: int = 0
) -> tuple[list[list[str]], dict[str, bytes]]:
    """Each stream's rsync argv, and the --files-from lists the longer ones need (path -> content).

    A stream's units go on its command line (`-R SRC/./unit`): measured on the lab, a --files-from
    costs rsync about a tenth more CPU. Only a stream whose units would make a long command line
    reads them from a list. One stream of a folder is a plain recursive copy; a file is copied as itself.
    """
    base = _rsync_base(meta.id, meta.overwrite, bwlimit_kib)
    src, dst = meta.source, meta.destination
    if not meta.is_dir:
        return [[*base, "--", src, dst]], {}
    if len(lists) == 1 and not lists[0]:
        return [[*base, "--", src + "/", dst + "/"]], {}
    argvs: list[list[str]] = []
    files: dict[str, bytes] = {}
    for i, units in enumerate(lists):
        if sum(len(u) + len(src) + 4 for u in units) <= ARGS_MAX:
            argvs.append([*base, "-R", "--", *(f"{src}/./{u}" for u in units), dst + "/"])
        else:
            path = f"{folder}/list.{i}"
            files[path] = file_list(units)
            argvs.append([*base, "-r", f"--files-from={path}", "--from0", "--", src + "/", dst + "/"])
    return argvs, files


def dry_run_argv(source: str, destination: str, is_dir: bool) -> list[str]:
    """What a copy would do, item by item; changes nothing."""
    ends = [source + "/", destination + "/"] if is_dir else [source, destination]
    return ["rsync", "-a", "-n", "--itemize-changes", "--out-format=%i %l %n", "--", *ends]


def verify_argv(source: str, destination: str, is_dir: bool) -> list[str]:
    """A checksum comparison: any file it lists differs (or is missing) at the destination."""
    ends = [source + "/", destination + "/"] if is_dir else [source, destination]
    return ["rsync", "-a", "-c", "-n", "--itemize-changes", "--out-format=%i %l %n", "--", *ends]


def find_argv(source: str) -> list[str]:
    return ["find", source, "-mindepth", "1", "-printf", "%y %s %P\\0"]


def overwrite_preview(items: Sequence[Itemized], limit: int, file_name: str = "(the file itself)") -> list[str]:
    """Existing destination files the copy would change (a single file's item has no path: its name)."""
    return [it.path or file_name for it in items if it.changes_existing_file][:limit]


def differences(items: Sequence[Itemized], limit: int) -> list[str]:
    """Files whose content differs or is missing at the destination (attribute changes do not count)."""
    return [it.path or "(the file itself)" for it in items if re.match(CONTENT_DIFF, it.changes)][:limit]
