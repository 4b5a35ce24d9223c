"""The tools: arguments, elicitation and the result's shape; the steps are in ops/, the rules in core/.

Each tool is a module-level function, importable and callable without a server; `REGISTRY` lists all of
them with their annotations (what each reads or changes), and `register_tools` adds them to a server. No tool
module imports another.

  credentials.py  credential_status, request_token, request_certificate
  account.py      get_user, query_quota, update_user
  slurm.py        run_slurm
  data.py         transfer_data, manage_storage
  guard.py        the Guard interceptor (audit trail, read-only mode) and its resource
  guide.py        resources, prompts and completions
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from .._mcp import MCPServer, destructive, dispatcher, mutating, read_only
from ..core import slurm as s
from ..core.policy import reads_and_acts
from ..services import Services
from . import account, credentials, data, slurm
from .data import StorageAction, TransferAction


@dataclass(frozen=True)
class Entry:
    fn: Callable[..., Any]
    annotations: Any  # mcp.types.ToolAnnotations

    @property
    def name(self) -> str:
        return self.fn.__name__


REGISTRY: tuple[Entry, ...] = (
    Entry(credentials.credential_status, read_only("Credential status")),
    Entry(credentials.request_token, mutating("Get or refresh the API token")),
    Entry(credentials.request_certificate, mutating("Get an SSH certificate")),
    Entry(slurm.run_slurm, dispatcher("Run Slurm", *reads_and_acts("run_slurm", get_args(s.Command)))),
    Entry(account.get_user, read_only("Account details")),
    Entry(account.query_quota, read_only("Storage quota")),
    Entry(account.update_user, destructive("Update the account")),
    Entry(
        data.transfer_data,
        dispatcher("Transfer data", *reads_and_acts("transfer_data", get_args(TransferAction))),
    ),
    Entry(
        data.manage_storage,
        dispatcher("Manage storage", *reads_and_acts("manage_storage", get_args(StorageAction))),
    ),
)


def register_tools(mcp: MCPServer[Services]) -> None:
    for entry in REGISTRY:
        mcp.add_tool(entry.fn, annotations=entry.annotations)
