"""Slurm's duration and memory notations, read leniently (parsers) by one strict grammar."""

from __future__ import annotations

import re

# Slurm durations: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. Output uses the same grammar
# (`5:03` is 5 min 3 s, `1-02:00:00`), so one reader serves input and output.
_DURATION = re.compile(r"(?:(\d{1,5})-)?(\d{1,7})(?::(\d{1,2}))?(?::(\d{1,2}))?", re.ASCII)
_ASCII_INT = re.compile(r"[0-9]+")
_NO_LIMIT = frozenset({"INFINITE", "UNLIMITED", "NOT_SET", "PARTITION_LIMIT", "INVALID", "N/A"})


def duration_seconds(text: str) -> int | None:
    """Seconds for a Slurm duration; None for `infinite`/`UNLIMITED`/blank or anything malformed."""
    value = text.strip()
    if not value or value.upper() in _NO_LIMIT:
        return None
    match = _DURATION.fullmatch(value)
    if not match:
        return None
    days_s, first, second, third = match.groups()
    a = int(first)
    b = int(second) if second is not None else None
    c = int(third) if third is not None else None
    if days_s is not None:
        days = int(days_s)
        minutes, seconds = b or 0, c or 0
        if a >= 24 or minutes >= 60 or seconds >= 60:
            return None
        return ((days * 24 + a) * 60 + minutes) * 60 + seconds
    if c is not None:  # H:M:S
        assert b is not None
        if b >= 60 or c >= 60:
            return None
        return (a * 60 + b) * 60 + c
    if b is not None:  # M:S
        if b >= 60:
            return None
        return a * 60 + b
    return a * 60  # M


_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?([CN]?)", re.IGNORECASE | re.ASCII)
_MB_PER_UNIT = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}


def memory_mb(text: str) -> float | None:
    """Megabytes (MiB) for `4G`, `500M`, `4096` (MB), `1000Mc`, `1.23 GB`; None if unreadable."""
    match = _MEMORY.fullmatch(text.strip())
    if not match:
        return None
    number, unit, _per = match.groups()
    return float(number) * _MB_PER_UNIT[unit.upper()]


def decimal(text: str) -> int | None:
    """An ASCII decimal integer, or None (`str.isdigit` would accept `²` and `١`)."""
    value = text.strip()
    return int(value) if _ASCII_INT.fullmatch(value) else None


def leading_int(text: str) -> int | None:
    """The integer at the start of `16000`, `16000+`, `4(S:0)`; None if there is none."""
    match = re.match(r"\s*([0-9]+)", text)
    return int(match.group(1)) if match else None


def output_lines(text: str) -> list[str]:
    """Lines as Slurm ends them (`\n`); `str.splitlines` would also split a job name on `\x1c`,
    `\x85` or U+2028."""
    return [line.removesuffix("\r") for line in text.split("\n")]
