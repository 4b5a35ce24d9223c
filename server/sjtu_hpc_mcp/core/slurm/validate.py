"""Validation of every value that goes into a Slurm argv. Each check refuses with an HpcError.

No value may start with `-` (it could become a flag) or carry a control or line-separator
character; every pattern is narrow, ASCII-only and matched in full, so what passes is inert as a
single argv element.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm import patterns
from sjtu_hpc_mcp.core.slurm.units import duration_seconds

# C0/C1 controls and the Unicode line separators (str.splitlines breaks on all of them).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_JOB_ID = re.compile(patterns.JOB_ID, re.ASCII)
_JOB_ID_OR_TASKS = re.compile(patterns.JOB_ID_OR_TASKS, re.ASCII)
_NAME = re.compile(patterns.NAME, re.ASCII)
_PARTITION = re.compile(patterns.PARTITION, re.ASCII)
_USER = re.compile(patterns.USER, re.ASCII)
_MEM = re.compile(r"([1-9]\d{0,9})([KMGT]?)", re.IGNORECASE | re.ASCII)
_ARRAY_ITEM = r"\d{1,7}(?:-\d{1,7}(?::[1-9]\d{0,6})?)?"
_ARRAY = re.compile(rf"{_ARRAY_ITEM}(?:,{_ARRAY_ITEM})*(?:%[1-9]\d{{0,6}})?", re.ASCII)
_DEP_IDS = r"(?::[1-9]\d{0,9}(?:_\d{1,10})?)+"
_DEP_ITEM = rf"(?:(?:after|afterok|afternotok|afterany|aftercorr){_DEP_IDS}|singleton)"
_DEPENDENCY = re.compile(rf"{_DEP_ITEM}(?:(?:,{_DEP_ITEM})*|(?:\?{_DEP_ITEM})*)", re.ASCII)
_NOW = re.compile(r"now(?:([+-])[1-9]\d{0,5}(?:(?:second|minute|hour|day|week)s?)?)?", re.ASCII)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?)?", re.ASCII)
_ISO_FORMATS = {10: "%Y-%m-%d", 16: "%Y-%m-%dT%H:%M", 19: "%Y-%m-%dT%H:%M:%S"}

MAX_PATH = 4096
MAX_TIME_LIMIT_S = 365 * 86400
MAX_MEM_MB = 64 * 1024 * 1024


def _text(field: str, value: object, code: str = "E_ARG") -> str:
    if not isinstance(value, str):
        raise HpcError(code, f"{field} must be text, got {type(value).__name__}", f"give {field} as a string")
    if not value:
        raise HpcError(code, f"{field} is empty", f"give {field} a value, or leave it out")
    if _CONTROL.search(value):
        raise HpcError(
            code, f"{field} contains a control character (newline, NUL, ...)", "give it on one line, as plain text"
        )
    if value.startswith("-"):
        raise HpcError(code, f"{field} must not start with '-'", "pass a value, not an option")
    return value


def _shown(value: str) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else ""))


def _match(field: str, value: object, pattern: re.Pattern[str], code: str, fix: str) -> str:
    text = _text(field, value, code)
    if not pattern.fullmatch(text):
        raise HpcError(code, f"invalid {field} {_shown(text)}", fix)
    return text


def job_id(value: object, *, allow_task_ranges: bool = False) -> str:
    """`123` or array task `123_4`; with allow_task_ranges also `123_[1-3,7]` (scancel)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    pattern = _JOB_ID_OR_TASKS if allow_task_ranges else _JOB_ID
    fix = "a numeric job id such as 12345, or an array task such as 12345_4"
    return _match("job id", value, pattern, "E_JOBID", fix)


def job_ids(values: Iterable[object], *, allow_task_ranges: bool = False) -> list[str]:
    if isinstance(values, str | bytes):
        raise HpcError("E_JOBID", "job ids must be a list", 'pass ["12345", ...]')
    out: list[str] = []
    for value in values:
        jid = job_id(value, allow_task_ranges=allow_task_ranges)
        if jid not in out:
            out.append(jid)
    if len(out) > 1000:
        raise HpcError("E_JOBID", f"too many job ids ({len(out)}); at most 1000", "ask about 1000 or fewer at a time")
    return out


def name(value: object, field: str = "job name") -> str:
    """A job name or similar token: `[A-Za-z0-9._+-]`, 1-128 characters, not starting with `-`."""
    fix = "use letters, digits and . _ + - (at most 128), not starting with '-'"
    return _match(field, value, _NAME, "E_ARG", fix)


