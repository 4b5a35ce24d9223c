"""Parsers on outputs recorded live from the lab's Slurm 24.11.5 (tests/lab/slurm24) with the server's own argv,
by tests/lab/record_slurm.py into tests/lab/recorded/slurm-24.11/ (its INDEX.txt: each command, exit status,
the job ids by name). test_slurm_recorded.py does the same for 22.05; where 24.11 behaves differently, the test
here says so and shows how the parser handles it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from sjtu_hpc_mcp.core.slurm.bounds import tail_text
from sjtu_hpc_mcp.core.slurm.limits import parse_assoc, parse_qos
from sjtu_hpc_mcp.core.slurm.outcome import OomKill, oom_kills, outcome_of, parse_usage
from sjtu_hpc_mcp.core.slurm.parse import (
    find_by_comment,
    parse_job_comments,
    parse_sacct,
    parse_sbatch,
    parse_sbatch_test_only,
    parse_sinfo,
    parse_squeue,
    parse_submit_lines,
    slurm_errors,
)
from sjtu_hpc_mcp.core.slurm.scontrol import parse_scontrol_jobs
from sjtu_hpc_mcp.core.slurm.seff import parse_seff
from sjtu_hpc_mcp.core.slurm.version import SlurmVersion, parse_slurm_version

RECORDED = Path(__file__).resolve().parents[1] / "lab" / "recorded" / "slurm-24.11"


def read(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def _index_value(prefix: str) -> str:
    for line in read("INDEX.txt").splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    raise AssertionError(f"INDEX.txt has no {prefix!r} line")


ID: dict[str, str] = json.loads(_index_value("job ids:"))  # job ids by name (done, fail, oom, …)
TOKEN = _index_value("comment token:")
WORK = _index_value("work dir:")


def index_rc(name: str) -> int:
    for line in read("INDEX.txt").splitlines():
        if line.startswith(name + " ") or f"(stderr: {name})" in line:
            return int(line.split("rc=", 1)[1].split()[0])
    raise AssertionError(f"INDEX.txt does not list {name}")


def jobs(rows: Iterable[Any]) -> str:
    return " ".join(f"{r.job_id}={r.state}" for r in rows)


def ids(*names: str) -> list[str]:
    return [ID[n] for n in names]


def seff(text: str) -> str | None:
    r = parse_seff(text)
    return None if r is None else f"{r.job_id}={r.state}"


class Empty:
    """The command printed nothing on this stream."""


def only(wanted: Iterable[str]) -> Callable[[str], str]:
    """Jobs of the recording (sacct's window may hold other jobs of the person), in the order parsed."""
    keep = set(wanted)
    return lambda text: jobs(j for j in parse_sacct(text) if j.job_id.split("_")[0] in keep)


ARRAY, THROTTLE = ID["array"], ID["throttle"]
RECORDING_IDS = set(ID.values())
FINISHED_ALL = (
    f"{ID['done']}=COMPLETED {ID['fail']}=FAILED {ID['oom']}=OUT_OF_MEMORY {ID['timeout']}=TIMEOUT "
    f"{ID['gpu']}=COMPLETED {ID['cancel']}=CANCELLED {ID['byname']}=CANCELLED {ID['odd']}=COMPLETED "
    f"{ID['tok']}=COMPLETED {ID['big1']}=CANCELLED {ID['big2']}=CANCELLED "
    f"{ARRAY}_1=COMPLETED {ARRAY}_2=COMPLETED {ARRAY}_3=COMPLETED {THROTTLE}_1=RUNNING"
)
QUEUE = (
    f"{ID['gpu']}=RUNNING {ID['begin']}=PENDING {THROTTLE}_[2-3%1]=PENDING {ID['big2']}=PENDING "
    f"{ID['big1']}=PENDING {ID['dep']}=PENDING {ID['timeout']}=RUNNING {ID['cancel']}=RUNNING "
    f"{THROTTLE}_1=RUNNING {ID['byname']}=RUNNING"
)

EXPECTED: dict[str, tuple[Callable[[str], object], object] | Empty] = {
    "sinfo_version.txt": (parse_slurm_version, SlurmVersion(24, 11, 5)),
    "sinfo_version_noconf.txt": Empty(),
    "sinfo_version_noconf.stderr.txt": (parse_slurm_version, None),
    "sinfo_busy.txt": (lambda x: len(parse_sinfo(x)), 17),
    "sinfo_some.txt": (lambda x: " ".join(p.name for p in parse_sinfo(x)), "cpu debug a100"),
    "squeue_me.txt": (lambda x: jobs(parse_squeue(x)), QUEUE),
    "squeue_user.txt": (lambda x: jobs(parse_squeue(x)), QUEUE),
    "squeue_pending.txt": (
        lambda x: jobs(parse_squeue(x)),
        f"{ID['begin']}=PENDING {THROTTLE}_[2-3%1]=PENDING {ID['big2']}=PENDING {ID['big1']}=PENDING "
        f"{ID['dep']}=PENDING",
    ),
    "squeue_jobs_array_task.txt": (lambda x: jobs(parse_squeue(x)), f"{THROTTLE}_1=RUNNING"),
    "squeue_expand_arrays.txt": (
        lambda x: jobs(parse_squeue(x)),
        f"{THROTTLE}_2=PENDING {THROTTLE}_3=PENDING {THROTTLE}_1=RUNNING",
    ),
    "squeue_after_cancel.txt": (lambda x: jobs(parse_squeue(x)), f"{ID['dep']}=PENDING"),
    "squeue_end.txt": (
        lambda x: jobs(parse_squeue(x)),
        f"{ID['begin']}=PENDING {THROTTLE}_[2-3%1]=PENDING {ID['dep']}=PENDING {THROTTLE}_1=RUNNING",
    ),
    "squeue_comments.txt": (
        lambda x: [(r.job_id, r.state) for r in find_by_comment(parse_job_comments(x), TOKEN)],
        [(ID["tok"], "COMPLETED")],
    ),
    "sacct_default.txt": (only(RECORDING_IDS), FINISHED_ALL),
    "sacct_states.txt": (
        only(RECORDING_IDS),
        f"{ID['fail']}=FAILED {ID['oom']}=OUT_OF_MEMORY {ID['timeout']}=TIMEOUT {ID['cancel']}=CANCELLED "
        f"{ID['byname']}=CANCELLED {ID['big1']}=CANCELLED {ID['big2']}=CANCELLED",
    ),
    "sacct_jobs.txt": (
        lambda x: jobs(parse_sacct(x)),
        f"{ID['odd']}=COMPLETED {ARRAY}_1=COMPLETED {ARRAY}_2=COMPLETED {ARRAY}_3=COMPLETED {THROTTLE}_1=RUNNING "
        f"{THROTTLE}_[2-3%1]=PENDING",
    ),
    "sacct_comments.txt": (  # accounting stores no comments here (AccountingStoreFlags=job_comment unset)
        lambda x: (
            jobs(j for j in parse_job_comments(x) if j.job_id == ID["tok"]),
            {j.comment for j in parse_job_comments(x)},
        ),
        (f"{ID['tok']}=COMPLETED", {None}),
    ),
    "sacct_submit_lines.txt": (
        lambda x: [(s.job_id, s.marks) for s in parse_submit_lines(x) if s.marks],
        [(ID["tok"], [TOKEN, TOKEN])],  # in --comment and in the script's name
    ),
    "sacct_usage.txt": (
        lambda x: " ".join(f"{k}={u.state}" for k, u in parse_usage(x).items()),
        f"{ID['done']}=COMPLETED {ID['fail']}=FAILED {ID['oom']}=OUT_OF_MEMORY {ID['timeout']}=TIMEOUT "
        f"{ID['cancel']}=CANCELLED",
    ),
    "sacctmgr_assoc_limits.txt": (
        lambda x: [(lim.max_jobs, lim.max_submit, lim.max_wall_s) for lim in parse_assoc(x, "cpu")[0]],
        [(4, 10, 86400)],
    ),
    "sacctmgr_qos.txt": (
        lambda x: [(lim.max_jobs, lim.max_submit, lim.max_wall_s) for lim in parse_qos(x, ["mcprec"])],
        [(20, 50, 172800)],
    ),
    "scontrol_running.txt": (lambda x: jobs(parse_scontrol_jobs(x)), f"{ID['cancel']}=RUNNING"),
    "scontrol_pending_begin.txt": (lambda x: jobs(parse_scontrol_jobs(x)), f"{ID['begin']}=PENDING"),
    "scontrol_array.txt": (
        lambda x: [(j.job_id, j.state) for j in parse_scontrol_jobs(x)],
        [(f"{THROTTLE}_[2-3%1]", "PENDING"), (f"{THROTTLE}_1", "RUNNING")],
    ),
    "scontrol_array_done.txt": (
        lambda x: jobs(parse_scontrol_jobs(x)),
        f"{ARRAY}_3=COMPLETED {ARRAY}_2=COMPLETED {ARRAY}_1=COMPLETED",
    ),
    "scontrol_completed.txt": (lambda x: jobs(parse_scontrol_jobs(x)), f"{ID['done']}=COMPLETED"),
    "scontrol_timeout.txt": (lambda x: jobs(parse_scontrol_jobs(x)), f"{ID['timeout']}=TIMEOUT"),
    "scontrol_missing.txt": Empty(),
    "scontrol_missing.stderr.txt": (slurm_errors, ["Invalid job id specified"]),
    "seff_done.txt": (seff, f"{ID['done']}=COMPLETED"),
    "seff_fail.txt": (seff, f"{ID['fail']}=FAILED"),
    "seff_oom.txt": (seff, f"{ID['oom']}=OUT_OF_MEMORY"),
    "seff_timeout.txt": (seff, f"{ID['timeout']}=TIMEOUT"),
    "seff_gpu.txt": (seff, f"{ID['gpu']}=COMPLETED"),
    "seff_cancel.txt": (seff, f"{ID['cancel']}=CANCELLED"),
    "seff_array_task.txt": (lambda x: getattr(parse_seff(x), "array_job_id", None), f"{ARRAY}_2"),
    "seff_running.txt": (seff, f"{ID['cancel']}=RUNNING"),
    "seff_pending.txt": (seff, f"{ID['begin']}=PENDING"),
    "seff_missing.txt": Empty(),
    "seff_missing.stderr.txt": (lambda x: x.strip(), "Job not found."),
    "sbatch_parsable.txt": (lambda x: getattr(parse_sbatch(x), "job_id", None), int(ID["tok"])),
    "sbatch_test_only.txt": Empty(),
    "sbatch_test_only.stderr.txt": (
        lambda x: getattr(parse_sbatch_test_only(x), "partition", None),
        "cpu",
    ),
    "sbatch_bad_partition.txt": Empty(),
    "sbatch_bad_partition.stderr.txt": (
        slurm_errors,
        ["invalid partition specified: nosuch", "Batch job submission failed: Invalid partition name specified"],
    ),
    "sbatch_too_big.txt": Empty(),
    "sbatch_too_big.stderr.txt": (
        slurm_errors,
        [
            "Memory specification can not be satisfied",
            "Batch job submission failed: Requested node configuration is not available",
        ],
    ),
    "scancel_ids.txt": Empty(),
    "scancel_by_name.txt": Empty(),
    "scancel_unknown.txt": Empty(),
    "tail_fail_out.txt": (lambda x: tail_text(x, 4096).text, "about to fail\n"),
    "tail_oom_out.txt": (oom_kills, [OomKill(1, f"{ID['oom']}.batch")]),
    "tail_missing.txt": Empty(),
    "tail_missing.stderr.txt": (lambda x: x.strip().endswith("No such file or directory"), True),
}
RECORDINGS = sorted(p.name for p in RECORDED.iterdir() if p.is_file() and p.name != "INDEX.txt")


def test_every_recording_has_an_expectation() -> None:
    assert set(RECORDINGS) == set(EXPECTED), set(RECORDINGS) ^ set(EXPECTED)


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recording_parses_to_its_expectation(name: str) -> None:
    want = EXPECTED[name]
    body = read(name)
    if isinstance(want, Empty):
        assert body == "", name
        index_rc(name)  # listed
        return
    assert body.strip(), f"{name} is empty but is expected to parse to something"
    parse, expected = want
    assert parse(body) == expected


# --- what 24.11 does differently from 22.05, and how it is read ------------------------------------------


def test_the_oom_kill_line_is_worded_anew_and_read_in_both_wordings() -> None:
    """22.05: `Detected 1 oom-kill event(s) in StepId=7.batch. Some of your processes may have been killed by the
    cgroup out-of-memory handler.`; 24.11: `Detected 1 oom_kill event in StepId=3.batch. Some of the step tasks
    have been OOM Killed.` The diagnosis names the event in either."""
    line = slurm_errors(read("tail_oom_out.txt"))[-1]
    assert line.startswith("Detected 1 oom_kill event in StepId=") and line.endswith("have been OOM Killed.")
    old = (RECORDED.parent / "tail_oom_out.txt").read_text()
    assert oom_kills(old) == [OomKill(1, "7.batch")]
    usage = parse_usage(read("sacct_usage.txt"))[ID["oom"]]
    outcome = outcome_of(usage, tail_text(read("tail_oom_out.txt"), 4096).text)
    assert outcome.diagnosis is not None and f"1 oom-kill event in step {ID['oom']}.batch" in outcome.diagnosis
    assert outcome.fix is not None and outcome.fix.startswith("Raise mem")


def test_seff_of_a_running_job_has_no_figures_in_24_11() -> None:
    """24.11's seff reads accounting only: for a running job it prints zeros with a warning; 22.05 printed
    estimates. The zeros are not passed on as measurements."""
    r = parse_seff(read("seff_running.txt"))
    assert r is not None and r.state == "RUNNING" and not r.efficiency_available
    assert (r.cpu_efficiency_percent, r.memory_utilized_mb, r.memory_efficiency_percent) == (None, None, None)
    assert (r.memory_allocated_mb, r.memory_allocated_per, r.cores) == (1024.0, "node", 2)
    assert r.core_walltime_seconds == 24 and r.wall_clock_seconds == 12  # elapsed time is real
    assert r.notes and r.notes[0].startswith("WARNING: Efficiency statistics can only be obtained after the job")
    old = parse_seff((RECORDED.parent / "seff_running.txt").read_text())
    assert old is not None and old.efficiency_available and old.cpu_efficiency_percent == 0.0


@pytest.mark.parametrize(
    ("name", "per", "alloc_mb"),
    [("seff_done.txt", "core", 256.0), ("seff_timeout.txt", "core", 256.0), ("seff_gpu.txt", "core", 256.0),
     ("seff_oom.txt", "node", 20.0), ("seff_cancel.txt", "node", 1024.0)],
)  # fmt: skip
def test_seff_says_how_memory_was_asked_for_finished_jobs_too(name: str, per: str, alloc_mb: float) -> None:
    """22.05 printed `(x/node)` only while a job ran; 24.11 prints `(256.00 MB/core)` (DefMemPerCPU) or `/node`."""
    r = parse_seff(read(name))
    assert r is not None and r.efficiency_available and r.cluster == "sjtulab24"
    assert (r.memory_allocated_per, r.memory_allocated_mb) == (per, alloc_mb)
    assert r.memory_utilized_mb is not None and r.memory_utilized_mb > 0


def test_scontrol_splits_tres_into_requested_and_allocated() -> None:
    """22.05: `TRES=…` and `Power=`; 24.11: `ReqTRES=…` and `AllocTRES=…`, no Power. The parser keeps every field
    as printed; the server reads none of these."""
    [job] = parse_scontrol_jobs(read("scontrol_running.txt"))
    assert "TRES" not in job.fields and "Power" not in job.fields
    assert job.fields["ReqTRES"].startswith("cpu=2,mem=1G") and job.fields["AllocTRES"].startswith("cpu=2,mem=1G")
    assert (job.std_out, job.num_cpus, job.node_list) == (f"{WORK}/rec-cancel-{ID['cancel']}.out", 2, "labnode")


def test_sacct_of_jobs_that_never_ran() -> None:
    """Cancelled while pending, and a submission Slurm refused (--mem=100G; 24.11 records it too, with
    AllocCPUS 0 where 22.05 said 1): no start, no node."""
    found = {j.job_id: j for j in parse_sacct(read("sacct_default.txt"))}
    big = found[ID["big1"]]
    assert (big.state, big.start_time, big.node_list, big.alloc_cpus) == ("CANCELLED", None, None, 0)
    [refused] = [j for j in found.values() if j.name == "rec-test.sh"]
    assert (refused.state, refused.exit_code, refused.start_time, refused.time_limit) == (
        "FAILED",
        1,
        None,
        "Partition_Limit",
    )
    assert found[ID["odd"]].name == "odd|name with space"
    assert found[f"{THROTTLE}_1"].end_time is None


def test_a_timeout_ends_its_batch_step_as_cancelled_in_both() -> None:
    u = parse_usage(read("sacct_usage.txt"))[ID["timeout"]]
    assert (u.state, u.exit_code, u.time_limit_seconds) == ("TIMEOUT", 0, 60) and u.max_rss_mb
    assert "batch" not in u.job_id and "|CANCELLED|0:15|" in read("sacct_usage.txt")
