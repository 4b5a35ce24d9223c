"""The composition root: the shell objects one server process owns and the use cases (ops/) over them,
shared by every tool.

It does not import the MCP SDK: the shell and the use cases are usable (and testable) without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .core.platform import Platform, load_platform
from .ops.account import Account
from .ops.credentials import Credentials
from .ops.jobs import SlurmJobs
from .ops.modules import Modules
from .ops.since import Since
from .ops.storage import Storage
from .ops.transfers import Transfers
from .settings import Settings
from .shell.approvals import Approvals
from .shell.credentials import CredentialStore
from .shell.data import DataNodes
from .shell.hpc_api import HpcApi
from .shell.journal import JobJournal
from .shell.local import LocalTransfers
from .shell.password_page import PasswordPage
from .shell.ssh import SshPool

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

    def __post_init__(self) -> None:
        # sbatch's hooks: notify mails the bound email; a script loading a module the group lacks warns.
        self.jobs.bound_email = lambda: self.account.bound_email()
        self.jobs.script_check = lambda route, script: self.modules.script_warnings(route, script)

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
    def credentials(self) -> Credentials:
        """credential_status, request_token, request_certificate."""
        return Credentials(
            self.settings,
            self.platform,
            self.store,
            self.api,
            self.approvals,
            self.pages,
            self.ssh.slurm_versions_known,
        )

    @cached_property
    def account(self) -> Account:
        """get_user, query_quota, update_user."""
        return Account(self.credentials)

    @cached_property
    def modules(self) -> Modules:
        """run_slurm modules, and the module check before sbatch."""
        return Modules(self.jobs)

    @cached_property
    def since(self) -> Since:
        """run_slurm since."""
        return Since(self.jobs)

    @cached_property
    def transfers(self) -> Transfers:
        """transfer_data, built from the objects above."""
        return Transfers(self.settings, self.platform, self.data, self.local, self.api)

    @cached_property
    def storage(self) -> Storage:
        """manage_storage."""
        return Storage(self.platform, self.data, self.api)

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
