"""SlurmJobs: runs the core's Slurm requests on an entry node, with the job journal and the shared
waiter. Thin: every rule, argv, parser and message comes from the core; this module sequences I/O.

- every Slurm argv runs as `env SLURM_TIME_FORMAT=standard …` (core.slurm.commands.remote_argv);
- sbatch: upload, journal, submit; a lost reply is reconciled by the job's mark (squeue, then
  sacct's SubmitLine), never submitted twice;
- job_output: from Slurm while it knows the job, else from the journal;
- wait: one poll per entry node however many calls wait (watch.JobWatch).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime

from ..core import consent
from ..core import journal as jr
from ..core import slurm as s
from ..core.errors import ConnectionLost, HpcError
from ..core.person import login_user
from ..core.platform import Platform
from ..core.policy import (
    Route,
    of_other_group,
    refuse_cold_reads,
    refuse_job_paths_elsewhere,
    time_limit_warnings,
)
from ..core.results import table
from ..core.slurm import commands as c
from ..core.slurm import limits as lm
from ..core.slurm import notify as nt
from ..core.slurm import outcome as oc
from ..core.slurm import requests as rq
from ..core.slurm import script as sc
from ..core.slurm.results import JobOutcome, JobOutput, SlurmResult, Submission
from ..core.slurm.units import duration_seconds
from ..settings import Settings
from ..shell.credentials import CERTIFICATE
from ..shell.journal import JobJournal
from ..shell.ssh import RunResult, SshPool
from ..shell.watch import JobWatch, OnChange

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 4096
# sacctmgr costs ~0.2 s a call (a slurmdbd round trip) and limits rarely change: kept this long.
KEEP_LIMITS_S = 600.0
MAX_REMEMBERED = 5000  # stderr tails kept for calls that come back
SACCT_LAG_S = (0.0, 1.0, 2.0, 3.0)


class SlurmJobs:
    def __init__(self, settings: Settings, platform: Platform, ssh: SshPool, journal: JobJournal) -> None:
        self.settings = settings
        self.platform = platform
        self.ssh = ssh
        self.journal = journal
        self.watches: dict[str, JobWatch] = {}
        self._tails: dict[tuple[str, str], str | None] = {}
        self._hosts: dict[str, str] = {}
        self._kept: dict[tuple[str, tuple[str, ...]], tuple[float, str]] = {}  # limits and recent usage
        # Set by the composition root: the email bound to the account (notify), and warnings about the
        # script read on the node while it uploads (ops.modules: modules the node group lacks).
        self.bound_email: Callable[[], Awaitable[str | None]] | None = None
        self.script_check: Callable[[Route, str], Awaitable[list[str]]] | None = None

    # -- running -------------------------------------------------------------------------

    async def run(self, node: str, argv: Sequence[str], *, idempotent: bool = True, check: bool = True) -> RunResult:
        name = c.command_name(argv)
        try:
            r = await self.ssh.run(node, c.remote_argv(argv), idempotent=idempotent)
        except HpcError as exc:  # the pool names argv[0]: say `sbatch`, not `env`
            message = exc.message.replace("env on ", f"{name} on ", 1).replace("running env.", f"running {name}.")
            raise exc.reworded(message) from None
        self._hosts[node] = r.hostname
        if check and not r.ok:
            raise rq.command_failed(name, node, r.exit_status, r.stderr)
        return r

    @staticmethod
    def _result(command: s.Command, r: RunResult, **fields: object) -> SlurmResult:
        return SlurmResult.model_validate({"command": command, "node": r.node, "host": r.hostname, **fields})

    def _ours(self, node: str) -> set[str]:
        return jr.job_ids_on(self.journal.records(), node)

    # -- read-only -----------------------------------------------------------------------

    async def query(self, route: Route, req: rq.Query[object], limit: int) -> SlurmResult:
        r = await self.run(route.node, req.argv, check=False)
        if not r.ok and not req.means_none(r.stderr):
            raise rq.command_failed(c.command_name(req.argv), route.node, r.exit_status, r.stderr)
        rows = [
            row
            for row in (req.parse(r.stdout) if r.ok else [])
            if not of_other_group(self.platform, route, req.partition_of(row)) and req.keep(row)
        ]
        ours = None if req.command == "sinfo" else self._ours(route.node)
        summary, shown = req.summary(rows, route.group), req.table(rows, limit, ours)
        result = self._result(req.command, r, summary=summary, table=shown)
        if req.command == "sinfo":  # asked once per connection; behaviour that differs is in the parsers
            version = await self.ssh.slurm_version(route.node)
            result.slurm = str(version) if version else None
        return result

    async def seff(self, route: Route, req: rq.SeffRequest) -> SlurmResult:
        r = await self.run(route.node, req.argv)
        report = req.parse(r.stdout)
        return self._result("seff", r, summary=req.summary(report), efficiency=report)

    # -- sbatch --------------------------------------------------------------------------

    def _user(self) -> str | None:
        store = self.ssh.store
        return login_user(self.settings.user, store.user(), store.read_text(CERTIFICATE))

    async def submit(self, route: Route, req: rq.SbatchRequest) -> SlurmResult:
        o = req.options
        script, added = sc.prepare_script(req.script)
        refuse_cold_reads(self.platform, script, o.output, o.error, o.workdir)
        refuse_job_paths_elsewhere(
            self.platform, route.group, {"output": o.output, "error": o.error, "workdir": o.workdir}
        )
        limit_s = None if o.time is None else duration_seconds(o.time)
        warnings = time_limit_warnings(self.platform, req.partition, limit_s) + added
        mail = await self._mail(req)  # before anything is uploaded or journalled: no email, no job
        mark = sc.new_mark(uuid.uuid4().hex)
        upload = self.ssh.put_file(route.node, sc.script_name(mark, datetime.now(UTC)), script, mode=0o700)
        checked = self.script_check(route, script) if self.script_check else asyncio.sleep(0, [])
        path, from_limits, earlier, from_script = await asyncio.gather(
            upload, self._limit_warnings(route, req), self._settle_earlier(route), checked
        )
        warnings += earlier + from_script + from_limits
        mails = "" if mail is None else f"; mail on {mail['mail_type']} to {mail['mail_user']}"
        argv = req.argv(path, mark, mail)
        if not req.test_only:
            self._journal("submitting", route, mark, partition=req.partition, script_path=path)
        try:
            r = await self.run(route.node, argv, idempotent=False, check=False)
        except ConnectionLost:
            if req.test_only:
                raise
            return await self._reconcile(route, req, mark, path, warnings)
        if req.test_only:
            est = s.parse_sbatch_test_only(r.stderr)
            if r.exit_status != 0 or est is None:
                raise rq.command_failed("sbatch", route.node, r.exit_status, r.stderr)
            where = f" on {est.nodes}" if est.nodes else ""
            sub = Submission(script_path=path, test_only=True, estimated_start=est.start_time, warnings=warnings)
            return self._result(
                "sbatch",
                r,
                submission=sub,
                summary=f"test only: would start at {est.start_time}{where}; nothing submitted{mails}",
            )
        submitted = s.parse_sbatch(r.stdout) if r.ok else None
        if submitted is None:
            self._journal("not_submitted", route, mark)
            raise rq.command_failed("sbatch", route.node, r.exit_status, r.stderr)
        sub = self._submitted(route, req, mark, path, str(submitted.job_id), warnings, reconciled=False)
        summary = f"submitted job {submitted.job_id} to {req.partition}{mails}"
        return self._result("sbatch", r, submission=sub, summary=summary)

    async def _mail(self, req: rq.SbatchRequest) -> dict[str, str] | None:
        if req.notify is None:
            return None
        email = await self.bound_email() if self.bound_email else None
        return nt.mail_options(req.notify, email)

    async def _limit_warnings(self, route: Route, req: rq.SbatchRequest) -> list[str]:
        """The account's limits and recent usage, read while the script uploads. Best effort: a
        site that hides sacctmgr, or a slow answer, costs the warnings, never the submission."""
        ask = lm.ask_of(req.options)
        user = self._user()
        assoc_argv = None
        with suppress(HpcError):  # a login name sacctmgr would not take: no association lookup
            assoc_argv = lm.assoc_argv(user) if user else None

        async def out(argv: list[str], keep: bool = True) -> str | None:
            key = (route.node, tuple(argv))
            kept = self._kept.get(key)
            if keep and kept is not None and time.monotonic() - kept[0] < KEEP_LIMITS_S:
                return kept[1]
            with suppress(HpcError):
                r = await self.run(route.node, argv, check=False)
                if r.ok:
                    self._kept[key] = (time.monotonic(), r.stdout)
                    return r.stdout
            return None

        assoc, qos, queue, recent = await asyncio.gather(
            out(assoc_argv) if assoc_argv else asyncio.sleep(0, None),
            out(lm.qos_argv()),
            out(c.squeue_argv(), keep=False),
            out(c.sacct_recent_usage_argv(lm.RECENT_START)),
        )
        limits: list[lm.Limits] = []
        if assoc is not None:
            limits, qos_names = lm.parse_assoc(assoc, req.partition)
            if qos is not None:
                limits += lm.parse_qos(qos, qos_names)
        queued = None if queue is None else len(s.parse_squeue(queue))
        warnings = lm.limit_warnings(ask, limits, queued)
        if recent is not None:
            warnings += lm.usage_warnings(ask, oc.parse_usage(recent).values())
        return warnings

    def _journal(self, event: jr.Event, route: Route, mark: str, **fields: object) -> None:
        entry = jr.JournalEntry.model_validate(
            {"at": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, "mark": mark, "node": route.node}
            | fields
        )
        try:
            self.journal.append(entry)
        except OSError as exc:  # the journal helps later calls; it must not undo a submission
            log.warning("cannot write the job journal %s: %s", self.journal.path, exc)

    def _submitted(
        self,
        route: Route,
        req: rq.SbatchRequest,
        mark: str,
        path: str,
        job_id: str,
        warnings: list[str],
        *,
        reconciled: bool,
    ) -> Submission:
        home = sc.home_of(path) or "~"
        out, err = sc.output_paths(req.options, home=home, job_id=job_id, script_path=path, user=self._user())
        self._journal("submitted", route, mark, job_id=job_id, stdout=out, stderr=err, reconciled=reconciled)
        return Submission(
            job_id=job_id, script_path=path, reconciled=reconciled, stdout=out, stderr=err, warnings=warnings
        )

    async def _find_mark(self, node: str, mark: str, lag: Sequence[float]) -> tuple[str | None, bool]:
        """(job id, sure) of the submission carrying a mark; sure is False when accounting
        could not be asked (an old Slurm without SubmitLine, a sacct error).

        squeue knows jobs until MinJobAge after they end; sacct's SubmitLine (the script path
        carries the mark) covers a job that has already been forgotten.
        """
        r = await self.run(node, c.squeue_comments_argv())
        found = [row.job_id for row in s.find_by_comment(s.parse_job_comments(r.stdout), mark)]
        if found:
            return found[0], True
        sure = False
        for delay in lag:
            await asyncio.sleep(delay)
            a = await self.run(node, c.sacct_submit_lines_argv(), check=False)
            if a.ok:
                sure = True
                found = [row.job_id for row in s.parse_submit_lines(a.stdout) if mark in row.marks]
                if found:
                    return found[0], True
        return None, sure

    async def _reconcile(
        self, route: Route, req: rq.SbatchRequest, mark: str, path: str, warnings: list[str]
    ) -> SlurmResult:
        """The reply to sbatch was lost: find the job by its mark instead of submitting twice.
        Accounting lists a new job a second or two late, so it is asked again (SACCT_LAG_S)
        before the person is told that submitting again is safe."""
        try:
            job_id, sure = await self._find_mark(route.node, mark, SACCT_LAG_S)
        except HpcError:
            job_id, sure = None, False
        if job_id is None and sure:
            self._journal("not_submitted", route, mark)
            raise ConnectionLost(
                f"The connection to {route.node} was lost during sbatch, and no job with its mark {mark} exists.",
                "It was not submitted; it is safe to submit again.",
            )
        if job_id is None:
            raise HpcError(
                "E_LOST_UNSURE",
                f"The connection to {route.node} was lost during sbatch, and whether the job was queued cannot be "
                f"checked now. The job journal keeps its mark {mark}.",
                "Do not submit it again yet: in a minute, call squeue or sacct (jobs this server submitted are "
                "marked via_mcp); the next sbatch also reports what became of it.",
            )
        sub = self._submitted(route, req, mark, path, job_id, warnings, reconciled=True)
        return SlurmResult(
            command="sbatch",
            node=route.node,
            host=self._hosts.get(route.node, ""),
            submission=sub,
            summary=f"submitted job {job_id} (found by its mark after the reply was lost)",
        )

    async def _settle_earlier(self, route: Route) -> list[str]:
        """Submissions whose reply was lost and could not be checked then: what became of them.
        Only those older than any sbatch still in flight."""
        cutoff = datetime.now(UTC).timestamp() - self.settings.command_timeout - 10
        pending = [
            r
            for r in self.journal.records()
            if r.node == route.node and r.outcome == "submitting" and jr.started_before(r, cutoff)
        ]
        notes = []
        for rec in pending[-5:]:
            with suppress(HpcError):
                job_id, sure = await self._find_mark(route.node, rec.mark, (0.0,))
                if job_id is not None:
                    self._journal("submitted", route, rec.mark, job_id=job_id, reconciled=True)
                    notes.append(
                        f"An earlier submission ({rec.mark}, {rec.submitted_at}) whose reply was lost is job "
                        f"{job_id}: make sure this one is not the same work again."
                    )
                elif sure:
                    self._journal("not_submitted", route, rec.mark)
        return notes

    # -- scancel -------------------------------------------------------------------------

    async def cancel(self, route: Route, req: rq.ScancelRequest, *, confirm: bool, declined: bool) -> SlurmResult:
        r = await self.run(route.node, req.preview_argv)
        jobs = [j for j in s.parse_squeue(r.stdout) if not of_other_group(self.platform, route, j.partition)]
        preview = table(jobs, rq.SCANCEL_PREVIEW, self.settings.max_rows)

        def outcome(summary: str, cancelled: bool = False, host: str = r.hostname) -> SlurmResult:
            return SlurmResult(
                command="scancel", node=route.node, host=host, table=preview, cancelled=cancelled, summary=summary
            )

        if not jobs:
            return outcome("No matching job is in the queue; nothing to cancel.")
        step = consent.gate("scancel", confirm, declined)
        if step != "go":
            return outcome(consent.say("scancel", step, count=len(jobs)))
        done = await self.run(route.node, req.argv, idempotent=False)
        return outcome(f"Cancelled {len(jobs)} job(s).", cancelled=True, host=done.hostname)

    # -- output --------------------------------------------------------------------------

    async def _output_path(self, route: Route, job_id: str, stream: s.Stream) -> tuple[str, str | None, bool]:
        """(path, state, from_journal): from Slurm while it knows the job, else from the journal."""
        r = await self.run(route.node, c.scontrol_job_argv(job_id), check=False)
        details = s.parse_scontrol_jobs(r.stdout) if r.ok else []
        if details:
            d = details[0]
            path = d.std_out if stream == "stdout" else (d.std_err or d.std_out)
            if not path:
                raise HpcError("E_JOB_OUTPUT", f"Job {job_id} has no {stream} file.", "Check scontrol show job.")
            return path, d.state, False
        record = jr.find_job(self.journal.records(), route.node, job_id)
        path = None if record is None else jr.output_path(record, stream, job_id)
        if path is None:
            raise HpcError(
                "E_JOB_GONE",
                f"Slurm on {route.node} no longer knows job {job_id} (it forgets finished jobs after a few "
                "minutes), and it is not in this server's job journal.",
                "Read the file given by the job's --output (default slurm-<id>.out in the folder it was submitted "
                "from).",
            )
        return path, None, True

    async def output(self, route: Route, req: rq.JobOutputRequest) -> SlurmResult:
        path, state, from_journal = await self._output_path(route, req.job_id, req.stream)
        refuse_cold_reads(self.platform, path)
        t = await self.run(route.node, req.tail_argv(path), check=False)
        if not t.ok:
            raise HpcError(
                "E_JOB_OUTPUT",
                f"Cannot read {path} on {route.node} (it may not exist yet, or was deleted).",
                "Wait until the job starts writing, then try again.",
            )
        tail = s.tail_text(t.stdout, req.max_bytes, already_cut=True)
        out = JobOutput(
            job_id=req.job_id,
            stream=req.stream,
            path=path,
            text=tail.text,
            truncated=tail.truncated or len(t.stdout.encode()) >= req.max_bytes,
            from_journal=from_journal,
        )
        where = state or "from the job journal"
        summary = f"last {len(tail.text.encode())} bytes of {req.stream} of job {req.job_id} ({where})"
        return self._result("job_output", t, output=out, summary=summary)

    # -- wait ----------------------------------------------------------------------------

    def watch(self, node: str) -> JobWatch:
        if node not in self.watches:

            async def poll(ids: list[str]) -> dict[str, oc.JobUsage]:
                r = await self.run(node, c.sacct_usage_argv(ids))
                return oc.parse_usage(r.stdout)

            self.watches[node] = JobWatch(node, poll)
        return self.watches[node]

    async def _stderr_tail(self, route: Route, job_id: str) -> str | None:
        key = (route.node, job_id)
        if len(self._tails) > MAX_REMEMBERED:
            self._tails.clear()
        if key not in self._tails:
            text = None
            with suppress(HpcError):
                path, _, _ = await self._output_path(route, job_id, "stderr")
                refuse_cold_reads(self.platform, path)
                t = await self.run(route.node, c.tail_argv(path, STDERR_TAIL_BYTES), check=False)
                if t.ok:
                    text = oc.last_lines(s.tail_text(t.stdout, STDERR_TAIL_BYTES, already_cut=True).text) or None
            self._tails[key] = text
        return self._tails[key]

    async def wait(self, route: Route, req: rq.WaitRequest, on_change: OnChange | None = None) -> SlurmResult:
        started = time.monotonic()
        found = await self.watch(route.node).wait(req.job_ids, req.wait_s, on_change)
        outcomes: list[JobOutcome] = []
        for job_id in req.job_ids:
            u = found.get(job_id)
            if u is None:
                outcomes.append(oc.unknown_outcome(job_id))
                continue
            tail = await self._stderr_tail(route, job_id) if u.finished and u.state in oc.DIAGNOSED else None
            outcomes.append(oc.outcome_of(u, tail))
        ended = sum(o.finished for o in outcomes)
        done = ended == len(outcomes)
        waited = time.monotonic() - started
        summary = f"{ended} of {len(outcomes)} jobs ended" + (
            "" if done else f" after waiting {waited:.0f} s; call wait again to keep waiting"
        )
        host = self._hosts.get(route.node, "")
        return SlurmResult(command="wait", node=route.node, host=host, summary=summary, jobs=outcomes, done=done)

    async def aclose(self) -> None:
        for w in self.watches.values():
            await w.aclose()
