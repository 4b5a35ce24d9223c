import shlex

import pytest
from pydantic import ValidationError

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm.commands import (
    SACCT_COLUMNS,
    SQUEUE_COLUMNS,
    SbatchOptions,
    sacct_argv,
    sacct_comments_argv,
    sbatch_argv,
    scancel_argv,
    scontrol_job_argv,
    seff_argv,
    sinfo_argv,
    squeue_argv,
    squeue_comments_argv,
    tail_argv,
)
from tests.unit.test_slurm_validate import HOSTILE

# Flags the builders may emit; any other element must not start with "-".
OWN_FLAGS = {
    "--noheader", "--format", "--partition", "--me", "--user", "--states", "--jobs", "--name",
    "--array", "--allocations", "--parsable2", "--starttime", "--endtime", "--state",
    "--oneliner", "--parsable", "--time", "--nodes", "--ntasks", "--ntasks-per-node",
    "--cpus-per-task", "--mem", "--gres", "--job-name", "--output", "--error", "--dependency",
    "--begin", "--chdir", "--comment", "--test-only", "--bytes", "--",
}  # fmt: skip


def assert_inert(argv: list[str]) -> None:
    assert all(isinstance(a, str) and a for a in argv)
    assert shlex.split(shlex.join(argv)) == argv  # each element stays one word
    for arg in argv[1:]:
        assert "\n" not in arg and "\x00" not in arg
        if arg.startswith("-"):
            assert arg.split("=", 1)[0] in OWN_FLAGS, arg


# --- sinfo --------------------------------------------------------------------------------------


def test_sinfo_default() -> None:
    argv = sinfo_argv()
    assert argv == ["sinfo", "--noheader", "--format=%P|%a|%l|%D|%T|%C|%m|%G"]
    assert_inert(argv)


def test_sinfo_partitions_dedup() -> None:
    argv = sinfo_argv(["cpu", "a100", "cpu"])
    assert argv[-1] == "--partition=cpu,a100"
    assert_inert(argv)


@pytest.mark.parametrize("value", [*HOSTILE, "cpu,a100"])
def test_sinfo_hostile_partition(value: str) -> None:
    with pytest.raises(HpcError):
        sinfo_argv([value])


def test_sinfo_partitions_as_string_refused() -> None:
    with pytest.raises(HpcError):
        sinfo_argv("cpu")


# --- squeue -------------------------------------------------------------------------------------


def test_squeue_default_is_me_with_name_last() -> None:
    argv = squeue_argv()
    fmt = "%i|%P|%u|%a|%T|%M|%l|%D|%C|%V|%S|%R|%j"
    assert argv == ["squeue", "--noheader", f"--format={fmt}", "--me"]
    assert SQUEUE_COLUMNS[-1] == ("name", "%j")
    assert_inert(argv)


def test_squeue_all_filters() -> None:
    argv = squeue_argv(
        "hpcrobot",
        states=["pd", "R"],
        partitions=["cpu", "a100"],
        job_ids=["123", 124, "125_3"],
        name="my_job",
        expand_arrays=True,
    )
    assert argv[3:] == [
        "--user=hpcrobot",
        "--states=PENDING,RUNNING",
        "--partition=cpu,a100",
        "--jobs=123,124,125_3",
        "--name=my_job",
        "--array",
    ]
    assert_inert(argv)


def test_squeue_all_states() -> None:
    assert squeue_argv(all_states=True)[-1] == "--states=all"
    assert squeue_argv(states="CD,CA")[-1] == "--states=COMPLETED,CANCELLED"
    with pytest.raises(HpcError):
        squeue_argv(states=["R"], all_states=True)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["user", "states", "partitions", "job_ids", "name"])
def test_squeue_hostile(field: str, value: str) -> None:
    kwargs: dict[str, object] = {field: value if field in ("user", "name", "states") else [value]}
    with pytest.raises(HpcError):
        squeue_argv(**kwargs)  # type: ignore[arg-type]


def test_squeue_refuses_array_ranges() -> None:
    # 22.05's squeue silently matches nothing for `123_[1-3]`
    with pytest.raises(HpcError):
        squeue_argv(job_ids=["123_[1-3]"])


# --- sacct --------------------------------------------------------------------------------------


SACCT_HEAD = [
    "sacct",
    "--allocations",
    "--parsable2",
    "--noheader",
    "--format=JobID,Partition,Account,User,State,ExitCode,Elapsed,Timelimit,AllocCPUS,ReqMem,"
    "Submit,Start,End,NodeList,JobName",
]


