"""The doctor's vocabulary: its bounds, a check and a report, and the plain facts the shell hands over. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..credentials import CredentialStatus

Status = Literal["ok", "warning", "problem"]
FORMAT = 1  # version of the JSON report's shape

# Bounds of one run (seconds): each check has its own; together they keep a run short.
DNS_S = 5.0
API_MAX_S = 15.0
COMMAND_MAX_S = 15.0
NODE_MAX_S = 40.0  # a backstop over one node's connect + commands

CLOCK_WARN_S = 60  # certificates are signed valid from about a minute before "now"
CLOCK_PROBLEM_S = 900
CERT_RENEW_S = 300
NEARLY_FULL = 0.02  # a pool with less than this share free

HELP_MAIL = "hpc@sjtu.edu.cn"
KEYS_PUBLISHED = "the fingerprint SJTU HPC publishes (docs.hpc.sjtu.edu.cn, or ask hpc@sjtu.edu.cn)"


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    status: Status
    detail: str
    fix: str = ""


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: int = FORMAT
    when: str
    took_s: float
    versions: dict[str, str]
    settings: dict[str, str]
    checks: list[Check]

    @property
    def counts(self) -> dict[Status, int]:
        found: dict[Status, int] = {"ok": 0, "warning": 0, "problem": 0}
        for c in self.checks:
            found[c.status] += 1
        return found

    @property
    def exit_status(self) -> int:
        return exit_status(self.checks)


def exit_status(checks: Iterable[Check]) -> int:
    """0 when nothing blocks use (warnings included), 1 when a check found a problem."""
    return 1 if any(c.status == "problem" for c in checks) else 0


def short(node: str) -> str:
    """pilogin.hpc.sjtu.edu.cn -> pilogin."""
    return node.split(".", 1)[0]


def where(node: str, host: str, port: int) -> str:
    return node if (host, port) == (node, 22) else f"{node} ({host}:{port})"


# -- what the shell saw --------------------------------------------------------------------------------


# What a failure's code says about where to look, for the fix a check shows: a table of advice, not control flow
# (a failure reaches these verdicts as text, its type long gone).
BLAME: Mapping[str, Literal["host key", "network", "certificate", "api answered"]] = {
    "E_HOSTKEY": "host key",
    "E_CONNECT": "network",
    "E_TIMEOUT": "network",
    "E_LOST": "network",
    "E_AUTH": "certificate",
    "E_API_REFUSED": "api answered",
    "E_API_INTERNAL": "api answered",
    "E_API_BAD_REPLY": "api answered",
}


@dataclass(frozen=True)
class Failure:
    """A failure the shell met, as text: an HpcError's code, message and fix, or an exception's name."""

    code: str
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Resolved:
    node: str
    host: str
    port: int
    addresses: tuple[str, ...] = ()
    failure: Failure | None = None


@dataclass(frozen=True)
class HostKeys:
    node: str
    host: str
    port: int
    known_hosts: str
    file_exists: bool
    trusted: tuple[str, ...] = ()  # "ssh-ed25519 SHA256:…" of the keys (or CAs) the file trusts for it
    presented: str | None = None  # what the node presents now (unverified), when no key is trusted
    unreadable: str | None = None


@dataclass(frozen=True)
class ApiSeen:
    """The API check: an unauthenticated request, or the token refresh when a token exists."""

    url: str
    token_tried: bool
    answered: bool  # an HTTP answer from the API itself (not a gateway error page)
    status_code: int | None = None
    refreshed: bool = False
    token_refused: bool = False
    elapsed_ms: int = 0
    failure: Failure | None = None


@dataclass(frozen=True)
class NodeSeen:
    node: str
    host: str
    port: int
    login: bool
    roots: tuple[str, ...]  # the storage roots the platform table lists for this node
    failure: Failure | None = None
    user: str = ""
    hostname: str = ""
    connect_ms: int = 0
    probe: str | None = None  # output of PROBE_SH
    probe_failure: Failure | None = None
    remote_clock: float | None = None  # the node's `date +%s`
    local_clock: float | None = None  # this computer's time at the middle of that round trip
    clock_uncertainty: float = 1.0
    clock_failure: Failure | None = None
    known_hosts: str = ""


@dataclass(frozen=True)
class LocalRoot:
    path: str
    is_dir: bool


@dataclass
class Seen:
    """Everything one run saw, for `judge`."""

    resolved: list[Resolved] = field(default_factory=list)
    host_keys: list[HostKeys] = field(default_factory=list)
    api: ApiSeen | None = None
    credentials: CredentialStatus | None = None
    now: datetime | None = None
    nodes: list[NodeSeen] = field(default_factory=list)
    ssh_skipped: bool = False
    local_roots: list[LocalRoot] = field(default_factory=list)
