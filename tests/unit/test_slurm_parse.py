"""Parsers on hand-written outputs shaped like Slurm's (edge cases the lab cannot produce)."""

import pytest

from sjtu_hpc_mcp.core.slurm.parse import (
    GpuCount,
    JobComment,
    find_by_comment,
    parse_exit_code,
    parse_gres_gpus,
    parse_job_comments,
    parse_sacct,
    parse_sbatch,
    parse_sbatch_test_only,
    parse_sinfo,
    parse_squeue,
    slurm_errors,
)
from sjtu_hpc_mcp.core.slurm.units import duration_seconds, memory_mb

# --- units --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0:00", 0),
        ("0:05", 5),
        ("5:03", 303),
        ("20:00", 1200),
        ("1:00:00", 3600),
        ("00:01:19", 79),
        ("48:00:00", 172800),
        ("7-00:00:00", 604800),
        ("1-02:03:04", 93784),
        ("1-12", 129600),
        ("1-12:30", 131400),
        ("30", 1800),
        ("infinite", None),
        ("UNLIMITED", None),
        ("Partition_Limit", None),
        ("NOT_SET", None),
        ("INVALID", None),
        ("N/A", None),
        ("", None),
        ("1:60", None),
        ("1-24:00:00", None),
        ("abc", None),
        ("1:2:3:4", None),
    ],
)
def test_duration_seconds(text: str, seconds: int | None) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("256M", 256.0),
        ("4G", 4096.0),
        ("1T", 1024.0**2),
        ("512K", 0.5),
        ("4096", 4096.0),
        ("4000Mc", 4000.0),
        ("4000Mn", 4000.0),
        ("3.32 MB", 3.32),
        ("1.00 GB", 1024.0),
        ("512.00 KB", 0.5),
        ("0.00 MB", 0.0),
        ("", None),
        ("lots", None),
    ],
)
def test_memory_mb(text: str, mb: float | None) -> None:
    assert memory_mb(text) == mb


# --- sinfo --------------------------------------------------------------------------------------

SINFO = """\
cpu*|up|7-00:00:00|10|mixed|200/200/0/400|192000|(null)
cpu*|up|7-00:00:00|5|idle|0/200/0/200|192000|(null)
cpu*|up|7-00:00:00|2|drained*|0/0/80/80|192000|(null)
a100|up|7-00:00:00|3|mixed|64/128/0/192|1024000|gpu:a100:4(S:0-1)
a100|up|7-00:00:00|1|down*|0/0/64/64|1024000|gpu:a100:4(S:0-1)
dgx2|up|infinite|1|allocated|96/0/0/96|1500000+|gpu:v100:16(S:0-1),mps:400
debug|down|20:00|1|idle~|0/40/0/40|192000|gpu:2

garbage line without separators
"""


def test_sinfo_aggregates_per_partition() -> None:
    parts = {p.name: p for p in parse_sinfo(SINFO)}
    assert list(parts) == ["cpu", "a100", "dgx2", "debug"]
    cpu = parts["cpu"]
    assert cpu.default is True
    assert cpu.available == "up"
    assert (cpu.time_limit, cpu.time_limit_seconds) == ("7-00:00:00", 7 * 86400)
    assert cpu.nodes_total == 17
    assert cpu.nodes_by_state == {"mixed": 10, "idle": 5, "drained": 2}
    assert (cpu.cpus_allocated, cpu.cpus_idle, cpu.cpus_other, cpu.cpus_total) == (
        200,
        400,
        80,
        680,
    )
    assert cpu.memory_mb_per_node == 192000
    assert cpu.gpus_per_node == [] and cpu.gpus_total == 0

    a100 = parts["a100"]
    assert a100.default is False
    assert a100.nodes_by_state == {"mixed": 3, "down": 1}
    assert a100.gpus_per_node == [GpuCount(type="a100", count=4)]
    assert a100.gpus_total == 16

    dgx2 = parts["dgx2"]
    assert dgx2.time_limit == "infinite" and dgx2.time_limit_seconds is None
    assert dgx2.memory_mb_per_node == 1500000
    assert dgx2.gpus_per_node == [GpuCount(type="v100", count=16)]

    debug = parts["debug"]
    assert debug.available == "down"
    assert debug.time_limit_seconds == 1200
    assert debug.nodes_by_state == {"idle": 1}
    assert debug.gpus_per_node == [GpuCount(type=None, count=2)]