def test_sacct_default_last_24_hours() -> None:
    argv = sacct_argv()
    assert argv == [*SACCT_HEAD, "--starttime=now-24hours"]
    assert SACCT_COLUMNS[-1] == ("name", "JobName")
    assert_inert(argv)


def test_sacct_job_ids_without_start_search_all_time() -> None:
    argv = sacct_argv(job_ids=[123, "124_2"])
    assert argv == [*SACCT_HEAD, "--jobs=123,124_2"]


def test_sacct_states_pin_the_end_time() -> None:
    argv = sacct_argv(states=["F", "oom", "CANCELLED"])
    assert argv[len(SACCT_HEAD) :] == [
        "--starttime=now-24hours",
        "--endtime=now",
        "--state=FAILED,OUT_OF_MEMORY,CANCELLED",
    ]
    assert_inert(argv)


def test_sacct_explicit_window_and_user() -> None:
    argv = sacct_argv(start="2026-11-01", end="2026-11-26T12:00", states=["TO"], user="hpcrobot")
    assert argv[len(SACCT_HEAD) :] == [
        "--starttime=2026-11-01",
        "--endtime=2026-11-26T12:00",
        "--state=TIMEOUT",
        "--user=hpcrobot",
    ]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["start", "end", "states", "job_ids", "user"])
def test_sacct_hostile(field: str, value: str) -> None:
    kwargs: dict[str, object] = {field: [value] if field == "job_ids" else value}
    with pytest.raises(HpcError):
        sacct_argv(**kwargs)  # type: ignore[arg-type]


# --- seff, scontrol -----------------------------------------------------------------------------


def test_seff_and_scontrol() -> None:
    assert seff_argv(123) == ["seff", "123"]
    assert seff_argv("123_4") == ["seff", "123_4"]
    assert scontrol_job_argv("123") == ["scontrol", "--oneliner", "show", "job", "123"]


@pytest.mark.parametrize("value", [*HOSTILE, "123_[1-3]", 0, True, None])
def test_seff_scontrol_hostile(value: object) -> None:
    with pytest.raises(HpcError):
        seff_argv(value)  # type: ignore[arg-type]
    with pytest.raises(HpcError):
        scontrol_job_argv(value)  # type: ignore[arg-type]


# --- scancel ------------------------------------------------------------------------------------


def test_scancel_ids() -> None:
    argv = scancel_argv(["123", 124, "125_3", "126_[1-3,5]"])
    assert argv == ["scancel", "123", "124", "125_3", "126_[1-3,5]"]
    assert_inert(argv)


def test_scancel_by_name_and_user() -> None:
    argv = scancel_argv(name="my_job", user="hpcrobot")
    assert argv == ["scancel", "--name=my_job", "--user=hpcrobot"]


def test_scancel_needs_a_selector() -> None:
    with pytest.raises(HpcError):
        scancel_argv()
    with pytest.raises(HpcError):
        scancel_argv([])
    with pytest.raises(HpcError):
        scancel_argv(user="hpcrobot")  # all of a user's jobs: never


@pytest.mark.parametrize("value", [*HOSTILE, "123_[2-3%1]", "--me", "-u"])
def test_scancel_hostile(value: str) -> None:
    with pytest.raises(HpcError):
        scancel_argv([value])
    with pytest.raises(HpcError):
        scancel_argv(name=value)
    with pytest.raises(HpcError):
        scancel_argv(["1"], user=value)


# --- tail ---------------------------------------------------------------------------------------


def test_tail() -> None:
    argv = tail_argv("/lustre/home/u/slurm-123.out", 4096)
    assert argv == ["tail", "--bytes=4096", "--", "/lustre/home/u/slurm-123.out"]
    assert_inert(argv)
    assert tail_argv("/tmp/x")[1] == "--bytes=65536"


@pytest.mark.parametrize("size", [0, -1, 2 * 1024 * 1024, True, "100"])
def test_tail_size_bounded(size: object) -> None:
    with pytest.raises(HpcError):
        tail_argv("/tmp/x", size)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [*HOSTILE, "/etc/../etc/shadow", "slurm-1.out"])
def test_tail_hostile_paths(value: str) -> None:
    with pytest.raises(HpcError):
        tail_argv(value)


def test_tail_odd_but_absolute_path_is_one_element() -> None:
    argv = tail_argv("/tmp/a b; rm -rf ~ $(id)")
    assert argv[-1] == "/tmp/a b; rm -rf ~ $(id)"
    assert_inert(argv)


# --- comments (reconciliation) ------------------------------------------------------------------


