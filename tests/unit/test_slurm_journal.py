"""The job journal: line format, merging by mark, lookups; the file: 0600, appended atomically."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from sjtu_hpc_mcp.core.journal import (
    JournalEntry,
    entry_line,
    find_job,
    find_mark,
    job_ids_on,
    output_path,
    parse_journal,
    records,
    started_before,
)
from sjtu_hpc_mcp.shell.journal import JobJournal

PI = "pilogin.hpc.sjtu.edu.cn"
SY = "sylogin.hpc.sjtu.edu.cn"


def entries() -> list[JournalEntry]:
    return [
        JournalEntry(at="t1", event="submitting", mark="mcp-a", node=PI, partition="cpu", script_path="/h/a.sh"),
        JournalEntry(at="t2", event="submitted", mark="mcp-a", node=PI, job_id="5", stdout="/h/o-5.out"),
        JournalEntry(at="t3", event="submitting", mark="mcp-b", node=SY, partition="a100"),
        JournalEntry(
            at="t4", event="submitted", mark="mcp-c", node=PI, job_id="9", stdout="/h/9_%a.out", stderr="/h/e-%a.err"
        ),
    ]


def test_lines_round_trip_and_torn_lines_are_skipped() -> None:
    text = "".join(entry_line(e) for e in entries())
    assert parse_journal(text + '{"at": "t5", "ev') == entries()
    assert parse_journal("not json\n{}\n\n") == []


def test_records_merge_the_events_of_one_submission() -> None:
    recs = records(entries())
    a = find_mark(recs, "mcp-a")
    assert a is not None
    assert (a.partition, a.job_id, a.script_path, a.stdout, a.outcome) == (
        "cpu",
        "5",
        "/h/a.sh",
        "/h/o-5.out",
        "submitted",
    )
    assert a.submitted_at == "t1"
    b = find_mark(recs, "mcp-b")
    assert b is not None and b.job_id is None and b.outcome == "submitting"


def test_lookups_by_node_and_job_id() -> None:
    recs = records(entries())
    assert job_ids_on(recs, PI) == {"5", "9"} and job_ids_on(recs, SY) == set()
    assert find_job(recs, SY, "5") is None  # ids are per cluster
    a = find_job(recs, PI, "5")
    assert a is not None and output_path(a, "stdout", "5") == "/h/o-5.out"
    assert output_path(a, "stderr", "5") == "/h/o-5.out"  # stderr goes with stdout unless split
    c = find_job(recs, PI, "9_3")
    assert c is not None
    assert output_path(c, "stdout", "9_3") == "/h/9_3.out"
    assert output_path(c, "stderr", "9_3") == "/h/e-3.err"
    assert output_path(c, "stdout", "9") is None  # a pattern left open: no single file


def test_the_file_is_private_and_appends_never_interleave(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "ws")
    assert journal.records() == []
    big = "x" * 3000

    def writer(n: int) -> None:
        for i in range(50):
            journal.append(JournalEntry(at=big, event="submitting", mark=f"mcp-{n}-{i}", node=PI))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(journal.entries()) == 400
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700
    os.chmod(journal.path, 0o644)
    journal.append(JournalEntry(at="t", event="submitted", mark="mcp-x", node=PI))
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


def test_started_before() -> None:
    (rec,) = records([JournalEntry(at="2026-12-03T19:00:00+00:00", event="submitting", mark="m", node=PI)])
    assert started_before(rec, 1_900_000_000) and not started_before(rec, 1_700_000_000)
    (odd,) = records([JournalEntry(at="?", event="submitting", mark="m", node=PI)])
    assert started_before(odd, 0)
