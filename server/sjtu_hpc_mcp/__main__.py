"""Entry point: flags and environment -> Settings -> serve (stdio by default)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence


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
    from .app import build_server

    server = build_server(settings)
    if settings.transport == "http":
        server.run("streamable-http", host=settings.http_host, port=settings.http_port)
    else:
        server.run()


if __name__ == "__main__":
    main()
