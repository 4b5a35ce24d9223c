"""The command the doctor runs on each entry node, and the reading of its output. Pure."""

from __future__ import annotations

from dataclasses import dataclass

# `sh -c PROBE_SH sh login|data ROOT…`: the values are positional arguments, never code.
PROBE_SH = r"""
if [ "$1" = login ]; then
  v=$(sinfo --version 2>/dev/null) || v=$(scontrol --version 2>/dev/null) || v=
  printf 'slurm %s\n' "$v"
fi
shift
for p; do
  r=$(df -P -B1 -- "$p" 2>/dev/null | awk 'NR==2 {print $2, $4, $6}')
  printf 'df %s %s\n' "$p" "${r:--}"
done
"""


@dataclass(frozen=True)
class Pool:
    root: str
    total: int
    free: int
    mount: str


def parse_probe(out: str) -> tuple[str | None, dict[str, Pool | None]]:
    """(Slurm version or None when absent or not asked, {root: its df figures, or None when df failed})."""
    version: str | None = None
    pools: dict[str, Pool | None] = {}
    for line in out.splitlines():
        if line.startswith("slurm "):
            words = line.split()
            version = words[-1] if len(words) > 1 else None
        elif line.startswith("df "):
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[2].isdigit() and parts[3].isdigit():
                pools[parts[1]] = Pool(parts[1], int(parts[2]), int(parts[3]), parts[4])
            elif len(parts) >= 2:
                pools[parts[1]] = None
    return version, pools
