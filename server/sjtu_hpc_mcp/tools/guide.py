"""Resources (the platform tables), prompts (the common flows) and completions for the prompts' arguments."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .._mcp import Completion, CompletionArgument, CompletionContext, MCPServer, on_completion
from ..core import guide
from ..core.platform import load_platform
from ..services import Services

PARTITIONS_URI = "sjtu-hpc://platform/partitions"
STORAGE_URI = "sjtu-hpc://platform/storage"


def register(mcp: MCPServer[Services]) -> None:
    platform = load_platform()

    @mcp.resource(
        PARTITIONS_URI,
        name="partitions",
        title="Partitions, node groups, entry nodes",
        description="Which node group and login node serve each partition; the docs' wall-time limits.",
        mime_type="application/json",
    )
    def partitions() -> str:
        return guide.partitions_document(platform)

    @mcp.resource(
        STORAGE_URI,
        name="storage",
        title="Storage pools",
        description="Hot and cold pools, whose home each is, where each is writable, and the rules for jobs.",
        mime_type="application/json",
    )
    def storage() -> str:
        return guide.storage_document(platform)

    @mcp.prompt(name="submit_job", title="Submit and follow a job")
    def submit_job(
        partition: Annotated[str, Field(description="Slurm partition, e.g. cpu, a100, arm128c256g.")] = "",
        node_group: Annotated[str, Field(description="pi, kp or sy, when no partition is chosen yet.")] = "",
        goal: Annotated[str, Field(description="What the job should do.")] = "",
    ) -> str:
        """Write, check (test_only), submit and follow a Slurm job, then read its efficiency and its files."""
        return guide.submit_job_prompt(partition, node_group, goal, platform)

    @mcp.prompt(name="archive_results", title="Move results to cold storage")
    def archive_results(
        path: Annotated[str, Field(description="Hot-storage path, e.g. /lustre/home/acct-x/user/run1.")],
        pool: Annotated[str, Field(description="/archive, /vault, or cold (the emptier one; default).")] = "",
    ) -> str:
        """Copy results to a cold pool with checksums, and delete the hot copy only with the person's yes."""
        return guide.archive_prompt(path, pool)

    async def complete(ref: Any, argument: CompletionArgument, context: CompletionContext | None) -> Completion:
        known = (context.arguments if context else None) or {}
        values = guide.completions(argument.name, argument.value, known, platform)
        return Completion(values=values, total=len(values), has_more=False)

    on_completion(mcp, complete)