def test_sinfo_extra_columns_and_bad_numbers_tolerated() -> None:
    parts = parse_sinfo("small|up|1:00:00|x|idle|a/b/c/d|?|(null)|extra|more\n")
    assert len(parts) == 1
    p = parts[0]
    assert p.nodes_total == 0 and p.cpus_total == 0 and p.memory_mb_per_node is None


def test_sinfo_empty() -> None:
    assert parse_sinfo("") == []


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [
        ("(null)", []),
        ("", []),
        ("gpu:a100:4", [("a100", 4)]),
        ("gpu:a100:4(S:0)", [("a100", 4)]),
        ("gpu:a100:4(S:0-1)", [("a100", 4)]),
        ("gpu:4", [(None, 4)]),
        ("gpu:a100:2(S:0),gpu:v100:2(S:1)", [("a100", 2), ("v100", 2)]),
        ("mps:100,gpu:tesla:1", [("tesla", 1)]),
        ("shard:8", []),
        ("mygpu:2", []),
    ],
)
def test_gres(gres: str, gpus: list[tuple[str | None, int]]) -> None:
    assert [(g.type, g.count) for g in parse_gres_gpus(gres)] == gpus


# --- squeue -------------------------------------------------------------------------------------

SQUEUE = """\
101|cpu|alice|acct-a|RUNNING|1:02:03|2:00:00|1|40|2026-11-26T06:00:00|2026-11-26T06:01:00|cas[001-002]|train
102|a100|alice|acct-a|PENDING|0:00|1-00:00:00|2|16|2026-11-26T06:00:00|N/A|(Resources)|big gpu
103|cpu|alice|acct-a|PENDING|0:00|7-00:00:00|1|1|2026-11-26T06:00:00|2026-11-27T10:00:00|(Priority)|p
104|cpu|alice|acct-a|PENDING|0:00|UNLIMITED|1|1|2026-11-26T06:00:00|N/A|(Dependency)|dep
105_[1-3]|cpu|alice|acct-a|PENDING|0:00|10:00|1|1|2026-11-26T06:00:00|N/A|(JobArrayTaskLimit)|arr
105_4|cpu|alice|acct-a|RUNNING|0:07|10:00|1|1|2026-11-26T06:00:00|2026-11-26T06:00:01|cas003|arr
106|cpu|alice|acct-a|PENDING|0:00|10:00|1|1|2026-11-26T06:00:00|N/A|(ReqNodeNotAvail, UnavailableNodes:cas[004-005])|r
107|cpu|alice|acct-a|COMPLETING|0:09|10:00|1|1|2026-11-26T06:00:00|2026-11-26T06:00:01|cas003|cg
108|cpu|alice|acct-a|PENDING|0:00|10:00|1|1|2026-11-26T06:00:00|N/A|(None)|held|name|with|pipes
109|cpu|alice|acct-a|FUTURE_STATE|0:00|10:00|1|1|2026-11-26T06:00:00|N/A||
110||||||||||||
"""


