"""manage_storage read and stat: a person's file, on a node that sees its pool (the group's login node for
hot storage, a data node for cold). core.files checks the request, builds the one argv and reads its output;
shell/data.py runs it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core import files
from ..core import transfer as t
from ..core.account import human_bytes
from ..core.data_results import StorageResult
from ..core.errors import HpcError
from ..core.platform import Platform
from ..core.policy import Route, home_rel
from ..shell.data import DataNodes

READ_ACTIONS = ("read", "stat")


@dataclass(frozen=True)
class ReadAsk:
    """A manage_storage call's read fields as received; core.files checks them before anything runs."""

    mode: str = "tail"
    lines: int = files.DEFAULT_LINES
    max_bytes: int = files.DEFAULT_BYTES
    offset: int | None = None
    pattern: str | None = None
    ignore_case: bool = False

    def request(self) -> files.ReadRequest:
        return files.read_request(
            "",
            self.mode,
            lines=self.lines,
            max_bytes=self.max_bytes,
            offset=self.offset,
            pattern=self.pattern,
            ignore_case=self.ignore_case,
        )

    def check_unused(self, action: str) -> None:
        """pattern, offset and ignore_case belong to read: elsewhere they are refused, not ignored."""
        given = [name for name, v in (("pattern", self.pattern), ("offset", self.offset)) if v is not None]
        given += ["ignore_case"] if self.ignore_case else []
        if given:
            raise HpcError(
                "E_ARG", f"{action} does not take {', '.join(given)}; only read does.", "Leave them out, or use read."
            )


class Files:
    """Reading the head, the tail or the matching lines of a person's file, and its stat."""

    def __init__(self, platform: Platform, data: DataNodes) -> None:
        self.platform = platform
        self.data = data

    async def run(self, action: str, path: str, ask: ReadAsk) -> StorageResult:
        if action == "stat":
            ask.check_unused("stat")
            return await self.stat(path)
        return await self.read(path, ask)

    async def _locate(self, path: str) -> tuple[Route, str, str]:
        """The node that sees the path's pool, the person's part of the home, the path as given (confined)."""
        p = self.platform
        spec = t.parse_location(path)
        if spec.kind == "local":
            raise HpcError(
                "E_ARG", "read and stat act on the platform's storage only.", "Give a pool path, e.g. lustre:run1/log."
            )
        route = files.read_route(p, t.pool_of(p, spec, "source"))
        rel = home_rel(await self.data.home(route.node))
        return route, rel, t.resolve_storage_path(p, spec, rel)

    async def read(self, path: str, ask: ReadAsk) -> StorageResult:
        req = ask.request()  # every value checked before the node is asked
        route, rel, given = await self._locate(path)
        req = replace(req, path=given)
        argv = files.read_argv(req, files.personal_roots(self.platform, rel))
        out = await self.data.output(route.node, argv, f"reading {given}", limit_s=files.READ_S)
        got = files.parse_read(out, req, self.platform, rel, route.node)
        return StorageResult(action="read", node=route.node, read=got, summary=read_summary(got, req))

    async def stat(self, path: str) -> StorageResult:
        route, rel, given = await self._locate(path)
        argv = files.stat_argv(given, files.personal_roots(self.platform, rel))
        out = await self.data.output(route.node, argv, f"stat of {given}", limit_s=files.READ_S)
        st = files.parse_stat(out, self.platform, rel, given, route.node)
        what = {"file": "binary file" if st.binary else "file", "dir": "folder"}.get(st.kind, st.kind)
        summary = f"{st.path}: {what}, {human_bytes(st.size)}, modified {st.modified}"
        return StorageResult(action="stat", node=route.node, stat=st, summary=summary)


def read_summary(got: files.FileRead, req: files.ReadRequest) -> str:
    """One line: which lines of which file, and how to go on."""
    rows = got.lines.rows
    size = f"{got.path} ({human_bytes(got.size)}, modified {got.modified})"
    first, last = (rows[0][0], rows[-1][0]) if rows else (None, None)
    span = f"lines {first}-{last}" if first is not None and last is not None else f"{len(rows)} lines"
    if req.mode == "match":
        said = f"{len(rows) or 'No'} lines holding {req.pattern!r} in {size}"
    elif not rows:
        said = f"Nothing to show of {size} from byte {req.offset or 0}"
    else:
        said = f"{span[0].upper()}{span[1:]} of {size}"
    if got.next_offset is not None:
        said += f"; {'earlier' if req.mode == 'tail' else 'more'}: call again with offset={got.next_offset}"
    return said + "."
