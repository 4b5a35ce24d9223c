"""JobJournal: the job journal file in the workspace (0600, in a 0700 folder), appended atomically."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.journal import JobRecord, JournalEntry, entry_line, parse_journal, records
from ..core.since import SEEN_FILE
from .credentials import write_atomic

JOURNAL = Path("jobs") / "journal.jsonl"


class JobJournal:
    def __init__(self, workspace: Path) -> None:
        self.path = workspace / JOURNAL

    def append(self, entry: JournalEntry) -> None:
        """One line in one write() on an O_APPEND descriptor: concurrent appends never interleave,
        and a crash leaves at most a torn last line, which readers skip."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = entry_line(entry).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[JournalEntry]:
        try:
            return parse_journal(self.path.read_text(errors="replace"))
        except FileNotFoundError:
            return []

    def records(self) -> list[JobRecord]:
        return records(self.entries())

    # -- the seen mark (core.since): which ended jobs the person has been told about -----------------

    def read_seen(self) -> str:
        try:
            return (self.path.parent / SEEN_FILE).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def write_seen(self, text: str) -> None:
        """0600 in the journal's 0700 folder, replaced atomically."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self.path.parent, SEEN_FILE, text, 0o600)
