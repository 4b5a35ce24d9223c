"""wait's reading of a sacct poll (recorded on the lab) and its diagnoses."""

from __future__ import annotations

from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.slurm.commands import sacct_usage_argv
from sjtu_hpc_mcp.core.slurm.outcome import (
    OomKill,
    cpu_seconds,
    last_lines,
    oom_kills,
    outcome_of,
    parse_usage,
    unknown_outcome,
    usage_for,
)

RECORDED = Path(__file__).parents[1] / "lab" / "recorded"


@pytest.fixture(scope="module")
def usage() -> dict[str, object]:
    return dict(parse_usage((RECORDED / "sacct_usage.txt").read_text()))


def test_poll_argv() -> None:
    argv = sacct_usage_argv(["18", "19_2"])
    assert argv[0] == "sacct" and "--jobs=18,19_2" in argv and "--allocations" not in argv  # steps carry MaxRSS


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00.004", 0.004), ("00:02.090", 2.09), ("05:03.250", 303.25), ("01:02:03", 3723), ("1-00:00:01", 86401),
     ("", None), ("x", None)],
)  # fmt: skip
def test_cpu_seconds(text: str, seconds: float | None) -> None:
    got = cpu_seconds(text)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


def test_steps_fold_into_their_job(usage: dict[str, object]) -> None:
    assert sorted(usage) == ["18", "19", "20", "21"]
    u = parse_usage((RECORDED / "sacct_usage.txt").read_text())
    assert u["18"].max_rss_mb == pytest.approx(1112 / 1024)
    assert u["20"].state == "TIMEOUT" and u["20"].max_rss_mb == pytest.approx(4664 / 1024)
    assert u["21"].req_mem_mb == 200 and u["21"].alloc_cpus == 2


def test_completed_job_has_exit_code_and_efficiency() -> None:
    u = parse_usage((RECORDED / "sacct_usage.txt").read_text())
    o = outcome_of(u["21"])
    assert (o.state, o.finished, o.exit_code, o.elapsed) == ("COMPLETED", True, 0, "00:00:04")
    assert o.cpu_efficiency_percent == pytest.approx(26.1)  # 2.09 s of 2 CPUs x 4 s
    assert o.memory_efficiency_percent == pytest.approx(0.5)
    assert o.diagnosis is None and o.fix is None


def test_failed_by_exit_code() -> None:
    u = parse_usage((RECORDED / "sacct_usage.txt").read_text())
    o = outcome_of(u["18"], "Traceback\nValueError: bad input")
    assert o.exit_code == 3 and "exit code 3" in (o.diagnosis or "")
    assert "stderr lines below" in (o.fix or "") and o.stderr_tail == "Traceback\nValueError: bad input"
    assert "job_output" in (outcome_of(u["18"]).fix or "")


def test_out_of_memory_says_raise_mem() -> None:
    u = parse_usage((RECORDED / "sacct_usage.txt").read_text())
    o = outcome_of(u["19"])
    assert (o.exit_code, o.signal) == (0, 125)
    assert "memory limit of 100 MB" in (o.diagnosis or "") and "peak seen" not in (o.diagnosis or "")
    assert "options.mem=1G" in (o.fix or "")


def test_timeout_says_raise_time() -> None:
    u = parse_usage((RECORDED / "sacct_usage.txt").read_text())
    o = outcome_of(u["20"])
    assert "time limit (00:01:00)" in (o.diagnosis or "") and "options.time=00:10:00" in (o.fix or "")
    u["20"].time_limit_seconds = 2 * 86400
    assert "options.time=4-00:00:00" in (outcome_of(u["20"]).fix or "")


def test_node_fail_and_running_and_unknown() -> None:
    text = (
        "7|NODE_FAIL|0:0|00:10:00|01:00:00|4|1|4G|00:30:00||cpu\n8|RUNNING|0:0|00:00:10|01:00:00|1|1|4G|00:00:00||cpu\n"
    )
    u = parse_usage(text)
    o = outcome_of(u["7"])
    assert "node failed" in (o.diagnosis or "") and "hpc@sjtu.edu.cn" in (o.fix or "")
    r = outcome_of(u["8"])
    assert not r.finished and r.exit_code is None and r.cpu_efficiency_percent is None and r.diagnosis is None
    assert unknown_outcome("9").state == "UNKNOWN"


