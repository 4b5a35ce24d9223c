"""core.since: the jobs submitted through this server that ended since the person last looked, each once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sjtu_hpc_mcp.core import since as s
from sjtu_hpc_mcp.core.journal import JournalEntry, records
from sjtu_hpc_mcp.core.slurm.commands import sacct_usage_argv
from sjtu_hpc_mcp.core.slurm.outcome import parse_usage

PI = "pilogin.hpc.sjtu.edu.cn"
SY = "sylogin.hpc.sjtu.edu.cn"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
USAGE = (Path(__file__).resolve().parents[1] / "lab" / "recorded" / "sacct_usage.txt").read_text()
RUNNING = "30|RUNNING|0:0|00:10:00|01:00:00|1|1|100M|00:00.004||a100\n"


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat(timespec="seconds")


def journal() -> list[JournalEntry]:
    """Jobs 18-21 on pilogin (recorded in sacct_usage.txt: FAILED, OUT_OF_MEMORY, TIMEOUT, COMPLETED),
    job 30 running and 31 unknown to accounting on sylogin, one lost submission, one too old."""
    out = []
    for job, hours in (("18", 5), ("19", 4), ("20", 3), ("21", 2), ("30", 1), ("31", 0.01), ("7", 24 * 30)):
        node = PI if int(job) < 30 else SY
        out.append(JournalEntry(at=at(hours), event="submitting", mark=f"mcp-{job}", node=node, partition="cpu"))
        out.append(
            JournalEntry(
                at=at(hours), event="submitted", mark=f"mcp-{job}", node=node, job_id=job, stderr=f"/h/slurm-{job}.out"
            )
        )
    out.append(JournalEntry(at=at(1), event="submitting", mark="mcp-lost", node=PI))
    return out


def usage(sy: str = RUNNING) -> dict[str, dict[str, s.JobUsage]]:
    return {PI: parse_usage(USAGE), SY: parse_usage(sy)}


def test_pending_jobs_and_their_sacct() -> None:
    recs = records(journal())
    pending = s.pending_jobs(recs, s.SeenMark(), NOW)
    assert [(p.node, p.job_id) for p in pending] == [
        (PI, "18"),
        (PI, "19"),
        (PI, "20"),
        (PI, "21"),
        (SY, "30"),
        (SY, "31"),
    ]
    assert s.sacct_argvs(pending) == {
        PI: sacct_usage_argv(["18", "19", "20", "21"]),
        SY: sacct_usage_argv(["30", "31"]),
    }
    seen = s.SeenMark(seen=[s.job_key(PI, "18"), s.job_key(SY, "18")])
    assert [p.job_id for p in s.pending_jobs(recs, seen, NOW)] == ["19", "20", "21", "30", "31"]
    assert [p.job_id for p in s.pending_jobs(recs, s.SeenMark(), NOW, per_node=1)] == ["21", "31"]
    assert s.unseen_count(recs, s.SeenMark(), NOW) == 6
    assert s.sacct_argvs([]) == {}


def test_ended_jobs_are_reported_once() -> None:
    recs = records(journal())
    mark = s.SeenMark()
    pending = s.pending_jobs(recs, mark, NOW)
    report, mark = s.since_report(pending, usage(), mark, NOW, records=recs)
    assert [(j.node, j.job_id, j.outcome.state) for j in report.jobs] == [
        (PI, "18", "FAILED"),
        (PI, "19", "OUT_OF_MEMORY"),
        (PI, "20", "TIMEOUT"),
        (PI, "21", "COMPLETED"),
    ]
    assert (report.still_active, report.not_accounted, report.not_checked, report.since) == (1, 1, [], None)
    assert report.summary == (
        "4 jobs ended since this server started submitting: 1 FAILED, 1 OUT_OF_MEMORY, 1 TIMEOUT, 1 COMPLETED; "
        "1 still queued or running; 1 not (yet) in accounting."
    )
    assert mark.at == "2026-12-03T12:00:00+00:00" and len(mark.seen) == 4

    later = NOW + timedelta(hours=1)
    again, mark2 = s.since_report(s.pending_jobs(recs, mark, later), usage(), mark, later, records=recs)
    assert again.jobs == [] and again.since == mark.at
    assert again.summary.startswith("No job submitted through this server ended since 2026-12-03T12:00:00+00:00")
    done = RUNNING.replace("RUNNING", "COMPLETED")
    third, _ = s.since_report(s.pending_jobs(recs, mark2, later), usage(done), mark2, later, records=recs)
    assert [(j.job_id, j.outcome.state, j.partition) for j in third.jobs] == [("30", "COMPLETED", "cpu")]


def test_outcomes_carry_exit_codes_efficiency_and_diagnoses() -> None:
    recs = records(journal())
    pending = s.pending_jobs(recs, s.SeenMark(), NOW)
    done = s.ended(pending, usage())
    assert s.stderr_wanted(done) == [
        (PI, "18", "/h/slurm-18.out"),
        (PI, "19", "/h/slurm-19.out"),
        (PI, "20", "/h/slurm-20.out"),
    ]
    tails = {(PI, "18"): "Traceback: boom"}
    report, _ = s.since_report(pending, usage(), s.SeenMark(), NOW, tails)
    jobs = {j.job_id: j.outcome for j in report.jobs}
    assert (jobs["18"].exit_code, jobs["18"].diagnosis, jobs["18"].stderr_tail) == (
        3,
        "The script ended with exit code 3.",
        "Traceback: boom",
    )
    assert jobs["19"].diagnosis is not None and "memory" in jobs["19"].diagnosis
    assert jobs["20"].fix is not None and "options.time" in jobs["20"].fix
    assert (jobs["21"].diagnosis, jobs["21"].elapsed, jobs["21"].cpu_efficiency_percent) == (None, "00:00:04", 26.1)


def test_a_node_that_cannot_be_asked_keeps_its_jobs_pending() -> None:
    recs = records(journal())
    pending = s.pending_jobs(recs, s.SeenMark(), NOW)
    report, mark = s.since_report(pending, {PI: parse_usage(USAGE)}, s.SeenMark(), NOW, records=recs)
    assert report.not_checked == [SY] and "not checked (node unreachable): " + SY in report.summary
    assert [p.job_id for p in s.pending_jobs(recs, mark, NOW)] == ["30", "31"]


def test_array_jobs_end_when_every_task_has() -> None:
    recs = records([JournalEntry(at=at(1), event="submitted", mark="mcp-a", node=PI, job_id="40")])
    pending = s.pending_jobs(recs, s.SeenMark(), NOW)
    running = (
        "40_1|COMPLETED|0:0|00:00:05|00:05:00|1|1|100M|00:00.004||cpu\n"
        "40_2|RUNNING|0:0|00:00:05|00:05:00|1|1|100M|||cpu\n"
    )
    report, _ = s.since_report(pending, {PI: parse_usage(running)}, s.SeenMark(), NOW)
    assert (report.jobs, report.still_active) == ([], 1)
    done = running.replace("RUNNING", "FAILED").replace("40_2|FAILED|0:0", "40_2|FAILED|2:0")
    report, _ = s.since_report(pending, {PI: parse_usage(done)}, s.SeenMark(), NOW)
    assert [(j.job_id, j.outcome.state, j.outcome.exit_code) for j in report.jobs] == [("40", "FAILED", 2)]


def test_the_mark_is_stored_and_read_back_tolerantly() -> None:
    mark = s.SeenMark(at="2026-12-03T12:00:00+00:00", seen=[s.job_key(PI, "18")])
    assert s.parse_seen(s.seen_json(mark)) == mark
    for junk in ("", "not json", '{"seen": 5}', "[]"):
        assert s.parse_seen(junk) == s.SeenMark()


def test_the_mark_forgets_jobs_the_journal_no_longer_holds() -> None:
    recs = records(journal())
    old = s.SeenMark(seen=[s.job_key(PI, "1"), s.job_key(PI, "7")])
    _, mark = s.since_report([], {}, old, NOW, records=recs)
    assert mark.seen == [s.job_key(PI, "7")]
    _, kept = s.since_report([], {}, old, NOW)
    assert kept.seen == old.seen, "without the journal's records nothing is forgotten"


def test_unreadable_submission_times_are_not_asked_about() -> None:
    recs = records([JournalEntry(at="yesterday", event="submitted", mark="mcp-x", node=PI, job_id="9")])
    assert s.pending_jobs(recs, s.SeenMark(), NOW) == []
    naive = records([JournalEntry(at="2026-12-03T11:00:00", event="submitted", mark="mcp-y", node=PI, job_id="9")])
    assert [p.job_id for p in s.pending_jobs(naive, s.SeenMark(), NOW)] == ["9"]