def test_comment_lookups() -> None:
    assert squeue_comments_argv() == [
        "squeue", "--noheader", "--states=all", "--format=%i|%T|%k", "--me",
    ]  # fmt: skip
    assert squeue_comments_argv("hpcrobot")[-1] == "--user=hpcrobot"
    argv = sacct_comments_argv()
    assert argv[-2:] == ["--format=JobID,State,Comment", "--starttime=now-24hours"]
    assert sacct_comments_argv("now-2days", "hpcrobot")[-2:] == [
        "--starttime=now-2days",
        "--user=hpcrobot",
    ]
    with pytest.raises(HpcError):
        sacct_comments_argv("; id")


# --- sbatch -------------------------------------------------------------------------------------


def test_sbatch_minimal() -> None:
    assert sbatch_argv("/home/u/job.sh") == ["sbatch", "--parsable", "/home/u/job.sh"]


def test_sbatch_every_option() -> None:
    options = SbatchOptions(
        partition="a100",
        time="1-00:00:00",
        nodes=1,
        ntasks=4,
        ntasks_per_node=4,
        cpus_per_task=8,
        mem="32g",
        gpus=2,
        job_name="train.v2",
        output="/lustre/home/u/logs/%x-%j.out",
        error="/lustre/home/u/logs/%x-%j.err",
        array="1-10%2",
        dependency="afterok:123:124",
        begin="now+1hour",
        workdir="/lustre/home/u/run",
        comment="mcp-0b6f7c1e-5d1b-4c53-9a51-6a0e1b2c3d4e",
        test_only=True,
    )
    argv = sbatch_argv("/lustre/home/u/run/job.sh", options)
    assert argv == [
        "sbatch",
        "--parsable",
        "--partition=a100",
        "--time=1-00:00:00",
        "--nodes=1",
        "--ntasks=4",
        "--ntasks-per-node=4",
        "--cpus-per-task=8",
        "--mem=32G",
        "--gres=gpu:2",
        "--job-name=train.v2",
        "--output=/lustre/home/u/logs/%x-%j.out",
        "--error=/lustre/home/u/logs/%x-%j.err",
        "--array=1-10%2",
        "--dependency=afterok:123:124",
        "--begin=now+1hour",
        "--chdir=/lustre/home/u/run",
        "--comment=mcp-0b6f7c1e-5d1b-4c53-9a51-6a0e1b2c3d4e",
        "--test-only",
        "/lustre/home/u/run/job.sh",
    ]
    assert_inert(argv)


STRING_FIELDS = [
    "partition", "time", "mem", "job_name", "output", "error", "array", "dependency", "begin",
    "workdir", "comment",
]  # fmt: skip
INT_FIELDS = ["nodes", "ntasks", "ntasks_per_node", "cpus_per_task", "gpus"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", STRING_FIELDS)
def test_sbatch_hostile_strings(field: str, value: str) -> None:
    with pytest.raises(HpcError):
        sbatch_argv("/home/u/job.sh", SbatchOptions(**{field: value}))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, 10**9])
@pytest.mark.parametrize("field", INT_FIELDS)
def test_sbatch_out_of_range_counts(field: str, value: int) -> None:
    with pytest.raises(HpcError):
        sbatch_argv("/home/u/job.sh", SbatchOptions(**{field: value}))  # type: ignore[arg-type]


@pytest.mark.parametrize("field", INT_FIELDS)
def test_sbatch_options_are_strictly_typed(field: str) -> None:
    for value in ("4", True, 4.0):
        with pytest.raises(ValidationError):
            SbatchOptions(**{field: value})  # type: ignore[arg-type]


def test_sbatch_options_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        SbatchOptions(wrap="id")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SbatchOptions(extra_args=["--wrap=id"])  # type: ignore[call-arg]


@pytest.mark.parametrize("value", [*HOSTILE, "job.sh", "/home/../etc/passwd"])
def test_sbatch_hostile_script_path(value: str) -> None:
    with pytest.raises(HpcError):
        sbatch_argv(value)


def test_sbatch_odd_paths_stay_single_elements() -> None:
    argv = sbatch_argv("/tmp/job $(id).sh", SbatchOptions(output="/tmp/`id`;x.out", workdir="/tmp/数据"))
    assert argv == [
        "sbatch",
        "--parsable",
        "--output=/tmp/`id`;x.out",
        "--chdir=/tmp/数据",
        "/tmp/job $(id).sh",
    ]
    assert_inert(argv)


@pytest.mark.parametrize("begin", ["now-1hour", "yesterday"])
def test_sbatch_begin_must_be_future_form(begin: str) -> None:
    with pytest.raises(HpcError):
        sbatch_argv("/tmp/j.sh", SbatchOptions(begin=begin))
