"""`sjtu-hpc-mcp doctor`: look at this computer's setup and the platform, concurrently and bounded in time.

Only looking happens here (names, known_hosts, the API, the credential files, SSH to each entry node with
the project's pool and verified host keys); the verdicts, fixes and output forms are decided in core/doctor/.
The only file it writes: the token after a successful refresh (the old one is then invalid), as the server
does. Nothing secret is printed: the token and the private key are handed to `scrub` as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform as pyplatform
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import TypeVar

import httpx2

from .. import __version__
from ..core import doctor as rules
from ..core.credentials import CredentialStatus, FileSeen, assess
from ..core.doctor import ApiSeen, Failure, HostKeys, LocalRoot, NodeSeen, Report, Resolved, Seen
from ..core.errors import HpcError, TokenRefused
from ..core.platform import Platform, load_platform
from ..settings import Settings, build_parser, load_settings
from . import sshlib
from .credentials import CERTIFICATE, KEY, PUBLIC_KEY, TOKEN, USER, CredentialStore
from .hpc_api import UNAVAILABLE, HpcApi
from .ssh import LAST_NODE, SshPool
from .sshlib import asyncssh

log = logging.getLogger(__name__)
T = TypeVar("T")


def _failure(exc: BaseException) -> Failure:
    if isinstance(exc, HpcError):
        return Failure(exc.code, exc.message, exc.fix)
    if isinstance(exc, TimeoutError):
        return Failure("E_TIMEOUT", "no answer in time")
    return Failure("E_INTERNAL", f"the check failed ({type(exc).__name__})")


# -- names ---------------------------------------------------------------------------------------------


async def resolve(node: str, host: str, port: int) -> Resolved:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), rules.DNS_S)
    except TimeoutError:
        return Resolved(node, host, port, failure=Failure("E_TIMEOUT", f"no answer within {rules.DNS_S:g} s"))
    except OSError as exc:
        return Resolved(node, host, port, failure=Failure("E_CONNECT", exc.strerror or type(exc).__name__))
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    return Resolved(node, host, port, addresses=addresses)


# -- known_hosts ---------------------------------------------------------------------------------------


async def host_keys(settings: Settings, node: str, fetch_s: float) -> HostKeys:
    addr = settings.address_of(node)
    path = settings.known_hosts
    base = HostKeys(node, addr.host, addr.port, str(path), file_exists=path.is_file())
    trusted: tuple[str, ...] = ()
    if base.file_exists:
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8", errors="replace")
            matched = asyncssh.import_known_hosts(text).match(addr.host, "", addr.port)
        except (OSError, ValueError, asyncssh.Error) as exc:
            return HostKeys(**{**base.__dict__, "unreadable": str(exc) or type(exc).__name__})
        keys, cas = matched[0], matched[1]
        trusted = tuple(f"{k.get_algorithm()} {k.get_fingerprint('sha256')}" for k in keys) + tuple(
            f"CA {k.get_algorithm()} {k.get_fingerprint('sha256')}" for k in cas
        )
    presented = None
    if not trusted:  # what the node presents now, for the person to compare with the published fingerprint
        with contextlib.suppress(Exception):
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(addr.host, addr.port, server_host_key_algs=["ssh-ed25519"], config=[]),
                fetch_s,
            )
            if key is not None:
                presented = f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"
    return HostKeys(**{**base.__dict__, "trusted": trusted, "presented": presented})


# -- the API -------------------------------------------------------------------------------------------


async def check_api(settings: Settings, store: CredentialStore, token: str | None) -> ApiSeen:
    timeout = min(settings.api_timeout, rules.API_MAX_S)
    url = rules.public_url(settings.api_url)
    t0 = time.monotonic()

    def ms() -> int:
        return int((time.monotonic() - t0) * 1000)

    if token is not None:
        api = HpcApi(settings.api_url, timeout=timeout, approval_timeout=None)
        try:
            new = await asyncio.wait_for(api.refresh_token(token), timeout + 1)
        except TokenRefused:
            return ApiSeen(url, True, answered=True, token_refused=True, elapsed_ms=ms())
        except (HpcError, TimeoutError) as exc:
            f = _failure(exc)
            answered = rules.BLAME.get(f.code) == "api answered"  # an HTTP answer, though not a token
            return ApiSeen(url, True, answered=answered, elapsed_ms=ms(), failure=f)
        finally:
            await api.aclose()
        store.write_token(new)  # the old token is no longer valid
        return ApiSeen(url, True, answered=True, refreshed=True, elapsed_ms=ms())
    try:
        async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            r = await asyncio.wait_for(
                client.get(settings.api_url + "/", headers={"User-Agent": f"sjtu-hpc-mcp/{__version__} doctor"}),
                timeout + 1,
            )
    except (httpx2.HTTPError, TimeoutError, OSError) as exc:
        detail = type(exc).__name__ if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
        code = "E_API_TIMEOUT" if isinstance(exc, TimeoutError | httpx2.TimeoutException) else "E_API_UNREACHABLE"
        return ApiSeen(url, False, answered=False, elapsed_ms=ms(), failure=Failure(code, detail[:300]))
    if r.status_code in UNAVAILABLE:
        failure = Failure(
            "E_API_UNAVAILABLE",
            f"HTTP {r.status_code} from the gateway in front of it",
            "Try again in a few minutes; the platform may be down for maintenance.",
        )
        return ApiSeen(url, False, answered=False, status_code=r.status_code, elapsed_ms=ms(), failure=failure)
    return ApiSeen(url, False, answered=True, status_code=r.status_code, elapsed_ms=ms())


# -- credentials -----------------------------------------------------------------------------------------


def _seen(store: CredentialStore, name: str | None) -> FileSeen:
    f = store.facts(name)
    return FileSeen(path=str(f.path), present=f.present, mode=f.mode, owner_ok=f.owner_ok)


def _read(store: CredentialStore, name: str) -> str | None:
    try:
        return store.read_text(name)
    except HpcError:  # unreadable (permissions): judged from the file's facts
        return None


def credential_status(settings: Settings, store: CredentialStore, now: datetime) -> CredentialStatus:
    """The same judgement as the credential_status tool (core.credentials.assess on the same facts)."""
    return assess(
        folder=_seen(store, None),
        token=_seen(store, TOKEN),
        key=_seen(store, KEY),
        public_key_text=_read(store, PUBLIC_KEY),
        cert_text=_read(store, CERTIFICATE),
        stored_user=settings.user or (_read(store, USER) or "").strip() or None,
        now=now,
    )


# -- SSH to each entry node ------------------------------------------------------------------------------


async def check_node(pool: DoctorPool, platform: Platform, settings: Settings, node: str) -> NodeSeen:
    addr = settings.address_of(node)
    login = node in {g.job_entry for g in platform.groups.values()}
    roots = platform.writable_on(node)
    base = NodeSeen(node, addr.host, addr.port, login, roots, known_hosts=str(settings.known_hosts))
    limit = min(settings.command_timeout, rules.COMMAND_MAX_S)
    argv = ["sh", "-c", rules.PROBE_SH, "sh", "login" if login else "data", *roots]
    t0 = time.monotonic()
    try:
        probe = await pool.run(node, argv, idempotent=True, limit_s=limit)
    except Exception as exc:  # an HpcError above all; any other failure is this node's too
        f = _failure(exc)
        if pool.connected(node):  # logged in, but the command failed (timed out, or its channel was lost)
            return _with(base, user=pool.user_of(), probe_failure=f, connect_ms=int((time.monotonic() - t0) * 1000))
        return _with(base, failure=f)
    connect_ms = int((time.monotonic() - t0) * 1000)
    seen = _with(base, user=pool.user_of(), hostname=probe.hostname, connect_ms=connect_ms, probe=probe.stdout)
    if not probe.ok and not probe.stdout:
        seen = _with(seen, probe_failure=Failure("E_REMOTE", f"exit status {probe.exit_status}"))
    # The clock: a second, short command on the open connection, timed at both ends of its round trip.
    try:
        t1 = time.time()
        answer = await pool.run(node, ["date", "+%s"], idempotent=True, limit_s=limit)
        t2 = time.time()
        remote = float(answer.stdout.strip()) + 0.5  # `date +%s` truncates to the second
        return _with(seen, remote_clock=remote, local_clock=(t1 + t2) / 2, clock_uncertainty=(t2 - t1) / 2 + 0.5)
    except (HpcError, ValueError, TimeoutError) as exc:
        return _with(seen, clock_failure=_failure(exc))


def _with(seen: NodeSeen, **changes: object) -> NodeSeen:
    return NodeSeen(**{**seen.__dict__, **changes})


class DoctorPool(SshPool):
    """The project's pool, telling which user it logs in as and whether a node's connection is open."""

    def user_of(self) -> str:
        try:
            return self._credentials()[2]
        except HpcError:
            return ""

    def connected(self, node: str) -> bool:
        n = self._nodes.get(node)
        return n is not None and n.current is not None and not n.current.conn.is_closed()


# -- one run -------------------------------------------------------------------------------------------


async def run_doctor(settings: Settings) -> tuple[Report, tuple[str, ...]]:
    """Every check, concurrently; returns the report (not yet scrubbed) and the secrets to scrub from it."""
    t0 = time.monotonic()
    platform = load_platform()
    store = CredentialStore(settings.credentials_dir)
    now = datetime.now(UTC)
    seen = Seen(now=now)
    seen.credentials = credential_status(settings, store, now)
    token = _token(store)
    secrets = [token or "", _read(store, KEY) or "", _read(store, TOKEN) or ""]
    nodes = platform.entry_nodes
    fetch_s = min(settings.connect_timeout, 10.0)

    await asyncio.to_thread(sshlib.load)  # off the loop: names and the API are asked meanwhile
    names = [resolve(n, settings.address_of(n).host, settings.address_of(n).port) for n in nodes]
    keys = [host_keys(settings, n, fetch_s) for n in nodes]
    api_task = check_api(settings, store, token)

    ssh_ready = seen.credentials.ready_for_ssh
    last = store.read_text(LAST_NODE)
    pool = DoctorPool(settings, store)
    node_tasks: list[Awaitable[NodeSeen]] = []
    if ssh_ready:
        node_max = settings.connect_timeout + 2 * min(settings.command_timeout, rules.COMMAND_MAX_S) + 5
        node_tasks = [
            _guard(check_node(pool, platform, settings, n), node_max, _node_failed(settings, n)) for n in nodes
        ]
    try:
        results = await asyncio.gather(
            asyncio.gather(*names),
            asyncio.gather(*keys),
            _guard(api_task, min(settings.api_timeout, rules.API_MAX_S) + 3, _api_failed(settings)),
            asyncio.gather(*node_tasks),
        )
    finally:
        await pool.aclose()
        _restore(store, last)
    secrets.append(_token(store) or "")  # a refreshed token: never shown anywhere, scrubbed all the same
    seen.resolved, seen.host_keys, seen.api, seen.nodes = list(results[0]), list(results[1]), results[2], results[3]
    seen.ssh_skipped = not ssh_ready
    seen.local_roots = [LocalRoot(str(p), p.is_dir()) for p in settings.local_root]
    versions = {"sjtu-hpc-mcp": __version__, "python": pyplatform.python_version()}
    for dist in ("asyncssh", "httpx2", "mcp", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    versions["os"] = f"{pyplatform.system()} {pyplatform.release()} {pyplatform.machine()}"
    versions.update(rules.slurm_versions(seen))
    report = Report(
        when=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        took_s=round(time.monotonic() - t0, 2),
        versions=versions,
        settings=_settings_shown(settings),
        checks=rules.judge(seen),
    )
    return report, tuple(s for s in secrets if s)


def _token(store: CredentialStore) -> str | None:
    try:
        return store.token()
    except HpcError:
        return None


async def _guard(coro: Awaitable[T], limit_s: float, failed: Callable[[BaseException], T]) -> T:
    try:
        return await asyncio.wait_for(coro, limit_s)
    except Exception as exc:  # a check never stops the others: its failure is its result
        return failed(exc)


def _node_failed(settings: Settings, node: str) -> Callable[[BaseException], NodeSeen]:
    def failed(exc: BaseException) -> NodeSeen:
        addr = settings.address_of(node)
        return NodeSeen(node, addr.host, addr.port, False, (), failure=_failure(exc))

    return failed


def _api_failed(settings: Settings) -> Callable[[BaseException], ApiSeen]:
    def failed(exc: BaseException) -> ApiSeen:
        return ApiSeen(rules.public_url(settings.api_url), False, answered=False, failure=_failure(exc))

    return failed


def _restore(store: CredentialStore, last: str | None) -> None:
    """The pool notes the node it last connected to (the server's early connection goes there): keep the server's."""
    try:
        if last is not None:
            if store.read_text(LAST_NODE) != last:
                store.write(LAST_NODE, last, secret=False)
        else:
            with contextlib.suppress(FileNotFoundError):
                store.path(LAST_NODE).unlink()
    except (HpcError, OSError) as exc:
        log.debug("cannot restore %s: %s", LAST_NODE, exc)


def _settings_shown(settings: Settings) -> dict[str, str]:
    shown = {
        "workspace": str(settings.workspace),
        "known_hosts": str(settings.known_hosts),
        "api_url": rules.public_url(settings.api_url),
        "connect_timeout": f"{settings.connect_timeout:g}",
    }
    if settings.user:
        shown["user"] = settings.user
    if settings.host_map:
        shown["host_map"] = ",".join(f"{k}={a.host}:{a.port}" for k, a in settings.host_map.items())
    if settings.local_root:
        shown["local_root"] = os.pathsep.join(str(p) for p in settings.local_root)
    return shown


# -- the command -----------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = build_parser()
    p.prog = "sjtu-hpc-mcp doctor"
    p.description = (
        "Check this computer's setup and the SJTU HPC platform: names, known_hosts, the API, the token and "
        "certificate, SSH to each entry node (Slurm version, pools and free space, clock), --local-root. "
        "One line per check (ok, warning or problem, and the fix); exit status 1 when something blocks use. "
        "Options as for the server (transport and HTTP options are ignored)."
    )
    p.add_argument("--json", action="store_true", help="print one JSON report (paste it into a support request)")
    return p


def cli(argv: Sequence[str]) -> int:
    args = list(argv)
    parser().parse_args(args)  # --help, and unknown options, before anything is looked at
    as_json = "--json" in args
    try:
        settings = load_settings([a for a in args if a != "--json"])
    except ValueError as exc:
        print(f"sjtu-hpc-mcp doctor: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("asyncssh", "httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    report, secrets = asyncio.run(run_doctor(settings))
    report = rules.scrubbed(report, secrets)
    sys.stdout.write(rules.render_json(report) if as_json else rules.render_text(report))
    sys.stdout.flush()
    return report.exit_status
