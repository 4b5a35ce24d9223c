"""Each run_slurm command as a core request: which arguments it takes, its argv, its checks."""

from __future__ import annotations

from typing import Any

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm.commands import JobOptions, command_name, remote_argv
from sjtu_hpc_mcp.core.slurm.parse import parse_squeue
from sjtu_hpc_mcp.core.slurm.patterns import JOB_ID_OR_TASKS, PARTITION, anchored
from sjtu_hpc_mcp.core.slurm.requests import (
    MARK_COLUMN,
    TAKES,
    Arguments,
    JobOutputRequest,
    SacctRequest,
    SbatchRequest,
    ScancelRequest,
    SeffRequest,
    SinfoRequest,
    SqueueRequest,
    WaitRequest,
    command_failed,
    request_of,
)


def req(command: Any, **kw: Any) -> Any:
    return request_of(command, Arguments(**kw))


def test_every_command_has_a_request() -> None:
    assert isinstance(req("sinfo", partition="cpu"), SinfoRequest)
    assert isinstance(req("squeue", states=["R"]), SqueueRequest)
    assert isinstance(req("sacct", start="now-2days"), SacctRequest)
    assert isinstance(req("seff", job_ids=["5"]), SeffRequest)
    assert isinstance(req("sbatch", partition="cpu", script="true"), SbatchRequest)
    assert isinstance(req("scancel", job_ids=["5"]), ScancelRequest)
    assert isinstance(req("job_output", job_ids=["5"], stream="stderr"), JobOutputRequest)
    assert isinstance(req("wait", job_ids=["5", "6"]), WaitRequest)
    assert set(TAKES) == {
        "sinfo", "squeue", "sacct", "seff", "sbatch", "scancel", "job_output", "wait", "modules", "since"
    }  # fmt: skip


def test_query_argv_and_filters() -> None:
    r = req("sinfo", partition="cpu")
    assert r.argv[0] == "sinfo" and "--partition=cpu" in r.argv and r.partitions == ["cpu"]
    q = req("squeue", job_ids=["5"], states=["pd"], name="x")
    assert "--jobs=5" in q.argv and "--states=PENDING" in q.argv and "--name=x" in q.argv
    a = req("sacct", job_ids=["5"], partition="cpu")
    assert "--jobs=5" in a.argv and a.window == ""
    assert req("sacct").window == " since the last 24 h"


@pytest.mark.parametrize(
    ("command", "kw", "unused"),
    [
        ("sinfo", {"job_ids": ["5"]}, "job_ids"),
        ("squeue", {"script": "x"}, "script"),
        ("seff", {"job_ids": ["5"], "states": ["R"]}, "states"),
        ("sbatch", {"partition": "cpu", "script": "x", "name": "n"}, "name"),
        ("scancel", {"job_ids": ["5"], "test_only": True}, "test_only"),
        ("squeue", {"wait_s": 10}, "wait_s"),
        ("sacct", {"stream": "stderr"}, "stream"),
        ("wait", {"job_ids": ["5"], "max_bytes": 10}, "max_bytes"),
    ],
)
def test_arguments_a_command_does_not_take_are_refused(command: str, kw: dict[str, Any], unused: str) -> None:
    with pytest.raises(HpcError) as e:
        req(command, **kw)
    assert e.value.code == "E_ARG" and unused in e.value.message


@pytest.mark.parametrize(
    ("command", "kw"),
    [
        ("seff", {}),
        ("seff", {"job_ids": ["5", "6"]}),
        ("job_output", {}),
        ("sbatch", {"script": "true"}),  # no partition
        ("sbatch", {"partition": "cpu"}),  # no script
        ("scancel", {}),
        ("wait", {}),
        ("wait", {"job_ids": ["5"], "wait_s": 51}),
        ("wait", {"job_ids": ["5"], "wait_s": -1}),
        ("wait", {"job_ids": ["5_[1-3]"]}),
        ("seff", {"job_ids": ["-5"]}),
        ("sbatch", {"partition": "cpu", "script": "x", "options": JobOptions(nodes=0)}),
        ("sbatch", {"partition": "cpu", "script": "x", "options": JobOptions(job_name="--wrap=id")}),
        ("scancel", {"name": "-x"}),
    ],
)
def test_missing_or_bad_arguments_are_refused_before_anything_runs(command: str, kw: dict[str, Any]) -> None:
    with pytest.raises(HpcError):
        req(command, **kw)


