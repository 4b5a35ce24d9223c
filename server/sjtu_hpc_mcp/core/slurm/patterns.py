"""The value patterns of Slurm arguments, defined once: `validate` compiles them (matched in full,
ASCII only) and the tool's input schema anchors them. Written with `[0-9]`, not `\\d`, so that
JSON-schema regex engines (Unicode by default) read them the same way."""

from __future__ import annotations

PARTITION = r"[A-Za-z0-9_]{1,64}"
JOB_ID = r"[1-9][0-9]{0,9}(?:_[0-9]{1,10})?"
_RANGES = r"[0-9]{1,10}(?:-[0-9]{1,10})?(?:,[0-9]{1,10}(?:-[0-9]{1,10})?)*"
# A job id, an array task, or a set of tasks (`123_[1-3,7]`, scancel only).
JOB_ID_OR_TASKS = rf"[1-9][0-9]{{0,9}}(?:_[0-9]{{1,10}}|_\[{_RANGES}\])?"
USER = r"[a-z_][a-z0-9_-]{0,31}"
NAME = r"[A-Za-z0-9._+][A-Za-z0-9._+-]{0,127}"


def anchored(pattern: str) -> str:
    """For a JSON schema `pattern`, which matches anywhere unless anchored."""
    return f"^(?:{pattern})$"


# The mark this server puts in a job's --comment and script name (core.slurm.script).
MARK = r"mcp-[0-9a-f]{16}"
