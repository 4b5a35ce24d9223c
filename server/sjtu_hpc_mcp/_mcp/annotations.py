"""Tool annotations (MCP hints): what a tool may do, said once per tool.

A dispatcher tool (one tool whose `command`/`action` argument picks the act) is annotated by its most
dangerous act, and its title names which values only read and which act (README, Decisions).
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp.types import ToolAnnotations

_READS = " (reads: "


def read_only(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )


def mutating(title: str, idempotent: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=False, idempotent_hint=idempotent, open_world_hint=True
    )


def destructive(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    )


def dispatcher_title(title: str, reads: Iterable[str], acts: Iterable[str] = ()) -> str:
    """`Run Slurm (reads: sinfo, squeue; acts: sbatch, scancel)`: which values of the act argument do what."""
    acting = ", ".join(acts)
    return f"{title}{_READS}{', '.join(reads)}{'; acts: ' + acting if acting else ''})"


def base_title(title: str) -> str:
    """A dispatcher's title without the list of what reads and what acts."""
    return title.split(_READS, 1)[0]


def dispatcher(title: str, reads: Iterable[str], acts: Iterable[str]) -> ToolAnnotations:
    """Destructive, for the most dangerous of `acts`; the title says which values only read."""
    return destructive(dispatcher_title(title, reads, acts))
