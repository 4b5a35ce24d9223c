"""Settings: from flags and environment variables only. Nothing a model sends can change them."""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from . import __version__
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
    # Folders on this computer that transfers may read and write (besides the client's MCP roots).
    local_root: tuple[Path, ...] = ()
    # KiB/s per rsync stream of a transfer; 0 = no limit (be gentle on a shared data node, or slow tests down).
    transfer_bwlimit: int = Field(0, ge=0, le=10**7)
    # Test only: the real entry-node names mapped to other addresses (the local lab).
    host_map: dict[str, Address] = Field(default_factory=dict)
    connect_timeout: float = Field(15.0, ge=1, le=300)
    command_timeout: float = Field(120.0, ge=1, le=3600)
    api_timeout: float = Field(30.0, ge=1, le=600)
    # Clients give up on a call after 60 s to 4 min: a call must return well before that.
    approval_wait: float = Field(45.0, ge=0, le=200)
    approval_timeout: float = Field(900.0, ge=30, le=24 * 3600)
    max_channels: int = Field(8, ge=1, le=64)
    prewarm: bool = True
    # Look, never touch: tools and commands that change anything are not listed and are refused.
    read_only: bool = False
    max_rows: int = Field(100, ge=1, le=10000)
    transport: Literal["stdio", "http"] = "stdio"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8765, ge=1, le=65535)
    # HTTP on a non-loopback address: a bearer token (file, or the environment only) and the Host names served.
    http_token_file: Path | None = None
    http_token: SecretStr | None = None
    http_allowed_hosts: tuple[str, ...] = ()
    # The one-time password page: where it listens and the URL the person is given (for a published container port).
    page_host: str = "127.0.0.1"
    page_port: int = Field(0, ge=0, le=65535)
    page_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("api_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("page_url")
    @classmethod
    def _page_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
            raise ValueError("must be http://127.0.0.1:PORT (the page is for this computer only)")
        return v.rstrip("/") if v else v

    @field_validator("http_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, v: object) -> object:
        return tuple(h.strip() for h in v.split(",") if h.strip()) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _exposed_http_needs_auth(self) -> Settings:
        if self.http_token is not None and self.http_token_file is not None:
            raise ValueError(f"give the HTTP token by {ENV_PREFIX}HTTP_TOKEN or --http-token-file, not both")
        if self.transport == "http" and not is_loopback(self.http_host):
            missing = []
            if self.http_token is None and self.http_token_file is None:
                missing.append(f"a bearer token (--http-token-file FILE or {ENV_PREFIX}HTTP_TOKEN)")
            if not self.http_allowed_hosts:
                missing.append("the host names clients use (--http-allowed-hosts NAME[:PORT],...)")
            if missing:
                raise ValueError(
                    f"--http-host {self.http_host} is not a loopback address: anyone who reaches the port could act "
                    f"for you. Refusing to start without {' and '.join(missing)}. Make a token with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > token; chmod 600 token`."
                )
        return self

    @property
    def credentials_dir(self) -> Path:
        return self.workspace / "credentials"

    @property
    def known_nodes(self) -> tuple[str, ...]:
        return load_platform().entry_nodes

    def address_of(self, node: str) -> Address:
        """Where to reach an entry node: its real name on port 22 unless the test map says otherwise."""
        return self.host_map.get(node, Address(host=node))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    (
        "transfer_bwlimit",
        "--transfer-bwlimit",
        "KiB/s per rsync stream of transfer_data (default 0: no limit)",
    ),
    (
        "local_root",
        "--local-root",
        "folders on this computer that transfer_data may read and write, separated by ':' (besides the client's roots)",
    ),
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
    (
        "read_only",
        "--read-only",
        "only look, never change anything: tools and commands that would are not offered (no value, or true/false)",
    ),
    ("max_rows", "--max-rows", "rows in a list result before it is truncated (default 100)"),
    ("transport", "--transport", "stdio (default) or http (streamable HTTP on /mcp)"),
    ("http_host", "--http-host", "address for --transport http (default 127.0.0.1)"),
    ("http_port", "--http-port", "port for --transport http (default 8765)"),
    (
        "http_token_file",
        "--http-token-file",
        f"file holding the bearer token HTTP clients must send (or the environment variable {ENV_PREFIX}HTTP_TOKEN); "
        "required, with --http-allowed-hosts, when --http-host is not a loopback address",
    ),
    ("http_allowed_hosts", "--http-allowed-hosts", "Host names (NAME or NAME:PORT, comma-separated) HTTP serves"),
    ("page_host", "--page-host", "address of the one-time password page (default 127.0.0.1; 0.0.0.0 in a container)"),
    ("page_port", "--page-port", "port of the password page (default 0: any free port; fixed for a container)"),
    (
        "page_url",
        "--page-url",
        "base URL given to the person for the page, e.g. http://127.0.0.1:8766 for a published container port",
    ),
    ("log_level", "--log-level", "DEBUG, INFO (default), WARNING or ERROR; logs go to stderr"),
)


_FLAGS = frozenset({"read_only"})  # options that may stand alone (`--read-only` means true)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sjtu-hpc-mcp",
        description="MCP server for the SJTU HPC platform. Serves MCP on stdio by default. "
        f"Every option can also be set by the environment variable {ENV_PREFIX}<OPTION> "
        f"(e.g. {ENV_PREFIX}WORKSPACE, {ENV_PREFIX}API_URL); a flag wins over the environment.",
    )
    parser.add_argument("--version", action="version", version=f"sjtu-hpc-mcp {__version__}")
    for field, flag, help_text in _OPTIONS:
        env = ENV_PREFIX + field.upper()
        text = f"{help_text} [env {env}]"
        if field in _FLAGS:
            parser.add_argument(flag, dest=field, default=None, nargs="?", const="true", help=text)
        else:
            parser.add_argument(flag, dest=field, default=None, help=text)
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, object] = {}
    source: dict[str, str] = {}
    for field, flag, _help in _OPTIONS:
        raw = getattr(args, field)
        source[field] = flag
        if raw is None:
            raw = environ.get(ENV_PREFIX + field.upper()) or None
            source[field] = ENV_PREFIX + field.upper()
        if raw is None:
            continue
        if field == "host_map":
            values[field] = parse_host_map(raw)
        elif field == "local_root":
            values[field] = tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p)
        elif field in ("workspace", "known_hosts", "http_token_file"):
            values[field] = Path(raw).expanduser()
        else:
            values[field] = raw
    if environ.get(ENV_PREFIX + "HTTP_TOKEN"):  # never a flag: flags show in the process list
        values["http_token"] = environ[ENV_PREFIX + "HTTP_TOKEN"]
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ValueError(settings_problem(exc, source, values)) from None


def settings_problem(exc: ValidationError, source: Mapping[str, str], values: Mapping[str, object]) -> str:
    """One line per bad option, naming the flag or variable it came from and the value given."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = err["msg"].removeprefix("Value error, ")
        bounds = _bounds(field)
        if err["type"] in ("greater_than_equal", "less_than_equal") and bounds:
            msg = f"must be from {bounds[0]:g} to {bounds[1]:g}"
        if field in values and field != "http_token":
            lines.append(f"{source.get(field, field)} {values[field]!s}: {msg}")
        else:
            lines.append(msg)
    return "; ".join(lines)


def _bounds(field: str) -> tuple[float, float] | None:
    info = Settings.model_fields.get(field)
    found = {k: getattr(m, k) for m in (info.metadata if info else ()) for k in ("ge", "le") if hasattr(m, k)}
    return (float(found["ge"]), float(found["le"])) if len(found) == 2 else None