def test_squeue_rows() -> None:
    jobs = {j.job_id: j for j in parse_squeue(SQUEUE)}
    run = jobs["101"]
    assert (run.state, run.terminal) == ("RUNNING", False)
    assert run.elapsed_seconds == 3723 and run.time_limit_seconds == 7200
    assert (run.nodes, run.cpus) == (1, 40)
    assert (run.reason, run.node_list) == (None, "cas[001-002]")
    assert run.start_time == "2026-11-26T06:01:00"
    assert run.user == "alice" and run.account == "acct-a"

    assert jobs["102"].reason == "Resources" and jobs["102"].node_list is None
    assert jobs["102"].name == "big gpu" and jobs["102"].start_time is None
    assert jobs["103"].reason == "Priority"
    assert jobs["103"].start_time == "2026-11-27T10:00:00"  # the scheduler's estimate
    assert jobs["104"].reason == "Dependency" and jobs["104"].time_limit_seconds is None
    assert jobs["105_[1-3]"].reason == "JobArrayTaskLimit"
    assert jobs["105_4"].node_list == "cas003"
    assert jobs["106"].reason == "ReqNodeNotAvail, UnavailableNodes:cas[004-005]"
    assert jobs["107"].state == "COMPLETING" and jobs["107"].terminal is False
    assert jobs["108"].name == "held|name|with|pipes"  # the last column absorbs "|"
    assert jobs["108"].reason is None
    assert (jobs["109"].state, jobs["109"].terminal) == ("FUTURE_STATE", None)
    blank = jobs["110"]
    assert blank.partition is None and blank.nodes is None and blank.name == ""


def test_squeue_skips_foreign_lines() -> None:
    text = "squeue: warning: something\n\n   \n" + SQUEUE.splitlines()[0] + "\n"
    assert [j.job_id for j in parse_squeue(text)] == ["101"]


def test_squeue_empty() -> None:
    assert parse_squeue("") == []


# --- sacct --------------------------------------------------------------------------------------

H = "2026-11-26T06:00:00"
SACCT = f"""\
201|cpu|acct-a|alice|COMPLETED|0:0|00:10:00|01:00:00|4|16G|{H}|{H}|{H}|cas001|ok
202|cpu|acct-a|alice|FAILED|7:0|00:00:01|01:00:00|1|4000Mc|{H}|{H}|{H}|cas001|fail
203|cpu|acct-a|alice|CANCELLED by 1001|0:0|00:00:05|7-00:00:00|2|1G|{H}|{H}|{H}|cas001|cx
204|cpu|acct-a|alice|OUT_OF_MEMORY|0:125|00:00:00|7-00:00:00|1|20M|{H}|{H}|{H}|cas001|oom
205|cpu|acct-a|alice|TIMEOUT|0:0|00:01:19|00:01:00|1|256M|{H}|{H}|{H}|cas001|to
206||acct-a|alice|COMPLETED|0:0|00:00:02||||{H}|{H}|{H}||blank
207|cpu|acct-a|alice|PENDING|0:0|00:00:00|Partition_Limit|16|4G|{H}|Unknown|Unknown|None assigned|pd
208_[2-3]|cpu|acct-a|alice|PENDING|0:0|00:00:00|10:00|1|256M|{H}|Unknown|Unknown|None assigned|arr
208_1|cpu|acct-a|alice|RUNNING|0:0|1-00:00:05|2-00:00:00|1|256M|{H}|{H}|Unknown|cas002|arr
209|cpu|acct-a|alice|NODE_FAIL|1:0|00:00:00|10:00|1|256M|{H}|{H}|{H}|cas002|nf
210|cpu|acct-a|alice|FAILED|0:9|00:00:00|10:00|1|256M|{H}|{H}|{H}|cas002|sig
211|cpu|acct-a|alice|SOMETHING_NEW|:|x|y|z|?|{H}|{H}|{H}|cas002|new
212|cpu|acct-a|alice|COMPLETED|0:0|00:00:01|10:00|1|256M|{H}|{H}|{H}|cas002|a|b
not|enough|columns
"""


