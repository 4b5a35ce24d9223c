"""The Slurm release an entry node runs, from `sinfo --version`, as a value that compares. Pure.

What the command prints, by source (recorded in tests/lab/recorded/ where live):

- upstream builds: `slurm 24.11.5`; Debian's packages: `slurm-wlm 22.05.8`, `slurm-wlm 24.11.5`;
  vendor builds may add a suffix: `slurm 23.02.7-1.el9`, `slurm 24.05.0-0rc1`;
- sinfo loads the configuration before it answers `--version` (22.05 and 24.11 alike): on a host without
  one it prints `sinfo: error: …` lines and a `sinfo: fatal: …` line, and no version (None here, not a guess).

`SlurmVersion` is a NamedTuple, so it compares with plain tuples: `version >= (23, 2)`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The command whose output `parse_slurm_version` reads (argv, joined with shlex.join by the caller).
SLURM_VERSION_ARGV: tuple[str, ...] = ("sinfo", "--version")

# "slurm 24.11.5", "slurm-wlm 22.05.8", "slurm 23.02.7-1.el9", or the bare "24.11.5"; at the start of a line,
# so "sinfo: error: …" lines (a host without configuration) never match
_VERSION = re.compile(r"^(?:slurm(?:-wlm)?\s+)?(\d{1,2})\.(\d{1,2})(?:\.(\d{1,3}))?(?=$|[-.+~_\s])")


class SlurmVersion(NamedTuple):
    """A Slurm release: `major.minor` names it (24.11), `micro` is the maintenance release (24.11.5)."""

    major: int
    minor: int
    micro: int = 0

    @property
    def release(self) -> str:
        """The release as Slurm names it, `24.11` (the minor is always two digits: `23.02`)."""
        return f"{self.major}.{self.minor:02d}"

    def __str__(self) -> str:
        return f"{self.release}.{self.micro}"


def parse_slurm_version(text: str) -> SlurmVersion | None:
    """The version in `sinfo --version` (or `scontrol --version`) output; None when no line states one."""
    for line in text.splitlines():
        m = _VERSION.match(line.strip())
        if m is not None:
            major, minor, micro = m.groups()
            return SlurmVersion(int(major), int(minor), int(micro or 0))
    return None
