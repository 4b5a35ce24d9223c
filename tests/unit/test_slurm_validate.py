import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm import validate as v

# Values an attacker or a confused model might pass. None of them may pass a narrow check.
HOSTILE = [
    "x; touch /tmp/pwned",
    "$(id)",
    "`id`",
    "--wrap=id",
    "-x",
    "a\nb",
    "a\x00b",
    "a\rb",
    "../../etc/passwd",
    "a" * 10_000,
    "名字",
    "",
    " ",
    "a b",
    "a|b",
    "*",
    "'",
    '"',
    "a&&b",
    ">out",
]


def _refused(fn: object, value: object, code: str) -> None:
    with pytest.raises(HpcError) as err:
        fn(value)  # type: ignore[operator]
    assert err.value.code == code
    assert "\n" not in str(err.value) and "\x00" not in str(err.value)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    ("fn", "code"),
    [
        (v.job_id, "E_JOBID"),
        (v.name, "E_ARG"),
        (v.partition, "E_PARTITION"),
        (v.username, "E_USER"),
        (v.time_limit, "E_TIME"),
        (v.memory, "E_MEM"),
        (v.array_spec, "E_ARG"),
        (v.dependency, "E_ARG"),
        (v.slurm_time, "E_TIME"),
        (v.absolute_path, "E_PATH"),
        (v.comment, "E_ARG"),
    ],
)
def test_hostile_values_refused(fn: object, code: str, value: str) -> None:
    _refused(fn, value, code)


@pytest.mark.parametrize("value", [None, 3.5, b"123", ["123"], {"a": 1}])
@pytest.mark.parametrize("fn", [v.name, v.partition, v.username, v.time_limit, v.array_spec, v.absolute_path])
def test_non_text_refused(fn: object, value: object) -> None:
    with pytest.raises(HpcError):
        fn(value)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("123", "123"), (123, "123"), ("4294967294", "4294967294"), ("123_4", "123_4"), ("9_0", "9_0")],
)
def test_job_id_good(value: object, expected: str) -> None:
    assert v.job_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "0",
        0,
        -1,
        True,
        "0123",
        "12345678901",
        "123_",
        "_4",
        "123_[1-3]",
        "123_[2-3%1]",
        "123.batch",
        "123+0",
        "123,124",
        " 123",
        "123 ",
        "１２３",  # full-width digits: str.isdigit() would say yes
        "12a",
    ],
)
def test_job_id_bad(value: object) -> None:
    _refused(v.job_id, value, "E_JOBID")


@pytest.mark.parametrize("value", ["123_[1-3]", "123_[1,3,5-7]", "123_4", "123"])
def test_job_id_task_ranges_for_scancel(value: str) -> None:
    assert v.job_id(value, allow_task_ranges=True) == value


@pytest.mark.parametrize("value", ["123_[2-3%1]", "123_[]", "123_[1-3", "123[1-3]", "123_[a]"])
def test_job_id_task_ranges_bad(value: str) -> None:
    with pytest.raises(HpcError):
        v.job_id(value, allow_task_ranges=True)


def test_job_ids_dedup_and_limits() -> None:
    assert v.job_ids(["1", 1, "2_3"]) == ["1", "2_3"]
    with pytest.raises(HpcError):
        v.job_ids("123")  # a string is not a list of ids
    with pytest.raises(HpcError):
        v.job_ids(range(1, 1002))


@pytest.mark.parametrize("value", ["a", "my_job", "run-1.2+x", "A" * 128, "_x", ".hidden", "123", "mcp-3f2a"])
def test_name_good(value: str) -> None:
    assert v.name(value) == value


@pytest.mark.parametrize("value", ["A" * 129, "-x", "a/b", "a=b", "a,b", "a:b", "a%b", "é"])
def test_name_bad(value: str) -> None:
    _refused(v.name, value, "E_ARG")


@pytest.mark.parametrize("value", ["cpu", "a100", "192c6t", "debug64c512g", "scnet_arm"])
def test_partition_good(value: str) -> None:
    assert v.partition(value) == value


@pytest.mark.parametrize("value", ["cpu,a100", "cpu*", "a-100", "cpu ", "p" * 65])
def test_partition_bad(value: str) -> None:
    _refused(v.partition, value, "E_PARTITION")


@pytest.mark.parametrize("value", ["hpcrobot", "_svc", "stu-1", "a" * 32])
def test_username_good(value: str) -> None:
    assert v.username(value) == value


@pytest.mark.parametrize("value", ["Root", "1abc", "a" * 33, "a.b", "root,alice"])
def test_username_bad(value: str) -> None:
    _refused(v.username, value, "E_USER")


