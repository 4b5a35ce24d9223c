"""Credential tools: credential_status (request_token and request_certificate follow)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._mcp import Context, MCPServer, read_only, tool_errors
from ..core.credentials import CredentialStatus, FileSeen, assess
from ..services import Services, services
from ..shell.credentials import CERTIFICATE, KEY, PUBLIC_KEY, TOKEN, CredentialStore


def _seen(store: CredentialStore, name: str | None) -> FileSeen:
    f = store.facts(name)
    return FileSeen(path=str(f.path), present=f.present, mode=f.mode, owner_ok=f.owner_ok)


def current_status(svc: Services) -> CredentialStatus:
    store = svc.store
    return assess(
        folder=_seen(store, None),
        token=_seen(store, TOKEN),
        key=_seen(store, KEY),
        public_key_text=store.read_text(PUBLIC_KEY),
        cert_path=str(store.path(CERTIFICATE)),
        cert_text=store.read_text(CERTIFICATE),
        stored_user=svc.settings.user or store.user(),
        now=datetime.now(UTC),
    )


def register(mcp: MCPServer[Services]) -> None:
    @mcp.tool(annotations=read_only("Credential status"))
    @tool_errors
    async def credential_status(ctx: Context[Any, Any]) -> CredentialStatus:
        """Whether the API token, SSH key and certificate are present, valid and safely stored, and the next step.

        Never shows a secret.
        """
        return current_status(services(ctx))