def partition(value: object) -> str:
    fix = "a partition name such as cpu, a100 or debug"
    return _match("partition", value, _PARTITION, "E_PARTITION", fix)


def partitions(values: Iterable[object]) -> list[str]:
    if isinstance(values, str | bytes):
        raise HpcError("E_PARTITION", "partitions must be a list", 'pass ["cpu", ...]')
    out: list[str] = []
    for value in values:
        p = partition(value)
        if p not in out:
            out.append(p)
    return out


def username(value: object) -> str:
    fix = "a login name: lowercase letters, digits, _ and -, starting with a letter or _"
    return _match("user name", value, _USER, "E_USER", fix)


def time_limit(value: object) -> str:
    """A wall time in a Slurm format: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`."""
    fix = "use minutes (30), HH:MM:SS (02:00:00) or D-HH:MM:SS (1-00:00:00)"
    text = _text("time limit", value, "E_TIME")
    seconds = duration_seconds(text)
    if seconds is None:
        raise HpcError("E_TIME", f"invalid time limit {_shown(text)}", fix)
    if not 0 < seconds <= MAX_TIME_LIMIT_S:
        raise HpcError("E_TIME", f"time limit {text} is out of range", "between 1 minute and 365 days")
    return text


def memory(value: object) -> str:
    """A memory size: `4096` (MB), `500M`, `4G`, `1T`; returned with an upper-case unit."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    fix = "a positive size such as 4G, 500M or 4096 (MB)"
    text = _match("memory", value, _MEM, "E_MEM", fix)
    match = _MEM.fullmatch(text)
    assert match is not None
    number, unit = int(match.group(1)), match.group(2).upper()
    mb = number * {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    if mb > MAX_MEM_MB:
        raise HpcError("E_MEM", f"memory {text} is out of range", "at most 64T")
    return f"{number}{unit}"


def count(value: object, field: str, maximum: int) -> int:
    """A positive integer (bools refused) no greater than maximum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise HpcError(
            "E_ARG",
            f"{field} must be an integer, got {type(value).__name__}",
            f"give a whole number from 1 to {maximum}",
        )
    if not 1 <= value <= maximum:
        raise HpcError("E_ARG", f"{field} {value} is out of range", f"between 1 and {maximum}")
    return value


def array_spec(value: object) -> str:
    """`1-10`, `1,3,5`, `0-15:4`, `1-100%10`."""
    fix = "indexes like 1-10, 1,3,5, 0-15:4, optionally throttled as 1-100%10"
    return _match("array", value, _ARRAY, "E_ARG", fix)


def dependency(value: object) -> str:
    """`afterok:123[:124]`, `afterany:123_4`, `singleton`; items joined by `,` (all) or `?` (any)."""
    fix = "like afterok:12345, afterany:12345:12346, singleton; join with , (all) or ? (any)"
    return _match("dependency", value, _DEPENDENCY, "E_ARG", fix)


def slurm_time(value: object, field: str = "time", *, future: bool = False) -> str:
    """A point in time: `now`, `now-24hours` (`now+1hour` if future), `today`, ISO date[time]."""
    fix = "use now-<N>hours, now-<N>days, today, or YYYY-MM-DD[THH:MM[:SS]]"
    text = _text(field, value, "E_TIME")
    if text in ("today", "midnight"):
        return text
    now = _NOW.fullmatch(text)
    if now:
        sign = now.group(1)
        if sign == ("-" if future else "+"):
            raise HpcError("E_TIME", f"{field} {_shown(text)} points the wrong way in time", fix)
        return text
    if _ISO.fullmatch(text):
        try:
            datetime.strptime(text, _ISO_FORMATS[len(text)])  # Slurm reads local time
        except ValueError:
            pass
        else:
            return text
    raise HpcError("E_TIME", f"invalid {field} {_shown(text)}", fix)


def absolute_path(value: object, field: str = "path") -> str:
    """An absolute path without `..` components or control characters.

    `%j %x %A %a` and other characters are kept: the value is one argv element, never a shell word.
    """
    text = _text(field, value, "E_PATH")
    if not text.startswith("/"):
        raise HpcError("E_PATH", f"{field} must be absolute: {_shown(text)}", "start it with /")
    if len(text) > MAX_PATH:
        raise HpcError("E_PATH", f"{field} is longer than {MAX_PATH} characters", "use a shorter path")
    if ".." in text.split("/"):
        raise HpcError("E_PATH", f"{field} must not contain '..': {_shown(text)}", "give the full path")
    return text


def comment(value: object) -> str:
    """The reconciliation token put in --comment: the job-name charset, e.g. `mcp-<uuid>`."""
    return name(value, "comment")