@pytest.mark.parametrize(
    "value",
    ["30", "1", "90", "5:30", "02:00:00", "48:00:00", "1-00", "1-12", "1-12:30", "7-00:00:00"],
)
def test_time_limit_good(value: str) -> None:
    assert v.time_limit(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "0:00",
        "00:00:00",
        "1:60",
        "1:00:60",
        "1:60:00",
        "1-24",
        "1-00:60",
        "366-00:00:00",
        "infinite",
        "UNLIMITED",
        "1h",
        "1:2:3:4",
        "-1",
        "1--2",
        "1-",
        "٣",  # Arabic-Indic digit
    ],
)
def test_time_limit_bad(value: str) -> None:
    _refused(v.time_limit, value, "E_TIME")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4G", "4G"),
        ("4g", "4G"),
        ("500M", "500M"),
        ("4096", "4096"),
        (4096, "4096"),
        ("1T", "1T"),
        ("64T", "64T"),
        ("512K", "512K"),
    ],
)
def test_memory_good(value: object, expected: str) -> None:
    assert v.memory(value) == expected


@pytest.mark.parametrize("value", ["0", "0G", "4GB", "4.5G", "4 G", "65T", "1P", "G", True, -4])
def test_memory_bad(value: object) -> None:
    _refused(v.memory, value, "E_MEM")


@pytest.mark.parametrize("value", [1, 16, 64])
def test_count_good(value: int) -> None:
    assert v.count(value, "gpus", 64) == value


@pytest.mark.parametrize("value", [0, -1, 65, True, False, "4", 4.0, None])
def test_count_bad(value: object) -> None:
    with pytest.raises(HpcError):
        v.count(value, "gpus", 64)


@pytest.mark.parametrize("value", ["1-10", "0-15:4", "1,3,5", "1-3,7,9-11", "1-100%10", "7", "0-9%1", "1-3,5-9:2%4"])
def test_array_good(value: str) -> None:
    assert v.array_spec(value) == value


@pytest.mark.parametrize("value", ["1-", "%4", "1-10%", "1-10%0", "1:2", "1,,2", "1-10%2%3", "a"])
def test_array_bad(value: str) -> None:
    _refused(v.array_spec, value, "E_ARG")


@pytest.mark.parametrize(
    "value",
    [
        "afterok:123",
        "afterok:123:124",
        "afterany:123_4",
        "after:1,afterok:2",
        "afternotok:5?aftercorr:6",
        "singleton",
        "singleton,afterok:9",
    ],
)
def test_dependency_good(value: str) -> None:
    assert v.dependency(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "afterok",
        "afterok:",
        "afterok:abc",
        "afterok:1,afterany:2?after:3",
        "after:1+5",
        "expand:1",
        "afterburstbuffer:1",
        "singleton:1",
        "afterok:0",
        "AFTEROK:1",
    ],
)
def test_dependency_bad(value: str) -> None:
    _refused(v.dependency, value, "E_ARG")


@pytest.mark.parametrize(
    "value",
    [
        "now",
        "now-24hours",
        "now-1hour",
        "now-7days",
        "now-90minutes",
        "now-3600",
        "now-2weeks",
        "today",
        "midnight",
        "2026-11-26",
        "2026-11-26T06:30",
        "2026-11-26T06:30:59",
    ],
)
def test_slurm_time_past_good(value: str) -> None:
    assert v.slurm_time(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "now+1hour",
        "now-0hours",
        "now-24 hours",
        "now-24h",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-11-26T25:00",
        "2026-11-26 06:30",
        "11/26",
        "teatime",
        "now-1234567days",
    ],
)
def test_slurm_time_bad(value: str) -> None:
    _refused(v.slurm_time, value, "E_TIME")


def test_slurm_time_future() -> None:
    assert v.slurm_time("now+1hour", future=True) == "now+1hour"
    assert v.slurm_time("2030-01-01T00:00", future=True) == "2030-01-01T00:00"
    with pytest.raises(HpcError):
        v.slurm_time("now-1hour", future=True)


@pytest.mark.parametrize(
    "value",
    [
        "/lustre/home/acct-hpc/u/job.sh",
        "/tmp/%x-%j.out",
        "/tmp/%A_%a.err",
        "/tmp/x; rm -rf ~",  # inert: one argv element, never a shell word
        "/tmp/$(id)",
        "/lustre/home/数据/输出.txt",
        "/a/./b",
        "/a/..b/c..",
        "/",
    ],
)
def test_absolute_path_good(value: str) -> None:
    assert v.absolute_path(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "relative/job.sh",
        "./job.sh",
        "~/job.sh",
        "/a/../b",
        "/..",
        "/a/b/..",
        "/a\nb",
        "/a\x00b",
        "/a\tb",
        "/a\x85b",
        "/a\u2028b",
        "/a\x1bb",
        "/" + "a" * 4096,
        "-/x",
    ],
)
def test_absolute_path_bad(value: str) -> None:
    _refused(v.absolute_path, value, "E_PATH")


@pytest.mark.parametrize(
    ("fn", "value"),
    [
        (v.job_id, "1２３"),  # full-width digits after an ASCII one
        (v.job_id, "1٣"),
        (v.job_id, "123\n"),  # `$` would match before a final newline
        (v.time_limit, "1٣"),
        (v.memory, "4٣G"),
        (v.array_spec, "1-٣"),
        (v.dependency, "afterok:1٣"),
        (v.slurm_time, "２026-01-01"),
    ],
)
def test_non_ascii_digits_refused(fn: object, value: str) -> None:
    with pytest.raises(HpcError):
        fn(value)  # type: ignore[operator]
