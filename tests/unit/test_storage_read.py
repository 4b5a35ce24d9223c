"""manage_storage read and stat as use cases (ops/files.py) over a stand-in for the nodes: which node, which
argv, what is refused before anything runs, and what the result says (issue 17, item 1)."""

from __future__ import annotations

import base64
from typing import get_args

import pytest

from sjtu_hpc_mcp.core import files
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.core.policy import changing_act, reads_and_acts
from sjtu_hpc_mcp.core.results import model_view
from sjtu_hpc_mcp.ops.files import Files, ReadAsk
from sjtu_hpc_mcp.ops.storage import Storage
from sjtu_hpc_mcp.tools.data import StorageAction

pytestmark = pytest.mark.anyio
HOME = "/lustre/home/acct-hpc/hpcrobot"
REL = "home/acct-hpc/hpcrobot"
PI, SY, DATA = "pilogin.hpc.sjtu.edu.cn", "sylogin.hpc.sjtu.edu.cn", "data.hpc.sjtu.edu.cn"


class FakeNodes:
    """What DataNodes offers ops/files.py: the login home, and one argv's output (a file of `body`)."""

    def __init__(self, body: bytes = b"one\ntwo\n") -> None:
        self.body = body
        self.ran: list[tuple[str, list[str], float | None]] = []

    async def home(self, node: str) -> str:
        return HOME

    async def output(self, node: str, argv: list[str], what: str, limit_s: float | None = None) -> str:
        self.ran.append((node, argv, limit_s))
        path, mode = argv[4], argv[5]
        head = f"@path {path}\n@stat {len(self.body)} 1700000000 81a4 644 hpcrobot acct-hpc\n@nul 0\n"
        if mode == "stat":
            return head
        return head + f"@start 0\n@data\n{base64.b64encode(self.body).decode()}\n@end\n"


def ops(nodes: FakeNodes) -> Files:
    return Files(load_platform(), nodes)  # type: ignore[arg-type]


def test_read_and_stat_are_reads_everywhere_the_policy_looks() -> None:
    actions = get_args(StorageAction)
    assert {"read", "stat"} <= set(actions)
    reads, acts = reads_and_acts("manage_storage", actions)
    assert {"read", "stat"} <= set(reads) and acts == ["mkdir", "remove"]
    for action in ("read", "stat"):
        assert changing_act("manage_storage", {"action": action}) is None  # --read-only lets them through


@pytest.mark.parametrize(
    ("path", "node", "resolved"),
    [
        ("lustre:run1/log.txt", PI, f"/lustre/{REL}/run1/log.txt"),
        ("dssg:run1/log.txt", SY, f"/dssg/{REL}/run1/log.txt"),
        ("archive:old/log.txt", DATA, f"/archive/{REL}/old/log.txt"),
        ("cold:old/log.txt", DATA, f"/union/{REL}/old/log.txt"),
        (f"/vault/{REL}/x", DATA, f"/vault/{REL}/x"),
    ],
)
async def test_hot_on_the_groups_login_node_cold_on_a_data_node(path: str, node: str, resolved: str) -> None:
    nodes = FakeNodes()
    r = await ops(nodes).run("read", path, ReadAsk())
    assert r.node == node and r.read is not None and r.read.path == resolved
    [(ran_on, argv, limit)] = nodes.ran
    assert ran_on == node and argv[:2] == ["sh", "-c"] and argv[4] == resolved and limit == files.READ_S
    assert f"/lustre/{REL}" in argv and f"/archive/{REL}" in argv  # the person's own folders, for the node's check
    s = await ops(nodes).run("stat", path, ReadAsk())
    assert s.node == node and s.stat is not None and s.stat.size == 8 and s.action == "stat"


