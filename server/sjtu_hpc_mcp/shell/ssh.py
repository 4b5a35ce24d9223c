"""SshPool: one asyncssh connection per entry node, shared by every call.

- opened on first use with the workspace's key and certificate; a certificate replaced on disk
  is picked up by the next call (the old connection is retired once its channels finish);
- channels per node bounded by a semaphore below sshd's MaxSessions: callers wait, not fail;
- host keys checked against the configured known_hosts, never trusted on first use;
- a dropped connection is reopened once and the command retried, for idempotent commands only.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..core.certs import parse_certificate
from ..core.errors import ConnectionLost, HpcError
from ..core.slurm.version import SLURM_VERSION_ARGV, SlurmVersion, parse_slurm_version
from ..settings import Settings
from . import sshlib
from .credentials import CERTIFICATE, KEY, CredentialStore
from .sshlib import asyncssh

log = logging.getLogger(__name__)

# AES-GCM first: hardware-accelerated, and asyncssh's chacha20 builds cipher contexts per packet
# (about 0.4 ms a command here). Everything OpenSSH offers by default stays acceptable.
_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
LAST_NODE = "last_entry_node"  # not secret: which node to connect to early next time


def _lost(*more: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The errors of a connection that went away (asyncssh's own are known once it is loaded)."""
    return (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError, ConnectionResetError, EOFError, *more)


@dataclass(frozen=True)
class RunResult:
    node: str
    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    hostname: str  # what the node calls itself, read once per connection

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass
class _Conn:
    conn: asyncssh.SSHClientConnection
    stamp: tuple[int, int, int, int]
    hostname: str = ""
    users: int = 0
    retired: bool = False
    slurm: tuple[SlurmVersion | None] | None = None  # (version,) once asked on this connection

    def release(self) -> None:
        self.users -= 1
        if self.retired and self.users == 0:
            self.conn.close()


@dataclass
class _Node:
    sem: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: _Conn | None = None


