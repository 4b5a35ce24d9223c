"""Entry point: flags and environment -> Settings -> serve (stdio by default)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings


def main(argv: Sequence[str] | None = None) -> None:
    from .settings import load_settings

    try:
        settings = load_settings(argv)
    except ValueError as exc:
        print(f"sjtu-hpc-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("asyncssh", "httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if settings.transport == "http":
        from .app import build_server

        build_server(settings).run("streamable-http", host=settings.http_host, port=settings.http_port)
    else:
        asyncio.run(_serve_stdio(settings))


async def _serve_stdio(settings: Settings) -> None:
    """Start connecting to the last-used entry node while the MCP SDK is imported (most of start-up)."""
    from .services import Services

    svc = Services.create(settings)
    warm = asyncio.create_task(svc.ssh.prewarm(svc.platform.entry_node("job", "pi"))) if settings.prewarm else None
    app = await asyncio.to_thread(importlib.import_module, "sjtu_hpc_mcp.app")
    try:
        await app.build_server(settings, svc).run_stdio_async()
    finally:
        if warm is not None:
            warm.cancel()


if __name__ == "__main__":
    main()
