"""The streamable HTTP transport: DNS-rebinding protection, the bearer check, uvicorn."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer as SdkServer
from mcp.server.transport_security import TransportSecuritySettings

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def transport_security(allowed_hosts: tuple[str, ...]) -> TransportSecuritySettings:
    """DNS-rebinding protection, always on: loopback names plus the configured ones, any port unless given."""
    hosts: list[str] = []
    origins: list[str] = []
    for name in (*LOOPBACK_HOSTS, *allowed_hosts):
        with_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
        forms = [name] if with_port else [name, f"{name}:*"]
        hosts += forms
        origins += [f"{scheme}://{form}" for scheme in ("http", "https") for form in forms]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def http_app(mcp: SdkServer[Any], allowed_hosts: tuple[str, ...], token: str | None, host: str) -> Any:
    """The streamable HTTP ASGI app on /mcp, behind the bearer check when a token is set."""
    from ..shell.http_auth import BearerAuth

    app: Any = mcp.streamable_http_app(transport_security=transport_security(allowed_hosts), host=host)
    return BearerAuth(app, token) if token else app


def serve_http(
    mcp: SdkServer[Any], host: str, port: int, allowed_hosts: tuple[str, ...], token: str | None, log_level: str
) -> None:
    import uvicorn

    app = http_app(mcp, allowed_hosts, token, host)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level=log_level.lower())