class SshPool:
    def __init__(self, settings: Settings, store: CredentialStore) -> None:
        self.settings = settings
        self.store = store
        self._nodes: dict[str, _Node] = {}

    # -- credentials -----------------------------------------------------------------

    def _stamp(self) -> tuple[int, int, int, int]:
        stamps: list[int] = []
        for name in (KEY, CERTIFICATE):
            try:
                st = self.store.path(name).stat()
                stamps += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                stamps += [0, 0]
        return (stamps[0], stamps[1], stamps[2], stamps[3])

    def _credentials(self) -> tuple[Path, str, str]:
        """The key file, certificate text and login user, checked without loading asyncssh."""
        key_path = self.store.path(KEY)
        cert_text = self.store.read_text(CERTIFICATE)
        if cert_text is None or not key_path.exists():
            raise HpcError(
                "E_NO_CERT",
                "There is no SSH key and certificate in the workspace.",
                "Call request_certificate (the person approves it in 交我办 or by email).",
            )
        cert = parse_certificate(cert_text)
        now = datetime.now(UTC)
        if not cert.is_valid_at(now):
            raise HpcError(
                "E_CERT_EXPIRED",
                f"The SSH certificate is not valid now (valid {cert.valid_after:%Y-%m-%d %H:%M} to "
                f"{cert.valid_before or 'forever'} UTC).",
                "Call request_certificate for a new one.",
            )
        user = self.settings.user or self.store.user() or (cert.principals[0] if cert.principals else None)
        if not user:
            raise HpcError("E_NO_USER", "The certificate names no user.", "Call request_certificate for a new one.")
        return key_path, cert_text, user

    def _client_key(self) -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate, str]:
        key_path, cert_text, user = self._credentials()
        try:
            key = asyncssh.read_private_key(key_path)
            ssh_cert = asyncssh.import_certificate(cert_text)
        except (asyncssh.KeyImportError, OSError):
            raise HpcError(
                "E_KEY", f"Cannot load {key_path} or its certificate.", "Call request_certificate for a new pair."
            ) from None
        return key, ssh_cert, user

    # -- connections -----------------------------------------------------------------

    def _node(self, node: str) -> _Node:
        if node not in self._nodes:
            self._nodes[node] = _Node(sem=asyncio.Semaphore(self.settings.max_channels))
        return self._nodes[node]

    async def _connect(self, node: str) -> asyncssh.SSHClientConnection:
        key, cert, user = self._client_key()
        addr = self.settings.address_of(node)
        where = node if (addr.host, addr.port) == (node, 22) else f"{node} ({addr.host}:{addr.port})"
        known_hosts = self.settings.known_hosts
        entry = addr.host if addr.port == 22 else f"[{addr.host}]:{addr.port}"
        if not Path(known_hosts).is_file():
            raise HpcError(
                "E_HOSTKEY",
                f"The known_hosts file {known_hosts} does not exist, so {node}'s host key cannot be verified.",
                f"Check the host key fingerprint published by SJTU HPC, then add it: "
                f"ssh-keyscan -p {addr.port} {addr.host} >> {known_hosts} (or set --known-hosts).",
            )
        try:
            return await asyncio.wait_for(
                asyncssh.connect(
                    addr.host,
                    addr.port,
                    username=user,
                    client_keys=[(key, cert)],
                    known_hosts=str(known_hosts),
                    agent_path=None,
                    config=[],
                    preferred_auth="publickey",
                    encryption_algs=_CIPHERS,
                    keepalive_interval=30,
                    keepalive_count_max=3,
                    login_timeout=self.settings.connect_timeout,
                ),
                timeout=self.settings.connect_timeout,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise HpcError(
                "E_HOSTKEY",
                f"The host key of {where} is unknown or has CHANGED compared with {known_hosts}; refusing to connect.",
                f"Verify the fingerprint with SJTU HPC (hpc@sjtu.edu.cn) before trusting it; if it is right, "
                f"replace the entry: ssh-keygen -R '{entry}' -f {known_hosts}; "
                f"ssh-keyscan -p {addr.port} {addr.host} >> {known_hosts}.",
            ) from None
        except asyncssh.PermissionDenied:
            raise HpcError(
                "E_AUTH",
                f"{where} refused the certificate for user {user}.",
                "Call request_certificate for a new certificate (it may be revoked or name another user).",
            ) from None
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            hint = " The ARM platform is reachable only from the campus network." if node.startswith("armlogin") else ""
            raise HpcError(
                "E_CONNECT",
                f"Cannot reach {where}: {type(exc).__name__}.{hint}",
                "Check the network (VPN for off-campus access) and try again.",
            ) from None

    async def _acquire(self, node: str) -> _Conn:
        n = self._node(node)
        async with n.lock:
            stamp = self._stamp()
            cur = n.current
            if cur is not None and (cur.stamp != stamp or cur.conn.is_closed()):
                self._retire(n)
                cur = None
            if cur is None:
                conn = await self._connect(node)
                cur = n.current = _Conn(conn, stamp, hostname=await _hostname(conn))
                log.info("connected to %s (%s)", node, cur.hostname)
                if node != (self.store.read_text(LAST_NODE) or "").strip():
                    self.store.write(LAST_NODE, node + "\n", secret=False)
            cur.users += 1
            return cur

    def _retire(self, n: _Node) -> None:
        cur = n.current
        n.current = None
        if cur is not None:
            cur.retired = True
            if cur.users == 0:
                cur.conn.close()

    async def _drop(self, node: str, c: _Conn) -> None:
        n = self._node(node)
        async with n.lock:
            if n.current is c:
                self._retire(n)

    # -- commands --------------------------------------------------------------------

    async def run(
        self,
        node: str,
        argv: Sequence[str],
        *,
        idempotent: bool,
        limit_s: float | None = None,
        stdin: str | None = None,
    ) -> RunResult:
        """Run an argv (joined with shlex.join, never a raw string) on an entry node."""
        command = shlex.join(argv)
        n = self._node(node)
        attempts = 2 if idempotent else 1
        async with n.sem:
            for attempt in range(attempts):
                c = await self._acquire(node)
                try:
                    process = await _open_process(c.conn, command, stdin)
                    proc = await process.wait(check=False, timeout=limit_s or self.settings.command_timeout)
                except asyncssh.TimeoutError:
                    raise HpcError(
                        "E_TIMEOUT",
                        f"{argv[0]} on {node} did not finish within {limit_s or self.settings.command_timeout:.0f} s.",
                        "Try again later, or narrow the request.",
                    ) from None
                except _lost(asyncssh.ChannelOpenError) as exc:
                    await self._drop(node, c)
                    if attempt + 1 < attempts:
                        log.info("connection to %s lost (%s); reconnecting once", node, type(exc).__name__)
                        continue
                    raise ConnectionLost(
                        f"The connection to {node} was lost while running {argv[0]}.",
                        "Check whether it took effect before repeating it."
                        if not idempotent
                        else "Try again in a moment.",
                    ) from None
                finally:
                    c.release()
                return RunResult(
                    node=node,
                    argv=tuple(argv),
                    exit_status=proc.exit_status if proc.exit_status is not None else -1,
                    stdout=_text(proc.stdout),
                    stderr=_text(proc.stderr),
                    hostname=c.hostname,
                )
        raise AssertionError("unreachable")

    async def slurm_version(self, node: str) -> SlurmVersion | None:
        """The node's Slurm release (`sinfo --version`), asked once per connection and kept with it.

        A new connection (a node restarted or upgraded behind the same name) asks again. None when the
        node has no Slurm or does not say (e.g. no configuration there); a failed ask is not kept.
        """
        n = self._node(node)
        async with n.sem:
            c = await self._acquire(node)
            try:
                if c.slurm is None:
                    proc = await c.conn.run(shlex.join(SLURM_VERSION_ARGV), check=False, timeout=10)
                    c.slurm = (parse_slurm_version(_text(proc.stdout)),)
                return c.slurm[0]
            except _lost(asyncssh.ChannelOpenError):
                await self._drop(node, c)
                return None
            except (asyncssh.Error, OSError, TimeoutError):
                return None
            finally:
                c.release()

    def slurm_versions_known(self) -> dict[str, str]:
        """The releases already asked on the open connections ({node: "24.11.5"}), without any I/O."""
        return {
            node: str(n.current.slurm[0])
            for node, n in self._nodes.items()
            if n.current is not None and n.current.slurm is not None and n.current.slurm[0] is not None
        }

    async def put_file(self, node: str, path: str, data: str, mode: int = 0o600) -> str:
        """Write a file on the node over SFTP (parents created), e.g. a job script.

        A relative path is relative to the login home; the absolute path is returned.
        """
        return (await self.put_files(node, {path: data}, mode))[0]

    async def put_files(
        self, node: str, files: Mapping[str, str | bytes], mode: int = 0o600, resolve: bool = True
    ) -> list[str]:
        """Write several files on the node in one SFTP session (parents created), each with `mode`.

        Returns their absolute paths (relative ones are relative to the login home) when `resolve`.
        """
        written: list[str] = []
        made: set[str] = set()
        async with self.sftp(node, what="writing files") as sftp:
            try:
                for path, data in files.items():
                    parent = path.rsplit("/", 1)[0] or "/"
                    if parent not in made:
                        await sftp.makedirs(parent, exist_ok=True)
                        made.add(parent)
                    raw = data if isinstance(data, bytes) else data.encode()
                    async with sftp.open(path, "wb", asyncssh.SFTPAttrs(permissions=mode)) as fh:
                        await fh.write(raw)
                    await sftp.chmod(path, mode)
                    written.append(str(await sftp.realpath(path)) if resolve else path)
            except asyncssh.SFTPError as exc:
                raise HpcError(
                    "E_UPLOAD", f"Cannot write {path} on {node}: {exc.reason}.", "Check the folder and your quota."
                ) from None
        return written

    @asynccontextmanager
    async def sftp(self, node: str, what: str = "transferring files") -> AsyncIterator[asyncssh.SFTPClient]:
        """An SFTP session on the node's pooled connection; it holds one channel while open."""
        n = self._node(node)
        async with n.sem:
            c = await self._acquire(node)
            try:
                async with c.conn.start_sftp_client() as sftp:
                    yield sftp
            except _lost():
                await self._drop(node, c)
                raise ConnectionLost(
                    f"The connection to {node} was lost while {what}.", "Try again; it resumes."
                ) from None
            except asyncssh.ChannelOpenError:
                raise ConnectionLost(f"{node} refused an SFTP session.", "Try again in a moment.") from None
            finally:
                c.release()

    async def prewarm(self, default_node: str) -> None:
        """Open the connection to the last-used entry node ahead of the first call, if credentials allow."""
        node = (self.store.read_text(LAST_NODE) or "").strip() or default_node
        if node not in self.settings.known_nodes:
            node = default_node
        try:
            self._credentials()
            await asyncio.to_thread(sshlib.load)  # off the event loop, which is answering the client meanwhile
            c = await self._acquire(node)
            c.release()
        except (HpcError, OSError) as exc:
            log.debug("no early connection to %s: %s", node, exc)

    async def aclose(self) -> None:
        for n in self._nodes.values():
            self._retire(n)


# sshd frees a session slot a moment after the client sees the channel close, so a full
# MaxSessions may refuse an open briefly. Nothing ran: retrying on the same connection is safe.
_OPEN_BACKOFF_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


async def _open_process(
    conn: asyncssh.SSHClientConnection, command: str, stdin: str | None
) -> asyncssh.SSHClientProcess[str]:
    for delay in (*_OPEN_BACKOFF_S, None):
        try:
            return await conn.create_process(command, input=stdin)
        except asyncssh.ChannelOpenError:
            if delay is None or conn.is_closed():
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def _hostname(conn: asyncssh.SSHClientConnection) -> str:
    try:
        proc = await conn.run("hostname", check=False, timeout=10)
    except (asyncssh.Error, OSError, TimeoutError):
        return ""
    return _text(proc.stdout).strip()


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
