"""Entry point: flags and environment -> Settings -> serve (stdio by default)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import Services
    from .settings import Settings


def main(argv: Sequence[str] | None = None) -> None:
    from .settings import load_settings

    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["doctor"]:  # `sjtu-hpc-mcp doctor [--json] [options]`: check the setup, then exit
        from .shell.doctor import cli

        raise SystemExit(cli(args[1:]))
    try:
        settings = load_settings(argv)
    except ValueError as exc:
        print(f"sjtu-hpc-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:  # stderr keeps --log-level when a client asks for more
        handler.setLevel(settings.log_level)
    for noisy in ("asyncssh", "httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if settings.transport == "http":
        _serve_http(settings)
    else:
        asyncio.run(_serve_stdio(settings))


def _serve_http(settings: Settings) -> None:
    from .shell.http_auth import check_token, read_token_file

    try:
        if settings.http_token_file is not None:
            token: str | None = read_token_file(settings.http_token_file)
        elif settings.http_token is not None:
            token = check_token(settings.http_token.get_secret_value(), "SJTU_HPC_HTTP_TOKEN")
        else:
            token = None
    except ValueError as exc:
        print(f"sjtu-hpc-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from ._mcp import serve_http
    from .app import build_server

    serve_http(
        build_server(settings),
        settings.http_host,
        settings.http_port,
        settings.http_allowed_hosts,
        token,
        settings.log_level,
    )


async def _serve_stdio(settings: Settings) -> None:
    """Serve over stdio; once the SDK is imported, connect early to the last-used entry node.

    The early connection loads asyncssh (shell.sshlib) in a worker thread while the server answers
    the client. Started before the SDK import it would compete with it for the CPU and delay
    `initialize`; without credentials nothing loads asyncssh before a tool needs it.
    """
    from .app import build_server
    from .services import Services

    svc = Services.create(settings)
    warm = asyncio.create_task(svc.ssh.prewarm(svc.platform.entry_node("job", "pi"))) if settings.prewarm else None
    try:
        await build_server(settings, svc).run_stdio_async()
    finally:
        if warm is not None:
            warm.cancel()
        await _leave(svc)


EXIT_GRACE_S = 1.0


async def _leave(svc: Services) -> None:
    """The client is gone (stdin closed, or its parent died): close what this process owns and exit promptly.

    A task that does not take its cancellation soon (an SFTP read, a two-factor wait) must not keep the
    server alive as an orphan; transfers on the data nodes run on in tmux regardless.
    """
    log = logging.getLogger(__name__)
    try:
        await asyncio.wait_for(svc.aclose(), EXIT_GRACE_S)
    except Exception as exc:  # a timeout or a failing close: leaving matters more
        log.info("closing took too long or failed (%s); exiting anyway", type(exc).__name__)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in others:
        t.cancel()
    if others and (await asyncio.wait(others, timeout=EXIT_GRACE_S / 2))[1]:
        log.info("%d task(s) did not stop; exiting anyway", len([t for t in others if not t.done()]))
        logging.shutdown()
        os._exit(0)


if __name__ == "__main__":
    main()