def test_sbatch_request_argv_carries_partition_mark_and_test_only() -> None:
    r = req("sbatch", partition="cpu", script="x", options=JobOptions(time="10", mem="1G"), test_only=True)
    argv = r.argv("/h/job.sh", "mcp-0123456789abcdef")
    assert argv == [
        "sbatch",
        "--parsable",
        "--partition=cpu",
        "--time=10",
        "--mem=1G",
        "--comment=mcp-0123456789abcdef",
        "--test-only",
        "/h/job.sh",
    ]


def test_scancel_previews_whole_arrays() -> None:
    r = req("scancel", job_ids=["5_[1-3]", "5_4", "6"])
    assert r.argv == ["scancel", "5_[1-3]", "5_4", "6"]
    assert "--jobs=5,5_4,6" in r.preview_argv
    assert r.what() == "5_[1-3], 5_4, 6"


def test_wait_defaults() -> None:
    w = req("wait", job_ids=["5", "5", "6_2"])
    assert (w.job_ids, w.wait_s) == (["5", "6_2"], 45.0)
    assert req("wait", job_ids=["5"], wait_s=0).wait_s == 0


def test_squeue_table_marks_jobs_of_this_server() -> None:
    text = "5|cpu|u|a|RUNNING|0:01|10:00|1|1|t|t|n1|x\n6|cpu|u|a|PENDING|0:00|10:00|1|1|t|N/A|(Priority)|y\n"
    r = req("squeue")
    rows = r.parse(text)
    t = r.table(rows, 100, {"5"})
    assert t.columns[-1] == MARK_COLUMN and [row[-1] for row in t.rows] == [True, False]
    assert MARK_COLUMN not in r.table(rows, 100).columns
    assert r.summary(rows, "pi") == "2 jobs in the queue: 1 RUNNING, 1 PENDING"
    assert parse_squeue(text)[1].reason == "Priority"


def test_every_slurm_command_runs_with_the_standard_time_format() -> None:
    assert remote_argv(["sacct", "-X"]) == ["env", "SLURM_TIME_FORMAT=standard", "sacct", "-X"]
    assert remote_argv(["tail", "--bytes=1", "--", "/x"]) == ["tail", "--bytes=1", "--", "/x"]
    assert command_name(remote_argv(["sbatch", "--partition=cpu", "/x"])) == "sbatch"
    assert command_name(["tail"]) == "tail"


def test_command_failed_shows_the_reason() -> None:
    err = command_failed("sbatch", "pilogin", 1, "sbatch: error: Batch job submission failed: Invalid account\n")
    assert err.code == "E_SLURM" and "Invalid account" in err.message
    err = command_failed("sbatch", "pilogin", 1, "allocation failure: over the GPU quota\nsbatch: error: x\n")
    assert err.message.endswith("over the GPU quota; x")
    assert "exit status 2" in command_failed("seff", "n", 2, "").message


@pytest.mark.parametrize("pattern", [PARTITION, JOB_ID_OR_TASKS])
def test_schema_patterns_are_anchored_and_portable(pattern: str) -> None:
    text = anchored(pattern)
    assert text.startswith("^(?:") and text.endswith(")$") and "\\d" not in text


def test_squeue_of_a_job_that_left_the_queue_is_empty_not_an_error() -> None:
    q = req("squeue", job_ids=["5"])
    assert q.means_none("slurm_load_jobs error: Invalid job id specified\n")
    assert not q.means_none("squeue: error: Invalid user: nobody\n")
    assert not req("sacct").means_none("Invalid job id specified")