async def test_what_is_refused_before_anything_runs() -> None:
    nodes = FakeNodes()
    for path, ask, code in (
        ("lustre:x", ReadAsk(mode="match"), "E_ARG"),
        ("lustre:x", ReadAsk(mode="tail", pattern="x"), "E_ARG"),
        ("lustre:x", ReadAsk(max_bytes=files.MAX_BYTES + 1), "E_ARG"),
        ("lustre:x", ReadAsk(offset=-1), "E_ARG"),
        ("lustre:x", ReadAsk(lines=0), "E_ARG"),
        ("lustre:x", ReadAsk(mode="match", pattern="a\nb"), "E_ARG"),
        ("local:/etc/passwd", ReadAsk(), "E_ARG"),
        ("/etc/passwd", ReadAsk(), "E_PATH"),
        ("/lustre/home/acct-other/otheruser/x", ReadAsk(), "E_NOT_YOURS"),
        ("lustre:../../acct-other/otheruser/x", ReadAsk(), "E_NOT_YOURS"),
    ):
        with pytest.raises(HpcError) as e:
            await ops(nodes).run("read", path, ask)
        assert e.value.code == code, (path, ask, e.value)
    with pytest.raises(HpcError) as e:
        await ops(nodes).run("stat", "lustre:x", ReadAsk(pattern="x"))
    assert e.value.code == "E_ARG" and "only read" in e.value.message
    assert nodes.ran == []


async def test_other_actions_refuse_the_read_fields() -> None:
    storage = Storage(load_platform(), FakeNodes(), api=None)  # type: ignore[arg-type]
    for ask in (ReadAsk(pattern="x"), ReadAsk(offset=3), ReadAsk(ignore_case=True)):
        for action in ("list", "free", "remove"):
            with pytest.raises(HpcError) as e:
                await storage.run(action, "lustre:x", 100, confirm=False, declined=False, read=ask)
            assert e.value.code == "E_ARG" and "only read" in e.value.message


async def test_limit_is_the_number_of_lines_and_the_summary_says_how_to_go_on() -> None:
    body = b"".join(b"line %d\n" % i for i in range(1, 51))
    storage = Storage(load_platform(), FakeNodes(body), api=None)  # type: ignore[arg-type]
    r = await storage.run("read", "lustre:log.txt", 5, confirm=False, declined=False)
    assert r.read is not None and [row[0] for row in r.read.lines.rows] == [46, 47, 48, 49, 50]
    assert r.read.next_offset is not None and r.summary.startswith(f"Lines 46-50 of /lustre/{REL}/log.txt (")
    assert r.summary.endswith(f"earlier: call again with offset={r.read.next_offset}.")
    head = await ops(FakeNodes(body)).read("lustre:log.txt", ReadAsk("head", lines=2))
    assert "Lines 1-2 of" in head.summary and "more: call again with offset=14." in head.summary


async def test_a_match_summary_names_the_text_and_a_miss_says_so() -> None:
    hits = await ops(FakeNodes(b"1:0:NaN at step 3\n")).read("lustre:log", ReadAsk("match", pattern="NaN"))
    assert hits.summary.startswith(f"1 lines holding 'NaN' in /lustre/{REL}/log (")
    nodes = FakeNodes(b"")
    miss = await ops(nodes).read("lustre:log", ReadAsk("match", pattern="-rf"))
    assert miss.summary.startswith("No lines holding '-rf' in") and miss.read is not None
    assert miss.read.lines.total == 0
    [(_, argv, _)] = nodes.ran
    assert argv[9] == "-rf"  # a positional argument of the script, after grep's -e: data, never a flag


async def test_the_lean_view_of_a_read_keeps_what_the_model_needs() -> None:
    got = await ops(FakeNodes(b"a\n")).read("lustre:x", ReadAsk("head"))
    view = model_view(got.model_dump())
    assert view["read"]["lines"] == {"columns": ["line", "text"], "rows": [[1, "a"]], "total": 1}
    assert view["read"]["truncated"] is False and "next_offset" not in view["read"] and "stat" not in view
