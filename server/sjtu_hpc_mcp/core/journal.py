"""The job journal: one JSON line per event of a job submitted through this server.

Not a secret, but the person's own: the shell keeps it 0600 and appends each line in one write.
Pure here: the line format, reading it back (a torn or foreign line is skipped), merging the
events of one submission (by its mark) and lookups.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

Event = Literal["submitting", "submitted", "not_submitted"]


class JournalEntry(BaseModel):
    at: str  # ISO 8601, UTC
    event: Event
    mark: str
    node: str
    partition: str | None = None
    job_id: str | None = None
    script_path: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    reconciled: bool = False


class JobRecord(BaseModel):
    """Everything the journal knows of one submission."""

    mark: str
    node: str
    partition: str | None = None
    job_id: str | None = None
    script_path: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    submitted_at: str | None = None
    outcome: Event = "submitting"


def entry_line(entry: JournalEntry) -> str:
    return entry.model_dump_json(exclude_defaults=True) + "\n"


def parse_journal(text: str) -> list[JournalEntry]:
    entries = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            entries.append(JournalEntry.model_validate(json.loads(line)))
        except (ValueError, ValidationError):
            continue  # a torn last line, or something not ours
    return entries


def records(entries: Iterable[JournalEntry]) -> list[JobRecord]:
    """One record per mark, later events filling in (job id, resolved output paths)."""
    by_mark: dict[str, JobRecord] = {}
    for e in entries:
        r = by_mark.get(e.mark)
        if r is None:
            r = by_mark[e.mark] = JobRecord(mark=e.mark, node=e.node, submitted_at=e.at)
        r.outcome = e.event
        for name in ("partition", "job_id", "script_path", "stdout", "stderr"):
            value = getattr(e, name)
            if value is not None:
                setattr(r, name, value)
    return list(by_mark.values())


def find_job(recs: Iterable[JobRecord], node: str, job_id: str) -> JobRecord | None:
    """The submission of a job id (or of the array an array task `123_4` belongs to) on a node."""
    base = job_id.split("_", 1)[0]
    for r in recs:
        if r.node == node and r.job_id in (job_id, base):
            return r
    return None


def started_before(record: JobRecord, cutoff: float) -> bool:
    """The submission started before cutoff (epoch seconds); an unreadable time counts as old."""
    try:
        return datetime.fromisoformat(record.submitted_at or "").timestamp() < cutoff
    except ValueError:
        return True


def find_mark(recs: Iterable[JobRecord], mark: str) -> JobRecord | None:
    return next((r for r in recs if r.mark == mark), None)


def job_ids_on(recs: Iterable[JobRecord], node: str) -> set[str]:
    return {r.job_id for r in recs if r.node == node and r.job_id}


def output_path(record: JobRecord, stream: Literal["stdout", "stderr"], job_id: str) -> str | None:
    """The recorded path of a stream; for an array task, `%a` in it becomes the task index."""
    path = record.stdout if stream == "stdout" else (record.stderr or record.stdout)
    if path is None:
        return None
    _, sep, task = job_id.partition("_")
    if sep and task.isdigit():
        path = path.replace("%a", task)
    return None if "%" in path else path
