"""JobWatch: one shared, backing-off poll per node however many calls wait (a fake poll, fake jobs)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from sjtu_hpc_mcp.core.errors import ConnectionLost, HpcError
from sjtu_hpc_mcp.core.slurm.outcome import JobUsage
from sjtu_hpc_mcp.shell import watch as jobs_mod
from sjtu_hpc_mcp.shell.watch import JobWatch

pytestmark = pytest.mark.anyio


def usage(job_id: str, state: str) -> JobUsage:
    terminal = state in ("COMPLETED", "FAILED")
    return JobUsage(job_id, state, terminal, 0 if terminal else None, 0, "00:00:01", 1, "00:10:00", 600, 1, 1,
                    100.0, 0.5, 10.0, "cpu")  # fmt: skip


class FakeSlurm:
    """Jobs that end at given times; counts polls and records when each happened."""

    def __init__(self, ends: dict[str, float]) -> None:
        self.t0 = time.monotonic()
        self.ends = ends
        self.polls: list[tuple[float, list[str]]] = []

    async def poll(self, ids: list[str]) -> dict[str, JobUsage]:
        now = time.monotonic() - self.t0
        self.polls.append((now, ids))
        await asyncio.sleep(0.01)
        return {j: usage(j, "COMPLETED" if now >= self.ends[j] else "RUNNING") for j in ids if j in self.ends}


AS_SHIPPED = (jobs_mod.MIN_GAP_S, jobs_mod.BASE_S, jobs_mod.MAX_S)  # read before `fast` shortens them


def test_the_shipped_poll_gaps_are_the_readmes() -> None:
    """README: one sacct poll per entry node, at least 2 s apart, backing off to 15 s while nothing changes."""
    assert AS_SHIPPED == (2.0, 2.0, 15.0)


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_mod, "MIN_GAP_S", 0.2)
    monkeypatch.setattr(jobs_mod, "BASE_S", 0.2)
    monkeypatch.setattr(jobs_mod, "MAX_S", 0.8)


async def test_twenty_waiters_share_one_poll_per_interval() -> None:
    slurm = FakeSlurm({str(i): 1.0 + i * 0.05 for i in range(20)})
    watch = JobWatch("pilogin", slurm.poll)
    results = await asyncio.gather(*(watch.wait([str(i)], 5) for i in range(20)))
    assert all(r[str(i)] is not None and r[str(i)].state == "COMPLETED" for i, r in enumerate(results))  # type: ignore[union-attr]
    times = [t for t, _ in slurm.polls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.2 - 0.01, gaps  # never more than one poll per interval
    assert len(slurm.polls) <= 2.2 / 0.2, len(slurm.polls)
    assert len(slurm.polls[0][1]) == 20  # the first poll already asked for every job
    await watch.aclose()


async def test_the_interval_backs_off_while_nothing_changes() -> None:
    slurm = FakeSlurm({"1": 100.0})
    watch = JobWatch("pilogin", slurm.poll)
    r = await watch.wait(["1"], 3)
    assert r["1"] is not None and r["1"].state == "RUNNING"
    gaps = [b - a for (a, _), (b, _) in zip(slurm.polls, slurm.polls[1:], strict=False)]
    assert gaps[-1] > gaps[0] * 2 and max(gaps) <= 0.8 + 0.1, gaps
    await watch.aclose()


async def test_progress_on_each_state_change_and_finished_jobs_answer_at_once() -> None:
    slurm = FakeSlurm({"7": 0.5})
    watch = JobWatch("pilogin", slurm.poll)
    seen: list[str] = []

    async def on_change(message: str) -> None:
        seen.append(message)

    await watch.wait(["7"], 5, on_change)
    assert seen == ["job 7: RUNNING", "job 7: COMPLETED"]
    polls = len(slurm.polls)
    start = time.monotonic()
    again = await watch.wait(["7"], 5)
    assert again["7"] is not None and again["7"].finished
    assert time.monotonic() - start < 0.05 and len(slurm.polls) == polls  # no new poll for a finished job
    await watch.aclose()


async def test_unknown_jobs_and_the_time_limit() -> None:
    slurm = FakeSlurm({})
    watch = JobWatch("pilogin", slurm.poll)
    start = time.monotonic()
    r = await watch.wait(["99"], 0.5)
    assert r == {"99": None} and 0.45 < time.monotonic() - start < 1.0
    await watch.aclose()


async def test_a_failing_poll_is_reported_when_nothing_was_learned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_mod, "MAX_WAIT_S", 0.5)

    async def broken(ids: list[str]) -> dict[str, JobUsage]:
        raise ConnectionLost("lost", "again")

    watch = JobWatch("pilogin", broken)
    with pytest.raises(HpcError):
        await watch.wait(["1"], 0.3)
    await watch.aclose()


async def test_a_node_lost_after_the_first_answer_is_an_error_not_a_stale_state() -> None:
    """The job was seen RUNNING, then every poll fails: the wait does not report RUNNING as current."""
    answered = 0

    async def poll(ids: list[str]) -> dict[str, JobUsage]:
        nonlocal answered
        if answered:
            raise ConnectionLost("The connection to pilogin was lost.", "Try again in a moment.")
        answered += 1
        return {j: usage(j, "RUNNING") for j in ids}

    watch = JobWatch("pilogin", poll)
    with pytest.raises(HpcError) as err:
        await watch.wait(["7"], 1.0)
    assert err.value.code == "E_LOST"
    await watch.aclose()


async def test_a_job_seen_ended_stays_ended_when_later_polls_fail() -> None:
    calls = 0

    async def poll(ids: list[str]) -> dict[str, JobUsage]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConnectionLost("lost", "again")
        return {j: usage(j, "COMPLETED" if j == "1" else "RUNNING") for j in ids}

    watch = JobWatch("pilogin", poll)
    found = await watch.wait(["1"], 1.0)
    assert found["1"] is not None and found["1"].state == "COMPLETED"
    await watch.aclose()
