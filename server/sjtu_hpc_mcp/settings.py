"""Settings: from flags and environment variables only. Nothing a model sends can change them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .core.platform import load_platform

DEFAULT_API_URL = "https://api.hpc.sjtu.edu.cn"
DEFAULT_WORKSPACE = "~/.openclaw/workspace"
ENV_PREFIX = "SJTU_HPC_"


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)
    host: str
    port: int = Field(22, ge=1, le=65535)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    workspace: Path = Field(default_factory=lambda: Path(DEFAULT_WORKSPACE).expanduser())
    api_url: str = DEFAULT_API_URL
    known_hosts: Path = Field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    user: str | None = None
    # Test only: the real entry-node names mapped to other addresses (the local lab).
    host_map: dict[str, Address] = Field(default_factory=dict)
    connect_timeout: float = 15.0
    command_timeout: float = 120.0
    api_timeout: float = 30.0
    approval_wait: float = 45.0
    approval_timeout: float = 900.0
    max_channels: int = 8
    prewarm: bool = True
    max_rows: int = 100
    transport: Literal["stdio", "http"] = "stdio"
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("api_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def credentials_dir(self) -> Path:
        return self.workspace / "credentials"

    @property
    def known_nodes(self) -> tuple[str, ...]:
        return load_platform().entry_nodes

    def address_of(self, node: str) -> Address:
        """Where to reach an entry node: its real name on port 22 unless the test map says otherwise."""
        return self.host_map.get(node, Address(host=node))


def parse_host_map(text: str) -> dict[str, Address]:
    """`name=host:port,name=host:port` -> map; only the platform's own entry-node names are accepted."""
    known = set(load_platform().entry_nodes)
    result: dict[str, Address] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, target = item.partition("=")
        host, _, port = target.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"host map entry {item!r} is not NAME=HOST:PORT")
        if name not in known:
            raise ValueError(f"host map names {name!r}, which is not an entry node ({', '.join(sorted(known))})")
        result[name] = Address(host=host, port=int(port))
    return result


_OPTIONS: tuple[tuple[str, str, str], ...] = (
    # (field, flag, help)
    (
        "workspace",
        "--workspace",
        f"workspace folder; credentials live in its credentials/ (default {DEFAULT_WORKSPACE})",
    ),
    ("api_url", "--api-url", f"HPC API base URL (default {DEFAULT_API_URL})"),
    (
        "known_hosts",
        "--known-hosts",
        "known_hosts file used to verify entry-node host keys (default ~/.ssh/known_hosts)",
    ),
    ("user", "--user", "HPC username (default: read from the certificate or the workspace)"),
    ("host_map", "--host-map", "TESTS ONLY: map entry nodes to other addresses, NAME=HOST:PORT,..."),
    ("connect_timeout", "--connect-timeout", "seconds to open an SSH connection (default 15)"),
    ("command_timeout", "--command-timeout", "seconds for one remote command (default 120)"),
    ("api_timeout", "--api-timeout", "seconds for an HPC API call that needs no approval (default 30)"),
    ("approval_wait", "--approval-wait", "seconds a call waits for two-factor approval before returning (default 45)"),
    (
        "approval_timeout",
        "--approval-timeout",
        "seconds to keep waiting for a two-factor decision (default 900)",
    ),
    ("max_channels", "--max-channels", "concurrent SSH channels per entry node (default 8; sshd allows 10)"),
    ("prewarm", "--prewarm", "true (default) or false: connect to the last-used entry node at start-up"),
    ("max_rows", "--max-rows", "rows in a list result before it is truncated (default 100)"),
    ("transport", "--transport", "stdio (default) or http (streamable HTTP on /mcp)"),
    ("http_host", "--http-host", "address for --transport http (default 127.0.0.1)"),
    ("http_port", "--http-port", "port for --transport http (default 8765)"),
    ("log_level", "--log-level", "DEBUG, INFO (default), WARNING or ERROR; logs go to stderr"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sjtu-hpc-mcp",
        description="MCP server for the SJTU HPC platform. Serves MCP on stdio by default. "
        f"Every option can also be set by the environment variable {ENV_PREFIX}<OPTION> "
        f"(e.g. {ENV_PREFIX}WORKSPACE, {ENV_PREFIX}API_URL); a flag wins over the environment.",
    )
    for field, flag, help_text in _OPTIONS:
        env = ENV_PREFIX + field.upper()
        parser.add_argument(flag, dest=field, default=None, help=f"{help_text} [env {env}]")
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, object] = {}
    for field, _flag, _help in _OPTIONS:
        raw = getattr(args, field)
        if raw is None:
            raw = environ.get(ENV_PREFIX + field.upper()) or None
        if raw is None:
            continue
        if field == "host_map":
            values[field] = parse_host_map(raw)
        elif field in ("workspace", "known_hosts"):
            values[field] = Path(raw).expanduser()
        else:
            values[field] = raw
    return Settings.model_validate(values)
