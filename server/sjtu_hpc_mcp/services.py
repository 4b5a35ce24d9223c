"""The shell objects one server process owns, shared by every tool.

It does not import the MCP SDK: the shell is usable (and testable) without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .core.platform import Platform, load_platform
from .settings import Settings
from .shell.approvals import Approvals
from .shell.credentials import CredentialStore
from .shell.data import DataNodes
from .shell.hpc_api import HpcApi
from .shell.jobs import SlurmJobs
from .shell.journal import JobJournal
from .shell.local import LocalTransfers
from .shell.password_page import PasswordPage
from .shell.ssh import SshPool
from .shell.transfers import DataOps

if TYPE_CHECKING:
    from ._mcp import Context


@dataclass
class Services:
    settings: Settings
    platform: Platform
    store: CredentialStore
    ssh: SshPool
    api: HpcApi
    approvals: Approvals
    data: DataNodes
    local: LocalTransfers
    jobs: SlurmJobs
    pages: dict[str, PasswordPage] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        store = CredentialStore(settings.credentials_dir)
        ssh = SshPool(settings, store)
        platform = load_platform()
        return cls(
            settings=settings,
            platform=platform,
            store=store,
            ssh=ssh,
            data=DataNodes(ssh, settings.transfer_bwlimit),
            local=LocalTransfers(ssh),
            api=HpcApi(settings.api_url, timeout=settings.api_timeout, approval_timeout=settings.approval_timeout),
            approvals=Approvals(),
            jobs=SlurmJobs(settings, platform, ssh, JobJournal(settings.workspace)),
        )

    @cached_property
    def transfers(self) -> DataOps:
        """transfer_data and manage_storage, built from the objects above."""
        return DataOps(self.settings, self.platform, self.data, self.local, self.api)

    async def aclose(self) -> None:
        for page in self.pages.values():
            page.close()
        await self.local.aclose()
        await self.jobs.aclose()
        await self.approvals.aclose()
        await self.ssh.aclose()
        await self.api.aclose()


def services(ctx: Context[Any, Any]) -> Services:
    found = ctx.request_context.lifespan_context
    assert isinstance(found, Services)
    return found
