"""Script preparation, the mark, where a script and its output go: pure logic that used to sit in the tool."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm.commands import JobOptions
from sjtu_hpc_mcp.core.slurm.script import (
    JOB_DIR,
    MAX_SCRIPT_BYTES,
    array_parts,
    base_job_id,
    home_of,
    marks_in,
    new_mark,
    output_paths,
    prepare_script,
    resolve_output_path,
    script_name,
)

HOME = "/lustre/home/acct-hpc/hpcrobot"


def test_prepare_keeps_a_shebang_and_adds_a_missing_one() -> None:
    assert prepare_script("#!/bin/sh\ntrue\n") == ("#!/bin/sh\ntrue\n", [])
    script, warnings = prepare_script("echo hi\n")
    assert script == "#!/bin/bash\necho hi\n" and "#!/bin/bash was added" in warnings[0]


def test_prepare_refuses_a_large_script() -> None:
    prepare_script("#" * MAX_SCRIPT_BYTES)
    with pytest.raises(HpcError) as e:
        prepare_script("#" * (MAX_SCRIPT_BYTES + 1))
    assert e.value.code == "E_ARG"
    with pytest.raises(HpcError):  # counted in bytes, not characters
        prepare_script("数" * (MAX_SCRIPT_BYTES // 3 + 1))


def test_mark_and_script_name() -> None:
    mark = new_mark("0123456789ABCDEFffff")
    assert mark == "mcp-0123456789abcdef"
    name = script_name(mark, datetime(2026, 12, 3, 19, 41, 29, tzinfo=UTC))
    assert name == f"{JOB_DIR}/20261203T194129-mcp-0123456789abcdef.sh"
    assert marks_in(f"sbatch --comment={mark} {HOME}/{name}") == [mark, mark]
    with pytest.raises(ValueError):
        new_mark("xyz")


def test_home_of_an_uploaded_script() -> None:
    assert home_of(f"{HOME}/{JOB_DIR}/x.sh") == HOME
    assert home_of("/tmp/x.sh") is None
    assert home_of(f"{JOB_DIR}/x.sh") is None


@pytest.mark.parametrize(
    ("job_id", "base", "task"),
    [("123", "123", None), ("123_4", "123", "4"), ("123_[1-3]", "123", None)],
)
def test_job_id_parts(job_id: str, base: str, task: str | None) -> None:
    assert base_job_id(job_id) == base
    assert array_parts(job_id) == (base, task)


@pytest.mark.parametrize(
    ("template", "job_id", "expected"),
    [
        ("/o/%x-%j.out", "77", "/o/train-77.out"),
        ("/o/%A_%a.out", "77_3", "/o/77_3.out"),
        ("/o/%A_%a.out", "77", "/o/77_%a.out"),  # the array as a whole: the task stays open
        ("/o/%j.out", "77_3", "/o/%j.out"),  # a task's own id is not known
        ("/o/%u/%5j.out", "77", "/o/hpcrobot/00077.out"),
        ("/o/100%%-%N.out", "77", "/o/100%-%N.out"),
    ],
)
def test_resolve_output_path(template: str, job_id: str, expected: str) -> None:
    assert resolve_output_path(template, job_id=job_id, job_name="train", user="hpcrobot") == expected


def test_output_paths_follow_sbatch_defaults() -> None:
    script = f"{HOME}/{JOB_DIR}/20261203T194129-mcp-0123456789abcdef.sh"
    assert output_paths(JobOptions(), home=HOME, job_id="5", script_path=script, user=None) == (
        f"{HOME}/slurm-5.out",
        f"{HOME}/slurm-5.out",
    )
    opts = JobOptions(workdir="/lustre/run/", array="1-3")
    assert output_paths(opts, home=HOME, job_id="5", script_path=script, user=None) == (
        "/lustre/run/slurm-5_%a.out",
        "/lustre/run/slurm-5_%a.out",
    )
    opts = JobOptions(job_name="t", output="/l/%x.out", error="/l/%x-%j.err")
    assert output_paths(opts, home=HOME, job_id="5", script_path=script, user=None) == ("/l/t.out", "/l/t-5.err")