def test_sacct_rows() -> None:
    jobs = {j.job_id: j for j in parse_sacct(SACCT)}
    assert len(jobs) == 13

    ok = jobs["201"]
    assert (ok.state, ok.terminal, ok.exit_code, ok.signal) == ("COMPLETED", True, 0, 0)
    assert ok.elapsed_seconds == 600 and ok.time_limit_seconds == 3600
    assert ok.alloc_cpus == 4 and ok.req_mem == "16G" and ok.req_mem_mb == 16384.0

    fail = jobs["202"]
    assert (fail.state, fail.exit_code, fail.signal) == ("FAILED", 7, 0)
    assert fail.req_mem_mb == 4000.0

    cx = jobs["203"]
    assert (cx.state, cx.cancelled_by, cx.terminal) == ("CANCELLED", 1001, True)

    oom = jobs["204"]
    assert (oom.state, oom.exit_code, oom.signal) == ("OUT_OF_MEMORY", 0, 125)

    to = jobs["205"]
    assert to.state == "TIMEOUT" and to.elapsed_seconds > to.time_limit_seconds  # type: ignore[operator]

    blank = jobs["206"]
    assert blank.partition is None and blank.node_list is None
    assert blank.time_limit == "" and blank.time_limit_seconds is None
    assert blank.alloc_cpus is None and blank.req_mem is None and blank.req_mem_mb is None

    pd = jobs["207"]
    assert (pd.state, pd.terminal, pd.start_time, pd.end_time, pd.node_list) == (
        "PENDING",
        False,
        None,
        None,
        None,
    )
    assert pd.time_limit_seconds is None  # Partition_Limit

    assert jobs["208_[2-3]"].state == "PENDING"
    assert jobs["208_1"].elapsed_seconds == 86405 and jobs["208_1"].end_time is None
    assert jobs["209"].state == "NODE_FAIL" and jobs["209"].exit_code == 1
    assert (jobs["210"].exit_code, jobs["210"].signal) == (0, 9)

    new = jobs["211"]
    assert (new.state, new.terminal) == ("SOMETHING_NEW", None)
    assert (new.exit_code, new.signal, new.elapsed_seconds, new.alloc_cpus) == (
        None,
        None,
        None,
        None,
    )
    assert jobs["212"].name == "a|b"  # an extra "|" (or column) lands in the last field


@pytest.mark.parametrize(
    ("text", "result"),
    [("0:0", (0, 0)), ("7:0", (7, 0)), ("0:125", (0, 125)), ("255:0", (255, 0)),
     ("", (None, None)), ("7", (None, None)), ("a:b", (None, None))],
)  # fmt: skip
def test_exit_code(text: str, result: tuple[int | None, int | None]) -> None:
    assert parse_exit_code(text) == result


# --- sbatch -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdout", "job_id", "cluster"),
    [
        ("12345\n", 12345, None),
        ("12345", 12345, None),
        ("12345;sjtu\n", 12345, "sjtu"),
        ("some banner\n12345\n", 12345, None),
        # A site wrapper prints sbatch's plain wording even under --parsable: still submitted.
        ("Submitted batch job 12345\n", 12345, None),
        ("Submitted batch job 12345 on cluster sy\n", 12345, "sy"),
    ],
)
def test_parse_sbatch(stdout: str, job_id: int, cluster: str | None) -> None:
    result = parse_sbatch(stdout)
    assert result is not None
    assert (result.job_id, result.cluster) == (job_id, cluster)


@pytest.mark.parametrize("stdout", ["", "\n", "Submitted batch job\n", "Submitted batch job 12a\n", "12a45\n", "-1\n"])
def test_parse_sbatch_nothing(stdout: str) -> None:
    assert parse_sbatch(stdout) is None


def test_parse_sbatch_test_only() -> None:
    stderr = (
        "sbatch: Job 123 to start at 2026-11-26T06:50:00 using 4 processors on nodes cas[001-002] in partition cpu\n"
    )
    result = parse_sbatch_test_only(stderr)
    assert result is not None
    assert result.job_id == 123
    assert result.start_time == "2026-11-26T06:50:00"
    assert result.processors == 4
    assert result.nodes == "cas[001-002]"
    assert result.partition == "cpu"
    assert parse_sbatch_test_only("sbatch: error: Invalid partition name specified\n") is None


