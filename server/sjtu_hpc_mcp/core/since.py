"""Since we last talked: the jobs submitted through this server that ended since the person last looked.

From the job journal's records (core.journal), the seen mark the workspace keeps, and one sacct per entry
node (`sacct_argvs`: core.slurm.commands.sacct_usage_argv, read with core.slurm.outcome.parse_usage): each
ended job with its state, exit code, elapsed time, efficiency and, for a failure, the diagnosis of `wait`.
A job is reported once: `since_report` returns the new mark with the reported jobs in it, and jobs still
queued or running stay pending for the next look. Pure; the caller passes the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ValidationError

from .journal import JobRecord, output_path
from .slurm.commands import sacct_usage_argv
from .slurm.outcome import DIAGNOSED, JobUsage, outcome_of, usage_for
from .slurm.results import JobOutcome

SEEN_FILE = "seen.json"  # beside the job journal in the workspace
MAX_AGE_DAYS = 14  # older submissions are no longer asked about (accounting may have let them go)
MAX_PER_NODE = 200  # the newest unreported submissions asked about per entry node
MAX_SEEN = 5000


class SeenMark(BaseModel):
    """What the person has been told: when they last looked, and the jobs reported then or before."""

    at: str | None = None  # ISO 8601, UTC
    seen: list[str] = []  # keys: "<entry node> <job id>"


def job_key(node: str, job_id: str) -> str:
    return f"{node} {job_id}"


def parse_seen(text: str) -> SeenMark:
    """The mark as stored; anything unreadable is no mark (every job not yet reported then shows once)."""
    try:
        return SeenMark.model_validate(json.loads(text)) if text.strip() else SeenMark()
    except (ValueError, ValidationError):
        return SeenMark()


def seen_json(mark: SeenMark) -> str:
    return mark.model_dump_json() + "\n"


@dataclass(frozen=True)
class Pending:
    """A job this server submitted that has not been reported yet."""

    node: str
    job_id: str
    record: JobRecord

    @property
    def key(self) -> str:
        return job_key(self.node, self.job_id)


def _submitted_at(record: JobRecord) -> datetime | None:
    try:
        when = datetime.fromisoformat(record.submitted_at or "")
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def pending_jobs(
    records: Iterable[JobRecord],
    mark: SeenMark,
    now: datetime,
    *,
    max_age_days: int = MAX_AGE_DAYS,
    per_node: int = MAX_PER_NODE,
) -> list[Pending]:
    """Submitted jobs not reported yet, from the last max_age_days, at most per_node newest per node,
    in the order they were submitted."""
    seen = set(mark.seen)
    oldest = now - timedelta(days=max_age_days)
    by_node: dict[str, list[Pending]] = {}
    for r in records:
        if r.outcome != "submitted" or not r.job_id or job_key(r.node, r.job_id) in seen:
            continue
        when = _submitted_at(r)
        if when is None or when < oldest:
            continue
        by_node.setdefault(r.node, []).append(Pending(r.node, r.job_id, r))
    kept = [p for jobs in by_node.values() for p in jobs[-per_node:]]
    return sorted(kept, key=lambda p: p.record.submitted_at or "")


def sacct_argvs(pending: Iterable[Pending]) -> dict[str, list[str]]:
    """One sacct per entry node, for the state and usage of its pending jobs (and their steps)."""
    ids: dict[str, list[str]] = {}
    for p in pending:
        ids.setdefault(p.node, []).append(p.job_id)
    return {node: sacct_usage_argv(job_ids) for node, job_ids in ids.items()}


def ended(
    pending: Iterable[Pending], usage_by_node: Mapping[str, Mapping[str, JobUsage]]
) -> list[tuple[Pending, JobUsage]]:
    """The pending jobs accounting says have ended (an array: when every task has)."""
    out: list[tuple[Pending, JobUsage]] = []
    for p in pending:
        found = usage_by_node.get(p.node)
        usage = None if found is None else usage_for(dict(found), p.job_id)
        if usage is not None and usage.finished:
            out.append((p, usage))
    return out


def stderr_wanted(done: Iterable[tuple[Pending, JobUsage]]) -> list[tuple[str, str, str]]:
    """(node, job id, path) of the stderr files whose last lines a diagnosis quotes (failed jobs)."""
    out = []
    for p, usage in done:
        path = output_path(p.record, "stderr", p.job_id) if usage.state in DIAGNOSED else None
        if path is not None:
            out.append((p.node, p.job_id, path))
    return out


class EndedJob(BaseModel):
    node: str
    job_id: str
    partition: str | None = None
    submitted_at: str | None = None
    outcome: JobOutcome


class SinceReport(BaseModel):
    since: str | None = None  # the previous look (None: the first)
    jobs: list[EndedJob] = []  # ended since, in the order they were submitted
    still_active: int = 0  # queued or running: reported once they end
    not_accounted: int = 0  # accounting does not know them yet (just submitted) or any more
    not_checked: list[str] = []  # entry nodes whose accounting could not be asked this time
    summary: str


def _summary(jobs: list[EndedJob], active: int, not_accounted: int, not_checked: list[str], since: str | None) -> str:
    when = f"since {since}" if since else "since this server started submitting"
    if not jobs:
        text = f"No job submitted through this server ended {when}"
    else:
        counts: dict[str, int] = {}
        for j in jobs:
            counts[j.outcome.state] = counts.get(j.outcome.state, 0) + 1
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        text = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} ended {when}: {states}"
    if active:
        text += f"; {active} still queued or running"
    if not_accounted:
        text += f"; {not_accounted} not (yet) in accounting"
    if not_checked:
        text += f"; not checked (node unreachable): {', '.join(not_checked)}"
    return text + "."


def since_report(
    pending: list[Pending],
    usage_by_node: Mapping[str, Mapping[str, JobUsage]],
    mark: SeenMark,
    now: datetime,
    tails: Mapping[tuple[str, str], str | None] | None = None,
    records: Iterable[JobRecord] = (),
) -> tuple[SinceReport, SeenMark]:
    """The ended jobs not reported before, and the mark to store once they have been shown.

    usage_by_node: per entry node, parse_usage of its sacct_argvs output; a node left out could not be
    asked (its jobs stay pending). tails: (node, job id) -> last stderr lines, for stderr_wanted. records:
    the journal's, to forget marks of jobs the journal no longer holds (else the mark keeps the old ones).
    """
    done = ended(pending, usage_by_node)
    reported = {p.key for p, _ in done}
    jobs = [
        EndedJob(
            node=p.node,
            job_id=p.job_id,
            partition=p.record.partition or usage.partition,
            submitted_at=p.record.submitted_at,
            outcome=outcome_of(usage, (tails or {}).get((p.node, p.job_id))),
        )
        for p, usage in done
    ]
    checked = [p for p in pending if p.node in usage_by_node and p.key not in reported]
    not_accounted = sum(1 for p in checked if usage_for(dict(usage_by_node[p.node]), p.job_id) is None)
    not_checked = sorted({p.node for p in pending if p.node not in usage_by_node})
    active = len(checked) - not_accounted
    report = SinceReport(
        since=mark.at,
        jobs=jobs,
        still_active=active,
        not_accounted=not_accounted,
        not_checked=not_checked,
        summary=_summary(jobs, active, not_accounted, not_checked, mark.at),
    )
    known = {job_key(r.node, r.job_id) for r in records if r.job_id}
    kept = [k for k in mark.seen if not known or k in known]
    seen = list(dict.fromkeys([*kept, *(p.key for p, _ in done)]))[-MAX_SEEN:]
    return report, SeenMark(at=now.astimezone(UTC).isoformat(timespec="seconds"), seen=seen)


def unseen_count(records: Iterable[JobRecord], mark: SeenMark, now: datetime) -> int:
    """Jobs submitted through this server not reported yet (ended or not): what the first map can say
    without asking any node."""
    return len(pending_jobs(records, mark, now))
