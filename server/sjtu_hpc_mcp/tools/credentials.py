"""Credential tools: credential_status, request_token, request_certificate (the flows: ops/credentials.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .._mcp import CallPerson, CallToolResult, Context, InputRequiredResult, lean, tool_errors
from ..core.credentials import CredentialStatus
from ..core.export import DEFAULT_FOLDER
from ..ops.credentials import MAX_VALID, MIN_VALID, CertificateResult, TokenResult
from ..ops.talk import Asked
from ..services import services


@tool_errors
async def credential_status(ctx: Context[Any, Any]) -> Annotated[CallToolResult, CredentialStatus]:
    """Whether the API token, SSH key and certificate are present, valid and safely stored, and the next step.

    Never shows a secret.
    """
    return lean(services(ctx).credentials.status())


@tool_errors
async def request_token(
    ctx: Context[Any, Any],
    username: Annotated[str | None, Field(description="HPC username; needed the first time.")] = None,
    password_file: Annotated[
        str | None,
        Field(description="Absolute path of a file the person uploaded holding only the password; deleted after use."),
    ] = None,
    force_new: Annotated[bool, Field(description="Skip refreshing; log in with the password.")] = False,
) -> Annotated[CallToolResult, TokenResult] | InputRequiredResult:
    """Refresh the stored API token, or get a new one with the password.

    The password comes from an uploaded file (password_file) or a one-time local page the person
    opens (page_url in the result); never from the chat.
    """
    result = await services(ctx).credentials.request_token(CallPerson(ctx), username, password_file, force_new)
    if isinstance(result, Asked):
        assert isinstance(result.answer, InputRequiredResult)
        return result.answer
    return lean(result)


@tool_errors
async def request_certificate(
    ctx: Context[Any, Any],
    valid_time: Annotated[int, Field(ge=MIN_VALID, le=MAX_VALID, description="Seconds it must be valid.")] = 3600,
    force: Annotated[bool, Field(description="Ask even if the current certificate is still valid.")] = False,
    export_to: Annotated[
        str | None, Field(description=f"Also copy key, certificate and an ssh config here ({DEFAULT_FOLDER}).")
    ] = None,
    confirm: Annotated[bool, Field(description="Replace a different key in export_to.")] = False,
) -> Annotated[CallToolResult, CertificateResult]:
    """Get an SSH key and certificate (the person approves in 交我办 or by email; on waiting_for_approval call
    again); export_to also copies them for the person's own ssh, scp or VS Code.
    """
    creds, person = services(ctx).credentials, CallPerson(ctx)
    if export_to is not None:
        return lean(await creds.certificate_and_export(person, valid_time, force, export_to, confirm))
    return lean(await creds.request_certificate(person, valid_time, force))