@pytest.mark.parametrize(
    ("stderr", "start", "nodes", "partition", "cluster"),
    [
        # 18.08 .. 24.11
        ("sbatch: Job 5 to start at 2026-12-01T10:00:00 using 4 processors on nodes n1 in partition cpu\n",
         "2026-12-01T10:00:00", "n1", "cpu", None),
        # 25.05: a stray " a" after the time
        ("sbatch: Job 5 to start at 2026-12-01T10:00:00 a using 4 processors on nodes n[1-2] in partition cpu\n",
         "2026-12-01T10:00:00", "n[1-2]", "cpu", None),
        # 25.05 on a multi-cluster site
        ("sbatch: Job 5 to start at 2026-12-01T10:00:00 a using 4 processors on nodes n1 in partition cpu"
         " on cluster sy\n", "2026-12-01T10:00:00", "n1", "cpu", "sy"),
        # 17.11 and older: no "nodes", no partition
        ("sbatch: Job 5 to start at 2026-12-01T10:00:00 using 4 processors on n1\n",
         "2026-12-01T10:00:00", "n1", None, None),
    ],
)  # fmt: skip
def test_parse_sbatch_test_only_wordings(
    stderr: str, start: str, nodes: str, partition: str | None, cluster: str | None
) -> None:
    result = parse_sbatch_test_only(stderr)
    assert result is not None
    assert (result.job_id, result.start_time, result.processors) == (5, start, 4)
    assert (result.nodes, result.partition, result.cluster) == (nodes, partition, cluster)


def test_allocation_failure_is_the_reason() -> None:
    stderr = (
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy\n"
        "allocation failure: Your account acct-hpc has exceeded its GPU quota for this month\n"
    )
    assert slurm_errors(stderr) == [
        "Your account acct-hpc has exceeded its GPU quota for this month",
        "Batch job submission failed: Job violates accounting/QOS policy",
    ]
    assert slurm_errors("sbatch: error: allocation failure: no such QOS\n") == ["no such QOS"]


def test_slurm_errors() -> None:
    stderr = (
        "sbatch: error: invalid partition specified: nosuch\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
        "sbatch: warning: ignored\n"
        "error: bare\n"
        "sbatch: error: \n"
    )
    assert slurm_errors(stderr) == [
        "invalid partition specified: nosuch",
        "Batch job submission failed: Invalid partition name specified",
        "bare",
    ]
    assert slurm_errors("") == []


# --- comments -----------------------------------------------------------------------------------


def test_job_comments() -> None:
    text = "5|COMPLETED|mcp-abc\n6|RUNNING|(null)\n7|CANCELLED by 1001|\n8|PENDING|a|b\n"
    rows = parse_job_comments(text)
    assert rows == [
        JobComment(job_id="5", state="COMPLETED", terminal=True, comment="mcp-abc"),
        JobComment(job_id="6", state="RUNNING", terminal=False, comment=None),
        JobComment(job_id="7", state="CANCELLED", terminal=True, comment=None),
        JobComment(job_id="8", state="PENDING", terminal=False, comment="a|b"),
    ]
    assert [r.job_id for r in find_by_comment(rows, "mcp-abc")] == ["5"]
    assert find_by_comment(rows, "mcp-zzz") == []


def test_lines_split_only_on_newline() -> None:
    row = "301|cpu|u|a|RUNNING|0:01|10:00|1|1|{t}|{t}|n1|{name}".format
    t = "2026-11-26T06:00:00"
    text = row(t=t, name="odd\x1cname\u2028x") + "\r\n" + row(t=t, name="b\x85c") + "\n"
    jobs = parse_squeue(text)
    assert [j.name for j in jobs] == ["odd\x1cname\u2028x", "b\x85c"]
