"""AuditLog: `<workspace>/audit.jsonl`, one JSON line per act done in the person's name.

Each line is appended with one write(2) on an O_APPEND descriptor, so lines of concurrent writers never
interleave; the file is 0600; past `max_bytes` it is rotated (audit.jsonl.1 … .<keep>). A failure to write
is logged and never fails the act itself.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
MAX_BYTES = 1 << 20
KEEP = 3
MODE = 0o600


class AuditLog:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any]) -> bool:
        line = (json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n").encode()
        try:
            with self._lock:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._rotate_for(len(line))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, MODE)
                try:
                    os.fchmod(fd, MODE)
                    os.write(fd, line)
                finally:
                    os.close(fd)
        except OSError as exc:
            log.warning("could not append to the audit file %s: %s", self.path, exc.strerror)
            return False
        return True

    def _rotate_for(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + adding <= self.max_bytes:
            return
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def last(self, n: int = 20) -> list[dict[str, Any]]:
        """The newest n records, oldest first (from the rotated file too when the current one is short)."""
        lines: list[str] = []
        for p in (self.path, self.path.with_name(f"{self.path.name}.1")):
            try:
                lines = p.read_text(encoding="utf-8", errors="replace").splitlines() + lines
            except FileNotFoundError:
                continue
            if len(lines) >= n:
                break
        records = []
        for text in lines[-n:]:
            try:
                records.append(json.loads(text))
            except ValueError:
                continue
        return records