def test_pre_21_08_memory_per_cpu() -> None:
    u = parse_usage(
        "7|COMPLETED|0:0|00:01:00|01:00:00|4|1|1000Mc|00:02:00||cpu\n7.batch|COMPLETED|0:0|00:01:00||4|1||00:02:00|2000M|\n"
    )
    o = outcome_of(u["7"])
    assert o.memory_requested_mb == 4000 and o.memory_efficiency_percent == 50 and o.cpu_efficiency_percent == 50


def test_last_lines() -> None:
    assert last_lines("\n".join(str(i) for i in range(30)) + "\n", 3) == "27\n28\n29"


def test_an_array_id_stands_for_its_tasks() -> None:
    text = (
        "30_1|COMPLETED|0:0|00:00:05|00:10:00|1|1|1G|00:00:01||cpu\n"
        "30_2|OUT_OF_MEMORY|0:125|00:00:05|00:10:00|1|1|1G|00:00:01||cpu\n"
        "30_3|FAILED|1:0|00:00:05|00:10:00|1|1|1G|00:00:01||cpu\n"
    )
    found = parse_usage(text)
    worst = usage_for(found, "30")
    assert worst is not None and (worst.job_id, worst.state, worst.finished) == ("30", "OUT_OF_MEMORY", True)
    assert usage_for(found, "30_3") is found["30_3"] and usage_for(found, "31") is None
    found = parse_usage(text + "30_[4-9]|PENDING|0:0|00:00:00|00:10:00|1|1|1G|00:00:00||cpu\n")
    pending = usage_for(found, "30")
    assert pending is not None and pending.state == "PENDING" and not pending.finished


@pytest.mark.parametrize(
    ("line", "found"),
    [
        # 22.05 (tests/lab/recorded/tail_oom_out.txt)
        ("slurmstepd-labnode: error: Detected 1 oom-kill event(s) in StepId=7.batch. Some of your processes may have "
         "been killed by the cgroup out-of-memory handler.", [OomKill(1, "7.batch")]),
        # 24.11 (tests/lab/recorded/slurm-24.11/tail_oom_out.txt)
        ("slurmstepd-labnode: error: Detected 1 oom_kill event in StepId=3.batch. Some of the step tasks have been "
         "OOM Killed.", [OomKill(1, "3.batch")]),
        ("slurmstepd: error: Detected 2 oom_kill events in StepId=12_4.0. Some of the step tasks have been OOM Killed.",
         [OomKill(2, "12_4.0")]),
        # older releases
        ("slurmstepd: error: Detected 1 oom-kill event(s) in step 1234.batch cgroup. Some of your processes may have "
         "been killed by the cgroup out-of-memory handler.", [OomKill(1, "1234.batch")]),
        ("ValueError: no input.csv\nKilled\n", []),
    ],
)  # fmt: skip
def test_oom_kill_lines_of_every_release(line: str, found: list[OomKill]) -> None:
    assert oom_kills(line) == found


def test_a_failed_job_whose_step_ran_out_of_memory_is_told_to_raise_mem() -> None:
    """The job ended FAILED (the script went on after a step was killed); slurmstepd's line says why."""
    u = parse_usage("30|FAILED|1:0|00:00:09|00:10:00|1|1|500M|00:00:01||cpu\n")
    tail = "srun: error: labnode: task 0: Out Of Memory\nslurmstepd: error: Detected 1 oom_kill event in StepId=30.0."
    o = outcome_of(u["30"], tail)
    assert o.diagnosis == (
        "The script ended with exit code 1 after a process ran out of memory. "
        "Slurm counted 1 oom-kill event in step 30.0."
    )
    assert o.fix is not None and o.fix.startswith("Raise mem, e.g. options.mem=1G")
    assert "Read the stderr lines below" in (outcome_of(u["30"], "Traceback\nValueError").fix or "")
