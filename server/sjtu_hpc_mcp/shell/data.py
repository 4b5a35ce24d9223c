"""Transfers and storage acts on a data node: each remote step is one argv over the pooled connection.

The rules and the parsing live in core.transfer and core.policy (applied by ops/); this module only runs things.
State that must outlive the server lives on the node, in the transfer's folder under the login home.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core import storage as st
from ..core import transfer as t
from ..core.errors import HpcError, UnknownTransfer
from .ssh import RunResult, SshPool

PROBE_S = 30.0


class DataNodes:
    def __init__(self, ssh: SshPool, bwlimit_kib: int = 0) -> None:
        self.ssh = ssh
        self.bwlimit_kib = bwlimit_kib
        self._homes: dict[str, str] = {}

    async def _sh(
        self, node: str, script: str, *args: str, idempotent: bool = True, limit_s: float | None = None
    ) -> str:
        r = await self.ssh.run(node, t.sh_argv(script, *args), idempotent=idempotent, limit_s=limit_s)
        if not r.ok:
            raise failed(r, "the data node's helper")
        return r.stdout

    async def probe(self, node: str, pools: Sequence[str]) -> tuple[str, dict[str, int]]:
        """The login home and the free bytes of each pool, as the node sees them now."""
        home, free = t.parse_probe(await self._sh(node, t.PROBE_SH, *pools, limit_s=PROBE_S))
        self._homes[node] = home
        return home, free

    async def home(self, node: str) -> str:
        if node not in self._homes:
            await self.probe(node, [])
        return self._homes[node]

    async def folder(self, node: str, transfer: str) -> str:
        return f"{await self.home(node)}/{t.STATE_DIR}/{transfer}"

    async def existing(self, node: str, paths: Sequence[str]) -> list[str]:
        """Which of the paths exist on the node."""
        return (await self._sh(node, t.EXISTING_SH, *paths)).splitlines()

    async def inspect(self, node: str, source: str, destination: str) -> t.Inspected:
        return t.parse_inspect(await self._sh(node, t.INSPECT_SH, source, destination), source)

    async def entries(self, node: str, source: str) -> list[t.Entry]:
        r = await self.ssh.run(node, t.find_argv(source), idempotent=True)
        if not r.ok:
            raise failed(r, "listing the source")
        return t.parse_find(r.stdout)

    async def itemize(self, node: str, argv: list[str]) -> list[t.Itemized]:
        r = await self.ssh.run(node, argv, idempotent=True)
        if r.exit_status not in (0, 23, 24):  # partly unreadable trees still itemize the rest
            raise failed(r, "comparing source and destination")
        return t.parse_itemized(r.stdout)

    async def launch(self, meta: t.Meta, lists: Sequence[Sequence[str]]) -> str:
        """Write the state folder (meta, file lists, driver) and start the driver in a named tmux session."""
        folder = await self.folder(meta.node, meta.id)
        argvs, lists_files = t.stream_argvs(meta, folder, lists, self.bwlimit_kib)
        files: dict[str, str | bytes] = dict(lists_files)
        files[f"{folder}/meta.json"] = t.meta_json(meta)
        files[f"{folder}/run.sh"] = t.driver_script(meta, folder, argvs)
        await self.ssh.put_files(meta.node, files, mode=0o600, resolve=False)
        out = await self._sh(meta.node, t.START_SH, folder, t.session_name(meta.id), idempotent=False)
        return out.strip()

    async def status(self, node: str, transfer: str, ticks: int = 0) -> t.TransferStatus:
        """The transfer's state; with ticks, first wait on the node up to ticks × 0.1 s for its end."""
        folder = await self.folder(node, transfer)
        out = await self._sh(node, t.STATUS_SH, folder, t.session_name(transfer), str(ticks), limit_s=ticks / 10 + 30)
        if out.strip() == "unknown":
            raise UnknownTransfer(f"{node} has no transfer {transfer}.", "transfer_data list shows the known ones.")
        try:
            return t.read_status(t.sections(out))
        except (ValueError, IndexError):
            raise HpcError(
                "E_TRANSFER_STATE",
                f"The state of transfer {transfer} on {node} is unreadable (written by another version?).",
                "Start the transfer again; it resumes.",
            ) from None

    async def status_if_known(self, node: str, transfer: str) -> t.TransferStatus | None:
        try:
            return await self.status(node, transfer)
        except UnknownTransfer:
            return None

    async def cancel(self, node: str, transfer: str) -> tuple[str, int]:
        out = await self._sh(
            node, t.CANCEL_SH, await self.folder(node, transfer), t.session_name(transfer), idempotent=False
        )
        word, _, left = out.strip().partition(" ")
        if word == "unknown":
            raise UnknownTransfer(f"{node} has no transfer {transfer}.", "transfer_data list shows the known ones.")
        return word, int(left or 0)

    async def transfers(self, node: str, limit: int) -> list[t.TransferStatus]:
        home = await self.home(node)
        out = await self._sh(node, t.LIST_SH, f"{home}/{t.STATE_DIR}", str(limit))
        return t.read_list(t.sections(out), node, limit)

    # -- storage acts --------------------------------------------------------------------------

    async def list_dir(self, node: str, path: str, limit: int) -> tuple[list[st.DirEntry], int]:
        out = await self._sh(node, st.LIST_SH, path, str(limit))
        if out.strip() == "missing":
            raise _missing(path)
        return st.parse_list(out)

    async def usage(self, node: str, path: str) -> st.Usage:
        out = await self._sh(node, st.USAGE_SH, path, str(st.USAGE_S), limit_s=st.USAGE_S + 10)
        return st.parse_usage(out, path)

    async def scan(self, node: str, path: str) -> st.RemovalPreview:
        out = await self._sh(node, st.SCAN_SH, path, str(st.REMOVE_SCAN_S), limit_s=st.REMOVE_SCAN_S + 10)
        if out.strip() == "missing":
            raise _missing(path)
        return st.parse_scan(out, path, t.parse_find(out.rpartition("\0@rc\n")[0]))

    async def output(self, node: str, argv: list[str], what: str, limit_s: float | None = None) -> str:
        """A read-only argv on any entry node (login or data): its stdout, or E_REMOTE if it exited non-zero."""
        r = await self.ssh.run(node, argv, idempotent=True, limit_s=limit_s)
        if not r.ok:
            raise failed(r, what)
        return r.stdout

    async def realpath(self, node: str, path: str) -> str:
        r = await self.ssh.run(node, ["realpath", "-m", "--", path], idempotent=True)
        if not r.ok or not r.stdout.strip():
            raise failed(r, f"resolving {path}")
        return r.stdout.rstrip("\n")

    async def mkdir(self, node: str, path: str) -> None:
        r = await self.ssh.run(node, ["mkdir", "-p", "--", path], idempotent=True)
        if not r.ok:
            raise failed(r, f"mkdir {path}")

    async def remove(self, node: str, path: str) -> None:
        r = await self.ssh.run(node, ["rm", "-rf", "--", path], idempotent=True, limit_s=600)
        if not r.ok:
            raise failed(r, f"removing {path}")


def _missing(path: str) -> HpcError:
    return HpcError("E_NOT_FOUND", f"{path} does not exist.", "Check the path with manage_storage list on its parent.")


def failed(r: RunResult, what: str) -> HpcError:
    lines = [ln for ln in (r.stderr or r.stdout).strip().splitlines() if ln][-3:]
    reason = "; ".join(lines)[:400] or f"exit status {r.exit_status}"
    return HpcError("E_REMOTE", f"{what} on {r.node} failed: {reason}", "Check the paths and try again.")
