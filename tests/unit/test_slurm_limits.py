"""sbatch warnings from the account's limits (sacctmgr, recorded on the lab) and recent usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm.commands import JobOptions, sacct_recent_usage_argv
from sjtu_hpc_mcp.core.slurm.limits import (
    Ask,
    ask_of,
    assoc_argv,
    limit_warnings,
    parse_assoc,
    parse_qos,
    qos_argv,
    tres,
    usage_warnings,
)
from sjtu_hpc_mcp.core.slurm.outcome import parse_usage

RECORDED = Path(__file__).parents[1] / "lab" / "recorded"


def test_argv() -> None:
    argv = assoc_argv("hpcrobot")
    assert argv[:5] == ["sacctmgr", "--noheader", "--parsable2", "show", "assoc"]
    assert "user=hpcrobot" in argv and argv[-1].startswith("format=Account,Partition,MaxJobs")
    assert qos_argv()[-1] == "format=Name,MaxWall,MaxTRES,MaxTRESPU,MaxJobsPU,MaxSubmitPU"
    with pytest.raises(HpcError):
        assoc_argv("x y")
    recent = sacct_recent_usage_argv("now-14days")
    assert "--state=COMPLETED" in recent and "--endtime=now" in recent


def test_tres() -> None:
    assert tres("cpu=64,gres/gpu=4,mem=128G,node=2") == {"cpu": 64, "gpu": 4, "mem": 131072, "node": 2}
    assert tres("gres/gpu:a100=8") == {"gpu:a100": 8}
    assert tres("") == {}


def test_ask_of_options() -> None:
    a = ask_of(JobOptions(nodes=2, ntasks_per_node=4, cpus_per_task=8, mem="100G", gpus=2, time="1-00:00:00"))
    assert a == Ask(time_s=86400, nodes=2, cpus=64, mem_mb=204800, gpus=4)
    assert ask_of(JobOptions()) == Ask(time_s=None, nodes=1, cpus=None, mem_mb=None, gpus=None)


def test_recorded_limits_give_warnings() -> None:
    limits, qos_names = parse_assoc((RECORDED / "sacctmgr_assoc_limits.txt").read_text(), "cpu")
    assert qos_names == ["normal"] and limits[0].max_wall == "1-00:00:00" and limits[0].max_submit == 10
    big = ask_of(JobOptions(time="2-00:00:00", ntasks=128, mem="200G", gpus=8))
    warnings = limit_warnings(big, limits, queued=10)
    text = "\n".join(warnings)
    assert "MaxWall of 1-00:00:00 (association acct-other)" in text
    assert "cpu 128, above the per-job limit of 64" in text
    assert "mem 200 GB, above the per-job limit of 128 GB" in text
    assert "gpu 8, above the per-job limit of 4" in text
    assert "10 of your jobs are queued and association acct-other allows 10: sbatch will be refused" in text
    assert limit_warnings(ask_of(JobOptions(time="60", ntasks=4)), limits, queued=0) == []
    assert "at most 4 of your jobs at once" in limit_warnings(ask_of(JobOptions()), limits, queued=5)[0]


def test_recorded_qos_limits() -> None:
    qos = parse_qos((RECORDED / "sacctmgr_qos.txt").read_text(), ["mcprec"])
    assert len(qos) == 1 and qos[0].max_wall == "2-00:00:00"
    text = "\n".join(limit_warnings(ask_of(JobOptions(time="3-00:00:00", gpus=16)), qos, queued=50))
    assert "MaxWall of 2-00:00:00 (QOS mcprec)" in text
    assert "gpu 16, above the per-user limit of 8 (QOS mcprec)" in text
    assert "QOS mcprec allows 50: sbatch will be refused" in text
    assert parse_qos((RECORDED / "sacctmgr_qos.txt").read_text(), ["normal"])[0].max_wall is None


def test_a_partition_specific_association_applies_only_there() -> None:
    text = "acct|a100|||01:00:00|||normal\nacct||||||||\n"
    assert len(parse_assoc(text, "a100")[0]) == 2 and len(parse_assoc(text, "cpu")[0]) == 1


def recent_jobs(n: int, rss: str = "500M", elapsed: str = "00:10:00") -> list[object]:
    lines = "".join(
        f"{i}|COMPLETED|0:0|{elapsed}|01:00:00|1|1|1G|00:05:00||cpu\n{i}.batch|COMPLETED|0:0|{elapsed}||1|1||00:05:00|{rss}|\n"
        for i in range(1, n + 1)
    )
    return list(parse_usage(lines).values())


def test_far_above_recent_usage() -> None:
    ask = ask_of(JobOptions(mem="64G", time="2-00:00:00"))
    warnings = usage_warnings(ask, recent_jobs(5))  # type: ignore[arg-type]
    assert len(warnings) == 2
    assert "your last 5 completed jobs used at most 500 MB" in warnings[0]
    assert "ran at most 10 min" in warnings[1]
    assert usage_warnings(ask, recent_jobs(2)) == []  # type: ignore[arg-type]  # too few to judge
    assert usage_warnings(ask_of(JobOptions(mem="2G", time="30")), recent_jobs(5)) == []  # type: ignore[arg-type]
