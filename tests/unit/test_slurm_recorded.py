"""Parsers on outputs recorded from the local Slurm 22.05.8 lab with the builders' own argv.

tests/lab/recorded/INDEX.txt lists each file's exact command and exit status.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sjtu_hpc_mcp.core import transfer as t
from sjtu_hpc_mcp.core.slurm.bounds import tail_text
from sjtu_hpc_mcp.core.slurm.limits import parse_assoc, parse_qos
from sjtu_hpc_mcp.core.slurm.modules import parse_avail, parse_spider, parse_spider_all
from sjtu_hpc_mcp.core.slurm.outcome import parse_usage
from sjtu_hpc_mcp.core.slurm.parse import (
    find_by_comment,
    parse_job_comments,
    parse_sacct,
    parse_sbatch,
    parse_sbatch_test_only,
    parse_sinfo,
    parse_squeue,
    slurm_errors,
)
from sjtu_hpc_mcp.core.slurm.scontrol import parse_scontrol_jobs
from sjtu_hpc_mcp.core.slurm.seff import parse_seff
from sjtu_hpc_mcp.core.slurm.version import parse_slurm_version

RECORDED = Path(__file__).resolve().parents[1] / "lab" / "recorded"


def read(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def token() -> str:
    for line in read("INDEX.txt").splitlines():
        if line.startswith("comment token: "):
            return line.removeprefix("comment token: ").strip()
    raise AssertionError("no token in INDEX.txt")


# --- what each recording must parse to -----------------------------------------------------------
# One expectation per file of tests/lab/recorded/ (versions/ has test_slurm_versions.py): the parser the
# server applies to that output and what it must find there. A recording whose output really is empty
# (scancel prints nothing) says so, with the exit status INDEX.txt records for its command, so no row
# can pass just because a parser returns nothing for nothing.


@dataclass(frozen=True)
class Empty:
    """The command printed nothing on this stream; INDEX.txt records it with exit status `rc`."""

    rc: int


def jobs(rows: Iterable[Any]) -> str:
    """Rows as "id=STATE id=STATE …", in the order parsed."""
    return " ".join(f"{r.job_id}={r.state}" for r in rows)


def limits(found: Iterable[Any]) -> str:
    return "; ".join(f"{x.source} jobs={x.max_jobs} submit={x.max_submit} wall={x.max_wall_s}" for x in found)


def seff(text: str) -> str | None:
    r = parse_seff(text)
    return None if r is None else f"{r.job_id}={r.state}"


def estimate(text: str) -> tuple[object, ...] | None:
    r = parse_sbatch_test_only(text)
    return None if r is None else (r.job_id, r.processors, r.nodes, r.partition, r.start_time)


def sbatch(text: str) -> int | None:
    r = parse_sbatch(text)
    return None if r is None else r.job_id


def avail(text: str, filter_: str | None = None) -> str:
    """Modules as "full[*] …", * marking the default of each name."""
    return " ".join(e.full + ("*" if e.default else "") for e in parse_avail(text, "node", filter_).modules)


def spider(query: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        info = parse_spider(text, "node", query)
        return (info.found, info.versions, info.load)

    return parse


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


SACCT_ALL = (
    "1=FAILED 2=COMPLETED 3=OUT_OF_MEMORY 4=COMPLETED 5=COMPLETED 6=FAILED 7=OUT_OF_MEMORY 8=TIMEOUT 9=CANCELLED "
    "10=COMPLETED 15=CANCELLED 16=COMPLETED 17=CANCELLED 18=CANCELLED 11_1=COMPLETED 11_2=COMPLETED 11_3=COMPLETED "
    "12_1=COMPLETED 12_2=COMPLETED 12_3=RUNNING 23=FAILED"
)
SQUEUE_ME = (
    "10=RUNNING 12_[2-3%1]=PENDING 13=PENDING 14=PENDING 17=PENDING 18=PENDING 8=RUNNING 9=RUNNING 12_1=RUNNING "
    "15=RUNNING"
)
SINFO_ALL = (
    "cpu debug dgx2 huge 192c6t debugarm arm128c256g scnet_arm small 64c512g el9 debug64c512g win32 a100 a800 "
    "debug100 debuga100"
)

EXPECTED: dict[str, tuple[Callable[[str], object], object] | Empty] = {
    "sinfo_busy.txt": (lambda x: " ".join(p.name for p in parse_sinfo(x)), SINFO_ALL),
    "sinfo_some.txt": (lambda x: " ".join(p.name for p in parse_sinfo(x)), "cpu debug a100"),
    "sinfo_version.txt": (lambda x: str(parse_slurm_version(x)), "22.05.8"),  # slurm-24.11/: test_slurm_version.py
    "squeue_me.txt": (lambda x: jobs(parse_squeue(x)), SQUEUE_ME),
    "squeue_user.txt": (lambda x: jobs(parse_squeue(x)), SQUEUE_ME),
    "squeue_pending.txt": (
        lambda x: jobs(parse_squeue(x)),
        "12_[2-3%1]=PENDING 13=PENDING 14=PENDING 17=PENDING 18=PENDING",
    ),
    "squeue_jobs_array_task.txt": (lambda x: jobs(parse_squeue(x)), "12_1=RUNNING"),
    "squeue_expand_arrays.txt": (lambda x: jobs(parse_squeue(x)), "12_2=PENDING 12_3=PENDING 12_1=RUNNING"),
    "squeue_after_cancel.txt": (lambda x: jobs(parse_squeue(x)), "14=PENDING"),
    "squeue_end.txt": (lambda x: jobs(parse_squeue(x)), "13=PENDING 14=PENDING 12_3=RUNNING"),
    "squeue_comments.txt": (
        lambda x: (
            [(r.job_id, r.state) for r in find_by_comment(parse_job_comments(x), token())]
            + [("rows", len(parse_job_comments(x)))]
        ),
        [("5", "COMPLETED"), ("rows", 21)],
    ),
    "sacct_default.txt": (lambda x: jobs(parse_sacct(x)), SACCT_ALL),
    "sacct_iso_start.txt": (lambda x: jobs(parse_sacct(x)), SACCT_ALL),
    "sacct_states.txt": (
        lambda x: jobs(parse_sacct(x)),
        "1=FAILED 3=OUT_OF_MEMORY 6=FAILED 7=OUT_OF_MEMORY 8=TIMEOUT 9=CANCELLED 15=CANCELLED 17=CANCELLED "
        "18=CANCELLED 23=FAILED",
    ),
    "sacct_jobs.txt": (
        lambda x: jobs(parse_sacct(x)),
        "16=COMPLETED 11_1=COMPLETED 11_2=COMPLETED 11_3=COMPLETED 12_1=COMPLETED 12_2=COMPLETED 12_3=RUNNING",
    ),
    "sacct_comments.txt": (lambda x: jobs(parse_job_comments(x)), SACCT_ALL),
    "sacct_usage.txt": (
        lambda x: " ".join(f"{k}={u.state}/{round((u.max_rss_mb or 0) * 1024)}K" for k, u in parse_usage(x).items()),
        "18=FAILED/1112K 19=OUT_OF_MEMORY/3192K 20=TIMEOUT/4664K 21=COMPLETED/1116K",  # MaxRSS of each .batch
    ),
    "sacctmgr_assoc_limits.txt": (
        lambda x: (limits(parse_assoc(x, "cpu")[0]), parse_assoc(x, "cpu")[1]),
        ("association acct-other jobs=4 submit=10 wall=86400", ["normal"]),
    ),
    "sacctmgr_qos.txt": (lambda x: limits(parse_qos(x, ["mcprec"])), "QOS mcprec jobs=20 submit=50 wall=172800"),
    "scontrol_running.txt": (lambda x: jobs(parse_scontrol_jobs(x)), "9=RUNNING"),
    "scontrol_pending_begin.txt": (lambda x: jobs(parse_scontrol_jobs(x)), "13=PENDING"),
    "scontrol_array.txt": (lambda x: jobs(parse_scontrol_jobs(x)), "12_[2-3%1]=PENDING 12_1=RUNNING"),
    "scontrol_array_done.txt": (lambda x: jobs(parse_scontrol_jobs(x)), "11_3=COMPLETED 11_2=COMPLETED 11_1=COMPLETED"),
    "scontrol_completed.txt": (lambda x: jobs(parse_scontrol_jobs(x)), "4=COMPLETED"),
    "scontrol_timeout.txt": (lambda x: jobs(parse_scontrol_jobs(x)), "8=TIMEOUT"),
    "scontrol_missing.txt": Empty(rc=1),
    "scontrol_missing.stderr.txt": (slurm_errors, ["Invalid job id specified"]),
    "seff_done.txt": (seff, "4=COMPLETED"),
    "seff_fail.txt": (seff, "6=FAILED"),
    "seff_oom.txt": (seff, "7=OUT_OF_MEMORY"),
    "seff_timeout.txt": (seff, "8=TIMEOUT"),
    "seff_cancel.txt": (seff, "9=CANCELLED"),
    "seff_gpu.txt": (seff, "10=COMPLETED"),
    "seff_array_task.txt": (seff, "20=COMPLETED"),
    "seff_running.txt": (seff, "9=RUNNING"),
    "seff_pending.txt": (seff, "13=PENDING"),
    "seff_missing.txt": Empty(rc=2),
    "seff_missing.stderr.txt": (last_line, "Job not found."),
    "sbatch_parsable.txt": (sbatch, 5),
    "sbatch_parsable.stderr.txt": Empty(rc=0),
    "sbatch_test_only.txt": Empty(rc=0),
    "sbatch_test_only.stderr.txt": (estimate, (22, 1, "labnode", "cpu", "2026-12-31T06:31:46")),
    "sbatch_bad_partition.txt": Empty(rc=1),
    "sbatch_bad_partition.stderr.txt": (
        slurm_errors,
        ["invalid partition specified: nosuch", "Batch job submission failed: Invalid partition name specified"],
    ),
    "sbatch_too_big.txt": Empty(rc=1),
    "sbatch_too_big.stderr.txt": (
        slurm_errors,
        [
            "Memory specification can not be satisfied",
            "Batch job submission failed: Requested node configuration is not available",
        ],
    ),
    "scancel_ids.txt": Empty(rc=0),
    "scancel_ids.stderr.txt": Empty(rc=0),
    "scancel_by_name.txt": Empty(rc=0),
    "scancel_by_name.stderr.txt": Empty(rc=0),
    "scancel_unknown.txt": Empty(rc=0),
    "scancel_unknown.stderr.txt": Empty(rc=0),
    "tail_fail_out.txt": (lambda x: tail_text(x, 4096).text, "about to fail\n"),
    "tail_oom_out.txt": (lambda x: [e[:32] for e in slurm_errors(x)], ["Detected 1 oom-kill event(s) in "]),
    "tail_missing.txt": Empty(rc=1),
    "tail_missing.stderr.txt": (
        last_line,
        "tail: cannot open '/tmp/slurm-rec/nope.out' for reading: No such file or directory",
    ),
    "rsync_pool_full.log": (
        lambda x: (t.cause_of(11, t.error_lines(x))[0], len(t.error_lines(x))),
        ("the destination is full or your quota is exhausted", 3),
    ),
    "scontrol_mail.txt": (
        lambda x: [(j.job_id, j.fields.get("MailType"), j.fields.get("MailUser")) for j in parse_scontrol_jobs(x)],
        [("1546", "END,FAIL", "hpcrobot@sjtu.edu.cn")],
    ),
    "lmod_avail_pi.txt": (avail, "cuda/11.8.0 cuda/12.1.1* gcc/9.3.0 gcc/11.2.0* miniconda3/4.10.3* openmpi/4.1.5*"),
    "lmod_avail_sy.txt": (avail, "cuda/11.8.0 cuda/12.1.1* gcc/11.2.0* gcc/13.2.0 openmpi/4.1.5*"),
    "lmod_avail_kp.txt": (avail, "bisheng/2.5.0* gcc/9.3.0 gcc/10.3.1* hmpi/1.2.0* openmpi/4.1.5*"),
    "lmod_avail_data.txt": (avail, ""),
    "lmod_avail_sy_filter.txt": (lambda x: avail(x, "GCC"), "gcc/11.2.0* gcc/13.2.0"),
    "lmod_avail_pi_nomatch.txt": (lambda x: avail(x, "gromacs"), ""),
    "lmod_spider_sy_gcc.txt": (spider("gcc"), (True, ["gcc/11.2.0", "gcc/13.2.0"], None)),
    "lmod_spider_sy_gcc_version.txt": (spider("gcc/13.2.0"), (True, ["gcc/13.2.0"], "module load gcc/13.2.0")),
    "lmod_spider_sy_gromacs.txt": (
        spider("gromacs"),
        (True, ["gromacs/2023.2"], "module load gcc/13.2.0 gromacs/2023.2"),
    ),
    "lmod_spider_pi_gromacs.txt": (spider("gromacs"), (False, [], None)),
    "lmod_spider_pi_cuda_version.txt": (spider("cuda/12.1.1"), (True, ["cuda/12.1.1"], "module load cuda/12.1.1")),
    "lmod_spider_all_sy.txt": (
        lambda x: " ".join(parse_spider_all(x, "node")),
        "cuda cuda/11.8.0 cuda/12.1.1 gcc gcc/11.2.0 gcc/13.2.0 gromacs gromacs/2023.2 openmpi openmpi/4.1.5",
    ),
    "lmod_spider_all_pi.txt": (
        lambda x: " ".join(parse_spider_all(x, "node")),
        "cuda cuda/11.8.0 cuda/12.1.1 gcc gcc/11.2.0 gcc/9.3.0 miniconda3 miniconda3/4.10.3 openmpi openmpi/4.1.5",
    ),
}
RECORDINGS = sorted(p.name for p in RECORDED.iterdir() if p.is_file() and p.name != "INDEX.txt")


def index_rc(name: str) -> int:
    """The exit status INDEX.txt records for the command whose stdout or stderr is `name`."""
    for line in read("INDEX.txt").splitlines():
        if line.startswith(name + " ") or f"(stderr: {name})" in line:
            return int(line.split("rc=", 1)[1].split()[0])
    raise AssertionError(f"INDEX.txt does not list {name}")


def accepted(name: str, body: str) -> bool:
    """Whether `body` parses to what EXPECTED says `name` must parse to (a parser that raises: no)."""
    want = EXPECTED[name]
    if isinstance(want, Empty):
        return body == ""
    parse, expected = want
    try:
        return parse(body) == expected
    except Exception:
        return False


def test_every_recording_has_an_expectation() -> None:
    assert set(RECORDINGS) == set(EXPECTED), set(RECORDINGS) ^ set(EXPECTED)


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recording_parses_to_its_expectation(name: str) -> None:
    want = EXPECTED[name]
    body = read(name)
    if isinstance(want, Empty):
        assert body == "" and index_rc(name) == want.rc, (name, index_rc(name))
        return
    assert body.strip(), f"{name} is empty but is expected to parse to something"
    parse, expected = want
    assert parse(body) == expected


@pytest.mark.parametrize("name", [n for n in EXPECTED if not isinstance(EXPECTED[n], Empty)])
@pytest.mark.parametrize("body", ["", "\n", "   \n\n"], ids=["empty", "newline", "blank"])
def test_an_empty_body_does_not_pass_for_any_parser(name: str, body: str) -> None:
    """The guard the expectations give: an empty or blank output is never what a recording parses to."""
    assert not accepted(name, body)


def test_a_recording_cut_short_does_not_pass() -> None:
    """Dropping the last line of a multi-line recording changes what it parses to (seff's and tail's
    expectations sit in their first lines, so they are left out)."""
    for name in RECORDINGS:
        body = read(name)
        lines = body.rstrip("\n").splitlines(keepends=True)
        if len(lines) > 1 and not isinstance(EXPECTED[name], Empty) and not name.startswith(("seff_", "tail_")):
            assert not accepted(name, "".join(lines[:-1])), name


# --- sinfo --------------------------------------------------------------------------------------


def test_sinfo_busy() -> None:
    parts = {p.name: p for p in parse_sinfo(read("sinfo_busy.txt"))}
    assert len(parts) == 17
    assert [n for n, p in parts.items() if p.default] == ["cpu"]
    cpu = parts["cpu"]
    assert cpu.nodes_total == 1 and cpu.nodes_by_state == {"mixed": 1}
    assert (cpu.cpus_allocated, cpu.cpus_idle, cpu.cpus_other, cpu.cpus_total) == (6, 10, 0, 16)
    assert cpu.memory_mb_per_node == 16000
    assert [(g.type, g.count) for g in parts["a100"].gpus_per_node] == [("a100", 4)]
    assert parts["a100"].gpus_total == 4
    assert parts["debug"].time_limit_seconds == 20 * 60
    assert parts["debug64c512g"].time_limit_seconds == 3600
    assert parts["192c6t"].time_limit_seconds == 2 * 86400
    assert parts["cpu"].time_limit_seconds == 7 * 86400
    assert all(p.available == "up" for p in parts.values())


def test_sinfo_some_keeps_order() -> None:
    assert [p.name for p in parse_sinfo(read("sinfo_some.txt"))] == ["cpu", "debug", "a100"]


# --- squeue -------------------------------------------------------------------------------------


def test_squeue_me() -> None:
    rows = parse_squeue(read("squeue_me.txt"))
    assert len(rows) == 10
    jobs = {j.name: j for j in rows}
    assert jobs["rec-gpu"].partition == "a100" and jobs["rec-gpu"].time_limit_seconds == 600
    assert jobs["rec-timeout"].time_limit == "1:00" and jobs["rec-timeout"].time_limit_seconds == 60
    assert jobs["rec-cancel"].cpus == 2 and jobs["rec-cancel"].node_list == "labnode"
    assert jobs["rec-cancel"].elapsed_seconds == 5
    assert jobs["rec-begin"].reason == "BeginTime"
    assert jobs["rec-begin"].start_time == "2026-11-26T07:31:40"
    assert jobs["rec-dep"].reason == "Dependency" and jobs["rec-dep"].start_time is None
    assert (jobs["rec-big1"].reason, jobs["rec-big1"].cpus) == ("Resources", 16)
    assert jobs["rec-big2"].reason == "Priority"
    arrays = [j for j in rows if j.name == "rec-throttle"]
    assert {(j.job_id, j.state) for j in arrays} == {
        ("12_[2-3%1]", "PENDING"),
        ("12_1", "RUNNING"),
    }
    assert all(j.user == "hpcrobot" and j.account == "acct-hpc" for j in jobs.values())
    assert all(j.submit_time == "2026-11-26T06:31:40" for j in jobs.values())
    pending = [j for j in jobs.values() if j.state == "PENDING"]
    assert all(j.reason and j.node_list is None for j in pending)


def test_squeue_user_equals_me() -> None:
    assert parse_squeue(read("squeue_user.txt")) == parse_squeue(read("squeue_me.txt"))


def test_squeue_pending_filter() -> None:
    jobs = parse_squeue(read("squeue_pending.txt"))
    assert len(jobs) == 5 and {j.state for j in jobs} == {"PENDING"}


def test_squeue_jobs_filter_hides_finished_jobs() -> None:
    # --jobs=12_1,4: job 4 had completed, and squeue's default states hide it
    assert [j.job_id for j in parse_squeue(read("squeue_jobs_array_task.txt"))] == ["12_1"]


def test_squeue_expand_arrays() -> None:
    jobs = parse_squeue(read("squeue_expand_arrays.txt"))
    assert [(j.job_id, j.state, j.reason) for j in jobs] == [
        ("12_2", "PENDING", "JobArrayTaskLimit"),
        ("12_3", "PENDING", "JobArrayTaskLimit"),
        ("12_1", "RUNNING", None),
    ]


def test_squeue_dependency_never_satisfied() -> None:
    [job] = parse_squeue(read("squeue_after_cancel.txt"))
    assert (job.job_id, job.reason) == ("14", "DependencyNeverSatisfied")


def test_squeue_end() -> None:
    jobs = parse_squeue(read("squeue_end.txt"))
    assert {j.job_id: j.state for j in jobs} == {"13": "PENDING", "14": "PENDING", "12_3": "RUNNING"}


# --- sacct --------------------------------------------------------------------------------------


def test_sacct_default() -> None:
    jobs = {j.job_id: j for j in parse_sacct(read("sacct_default.txt"))}
    done = jobs["4"]
    assert (done.state, done.exit_code, done.signal, done.terminal) == ("COMPLETED", 0, 0, True)
    assert done.elapsed_seconds == 3 and done.time_limit_seconds == 300
    assert done.req_mem == "256M" and done.req_mem_mb == 256.0
    assert done.node_list == "labnode" and done.name == "rec-done"
    assert (jobs["6"].state, jobs["6"].exit_code, jobs["6"].signal) == ("FAILED", 7, 0)
    oom = jobs["7"]
    assert (oom.state, oom.exit_code, oom.signal, oom.req_mem_mb) == ("OUT_OF_MEMORY", 0, 125, 20.0)
    to = jobs["8"]
    assert (to.state, to.elapsed_seconds, to.time_limit_seconds) == ("TIMEOUT", 79, 60)
    cx = jobs["9"]
    assert (cx.state, cx.cancelled_by, cx.alloc_cpus, cx.req_mem_mb) == ("CANCELLED", 1001, 2, 1024.0)
    assert jobs["16"].name == "odd|name with space"  # a "|" in a name stays in the last column
    never = jobs["17"]  # cancelled while pending
    assert (never.start_time, never.node_list, never.time_limit) == (None, None, "Partition_Limit")
    assert never.time_limit_seconds is None and never.req_mem_mb == 4096.0
    assert jobs["12_3"].state == "RUNNING" and jobs["12_3"].end_time is None
    assert [jobs[f"11_{i}"].state for i in (1, 2, 3)] == ["COMPLETED"] * 3
    # 22.05 keeps a record of a submission it refused (--mem=100G): FAILED 1:0, no nodes
    refused = jobs["23"]
    assert (refused.state, refused.exit_code, refused.node_list) == ("FAILED", 1, None)


def test_sacct_state_filter() -> None:
    jobs = parse_sacct(read("sacct_states.txt"))
    assert {j.state for j in jobs} == {"CANCELLED", "FAILED", "OUT_OF_MEMORY", "TIMEOUT"}
    assert len(jobs) == 10


def test_sacct_job_ids() -> None:
    ids = [j.job_id for j in parse_sacct(read("sacct_jobs.txt"))]
    assert ids == ["16", "11_1", "11_2", "11_3", "12_1", "12_2", "12_3"]


def test_sacct_iso_start_equals_relative_start() -> None:
    assert parse_sacct(read("sacct_iso_start.txt")) == parse_sacct(read("sacct_default.txt"))


def test_comments() -> None:
    rows = parse_job_comments(read("squeue_comments.txt"))
    [found] = find_by_comment(rows, token())
    assert (found.job_id, found.state) == ("5", "COMPLETED")
    assert rows[0].comment is None  # squeue prints "(null)"
    assert ("12_[2-3%1]", "PENDING") in {(r.job_id, r.state) for r in rows}
    # this lab's accounting does not store comments (AccountingStoreFlags=job_comment is unset)
    accounted = parse_job_comments(read("sacct_comments.txt"))
    assert accounted and all(r.comment is None for r in accounted)
    assert {r.state for r in accounted if r.job_id == "9"} == {"CANCELLED"}


# --- seff ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "state", "exit_code", "alloc_mb"),
    [
        ("seff_done.txt", "COMPLETED", 0, 256.0),
        ("seff_fail.txt", "FAILED", 7, 256.0),
        ("seff_oom.txt", "OUT_OF_MEMORY", 0, 20.0),
        ("seff_timeout.txt", "TIMEOUT", 0, 256.0),
        ("seff_cancel.txt", "CANCELLED", 0, 1024.0),
        ("seff_gpu.txt", "COMPLETED", 0, 256.0),
        ("seff_array_task.txt", "COMPLETED", 0, 256.0),
    ],
)
def test_seff_finished(name: str, state: str, exit_code: int, alloc_mb: float) -> None:
    r = parse_seff(read(name))
    assert r is not None
    assert (r.state, r.exit_code, r.cluster, r.user, r.group) == (
        state,
        exit_code,
        "sjtulab",
        "hpcrobot",
        "acct-hpc",
    )
    assert r.efficiency_available and r.memory_allocated_mb == alloc_mb
    assert r.memory_utilized_mb is not None and r.memory_utilized_mb > 0
    assert r.memory_efficiency_percent is not None and r.cpu_efficiency_percent == 0.0
    assert r.memory_allocated_per is None  # 22.05 adds "(x/node)" only while running
    assert r.notes == []


def test_seff_details() -> None:
    oom = parse_seff(read("seff_oom.txt"))
    assert oom is not None and oom.memory_efficiency_percent == 16.04
    assert oom.memory_utilized_mb == 3.21
    to = parse_seff(read("seff_timeout.txt"))
    assert to is not None and to.wall_clock_seconds == 79 and to.core_walltime_seconds == 79
    cx = parse_seff(read("seff_cancel.txt"))
    assert cx is not None and (cx.nodes, cx.cores_per_node, cx.cores) == (1, 2, 2)
    assert cx.core_walltime_seconds == 10
    task = parse_seff(read("seff_array_task.txt"))
    assert task is not None and (task.job_id, task.array_job_id) == ("20", "11_2")


def test_seff_running() -> None:
    r = parse_seff(read("seff_running.txt"))
    assert r is not None
    assert (r.state, r.exit_code, r.cores) == ("RUNNING", None, 2)
    assert r.memory_utilized_mb == 0.0  # "0.00 MB (estimated maximum)"
    assert (r.memory_allocated_mb, r.memory_allocated_per) == (1024.0, "node")
    assert r.notes == ["WARNING: Efficiency statistics may be misleading for RUNNING jobs."]


def test_seff_pending() -> None:
    r = parse_seff(read("seff_pending.txt"))
    assert r is not None
    assert (r.state, r.exit_code, r.cores, r.efficiency_available) == ("PENDING", None, 1, False)
    assert r.notes == ["Efficiency not available for jobs in the PENDING state."]


def test_seff_missing() -> None:
    assert parse_seff(read("seff_missing.txt")) is None
    assert read("seff_missing.stderr.txt").strip() == "Job not found."


# --- scontrol -----------------------------------------------------------------------------------


def test_scontrol_running() -> None:
    [job] = parse_scontrol_jobs(read("scontrol_running.txt"))
    assert (job.job_id, job.name, job.state, job.terminal) == ("9", "rec-cancel", "RUNNING", False)
    assert (job.user, job.uid, job.account, job.partition) == ("hpcrobot", 1001, "acct-hpc", "cpu")
    assert job.reason is None and job.num_cpus == 2 and job.node_list == "labnode"
    assert job.std_out == "/tmp/slurm-rec/rec-cancel-9.out" == job.std_err
    assert job.std_in == "/dev/null" and job.work_dir == "/tmp/rec"
    assert job.command == "/tmp/slurm-rec/rec-cancel.sh"
    assert job.run_time_seconds == 5 and job.time_limit_seconds == 7 * 86400
    assert job.fields["TRES"] == "cpu=2,mem=1G,node=1,billing=2"
    assert job.fields["Power"] == ""


def test_scontrol_pending_and_array() -> None:
    [begin] = parse_scontrol_jobs(read("scontrol_pending_begin.txt"))
    assert (begin.state, begin.reason, begin.node_list) == ("PENDING", "BeginTime", None)
    pending, running = parse_scontrol_jobs(read("scontrol_array.txt"))
    assert (pending.job_id, pending.reason) == ("12_[2-3%1]", "JobArrayTaskLimit")
    assert (running.job_id, running.state, running.std_out) == (
        "12_1",
        "RUNNING",
        "/tmp/slurm-rec/rec-throttle-21.out",
    )
    done = parse_scontrol_jobs(read("scontrol_array_done.txt"))
    assert [j.job_id for j in done] == ["11_3", "11_2", "11_1"]
    assert {j.state for j in done} == {"COMPLETED"}


def test_scontrol_finished() -> None:
    [done] = parse_scontrol_jobs(read("scontrol_completed.txt"))
    assert (done.state, done.exit_code, done.end_time) == ("COMPLETED", 0, "2026-11-26T06:31:44")
    [to] = parse_scontrol_jobs(read("scontrol_timeout.txt"))
    # scontrol shows the signal (SIGTERM) where sacct shows 0:0
    assert (to.state, to.reason, to.exit_code, to.signal) == ("TIMEOUT", "TimeLimit", 0, 15)


def test_scontrol_missing() -> None:
    assert parse_scontrol_jobs(read("scontrol_missing.txt")) == []
    assert slurm_errors(read("scontrol_missing.stderr.txt")) == ["Invalid job id specified"]


# --- sbatch, scancel, tail ----------------------------------------------------------------------


def test_sbatch_parsable() -> None:
    result = parse_sbatch(read("sbatch_parsable.txt"))
    assert result is not None and (result.job_id, result.cluster) == (5, None)


def test_sbatch_test_only_prints_on_stderr() -> None:
    assert read("sbatch_test_only.txt") == ""
    assert parse_sbatch(read("sbatch_test_only.txt")) is None
    result = parse_sbatch_test_only(read("sbatch_test_only.stderr.txt"))
    assert result is not None
    assert (result.processors, result.nodes, result.partition) == (1, "labnode", "cpu")
    assert result.start_time == "2026-12-31T06:31:46"


@pytest.mark.parametrize(
    ("name", "errors"),
    [
        (
            "sbatch_bad_partition",
            [
                "invalid partition specified: nosuch",
                "Batch job submission failed: Invalid partition name specified",
            ],
        ),
        (
            "sbatch_too_big",
            [
                "Memory specification can not be satisfied",
                "Batch job submission failed: Requested node configuration is not available",
            ],
        ),
    ],
)
def test_sbatch_refused(name: str, errors: list[str]) -> None:
    assert parse_sbatch(read(f"{name}.txt")) is None
    assert slurm_errors(read(f"{name}.stderr.txt")) == errors


def test_scancel_is_silent() -> None:
    # scancel prints nothing, even for an unknown job id (exit 0 in 22.05)
    for name in ("scancel_ids", "scancel_by_name", "scancel_unknown"):
        assert read(f"{name}.txt") == "" and read(f"{name}.stderr.txt") == ""


def test_tail_outputs() -> None:
    assert tail_text(read("tail_fail_out.txt"), 4096).text == "about to fail\n"
    oom = tail_text(read("tail_oom_out.txt"), 120)
    assert oom.truncated and oom.text.endswith("out-of-memory handler.\n")
    assert slurm_errors(read("tail_oom_out.txt")) == [
        "Detected 1 oom-kill event(s) in StepId=7.batch. Some of your processes may have been "
        "killed by the cgroup out-of-memory handler."
    ]
    assert "No such file or directory" in read("tail_missing.stderr.txt")
