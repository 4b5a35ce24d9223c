"""The data rules of docs/platform.md#rules and the consent rules, one named row each.

A row is an act (a call into the pure policy) and what must come of it: a value, a member of a set,
or a refusal with its code and the words the message must carry. A failing row names its rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import product
from typing import Any

import pytest

from sjtu_hpc_mcp.core import transfer as t
from sjtu_hpc_mcp.core.consent import ACTS, transfer_gate
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.core.policy import (
    MAX_STREAMS,
    check_space,
    check_streams,
    check_transfer_ends,
    check_writable,
    cold_target,
    confine,
    confine_local,
    data_route,
    default_streams,
    home_rel,
    personal_root,
    refuse_cold_reads,
    refuse_job_paths_elsewhere,
    resolve_personal,
)

P = load_platform()

DATA = "data.hpc.sjtu.edu.cn"
SYDATA = "sydata.hpc.sjtu.edu.cn"
LOGINS = ("pilogin.hpc.sjtu.edu.cn", "sylogin.hpc.sjtu.edu.cn", "armlogin.hpc.sjtu.edu.cn")
DATA_NODES = (DATA, SYDATA)
POOLS = ("/lustre", "/dssg", "/archive", "/vault", "/union")
COLD = ("/archive", "/vault", "/union")
REL = "home/acct-hpc/hpcrobot"
HOME = "/lustre/home/acct-hpc/hpcrobot"
GiB = 2**30


@dataclass(frozen=True)
class Refused:
    """The act must raise HpcError with this code, and the message or fix must hold every word in `says`."""

    code: str | frozenset[str]
    says: tuple[str, ...] = ()


def refused(code: str | frozenset[str], *says: str) -> Refused:
    return Refused(code, says)


# Outside every pool is outside the person's own folders too.
OUTSIDE = "E_NOT_YOURS"


@dataclass(frozen=True)
class OneOf:
    values: frozenset[Any]


@dataclass(frozen=True)
class Holds:
    """A property of the result, with a description for the failure message."""

    check: Callable[[Any], bool]
    what: str


def route(*paths: str) -> str:
    return data_route(P, *paths).node


def route_group(*paths: str) -> str:
    return data_route(P, *paths).group


def root_of(node: str, pool: str) -> str:
    return check_writable(P, node, pool + "/" + REL + "/x").root


def why_of_cold(free: dict[str, int]) -> str:
    return cold_target(P, free)[1]


def source_in_cold(relative: str) -> str:
    return t.resolve_source(P, t.Spec("pool", relative, "cold"), REL)


def bare_pool_destination(pool: str, source: str) -> str:
    return t.resolve_destination(P, t.Spec("pool", None, pool), source, REL, None)


def storage_root_of(text: str) -> str:
    return t.resolve_storage_path(P, t.parse_location(text), REL)


def max_default_streams() -> int:
    files = [0, 1, 2, 63, 64, 100, 499, 500, 1000, 4999, 5000, 10**4, 10**5, 10**6, 10**8]
    sizes = [0, 1, GiB - 1, GiB, 10 * GiB, 2**40, 2**50]
    return max(default_streams(f, b) for f, b in product(files, sizes))


def min_default_streams() -> int:
    files = [0, 1, 64, 10**6]
    sizes = [0, GiB, 2**50]
    return min(default_streams(f, b) for f, b in product(files, sizes))


ROWS = [
    # -- §3: the data entry node follows from the storage involved ---------------------------------
    pytest.param(partial(route, HOME + "/x"), DATA, id="§3 data node for /lustre is data"),
    pytest.param(partial(route, "/dssg/home/acct-hpc/hpcrobot/x"), SYDATA, id="§3 data node for /dssg is sydata"),
    pytest.param(partial(route_group, "/dssg/home/acct-hpc/hpcrobot/x"), "sy", id="§3 /dssg route is node group sy"),
    pytest.param(partial(route, "/archive/home/a/u"), DATA, id="§3 cold-only (/archive) goes to a data node"),
    pytest.param(partial(route, "/vault/home/a/u"), OneOf(frozenset(DATA_NODES)), id="§3 cold-only (/vault) data"),
    pytest.param(partial(route, "/union/home/a/u"), OneOf(frozenset(DATA_NODES)), id="§3 cold-only (/union) data"),
    pytest.param(partial(route, "/archive", "/vault"), OneOf(frozenset(DATA_NODES)), id="§3 cold to cold on data"),
    pytest.param(partial(route, HOME, "/archive"), DATA, id="§3 /lustre to cold runs on data"),
    pytest.param(partial(route, "/dssg/x", "/archive/x"), SYDATA, id="§3 /dssg to cold runs on sydata"),
    pytest.param(partial(route, "/union/x", "/dssg/x"), SYDATA, id="§3 cold (/union) to /dssg runs on sydata"),
    pytest.param(partial(route, HOME, "/dssg/x"), DATA, id="§4 /lustre to /dssg: data reaches both"),
    pytest.param(partial(route, "/dssg/x", HOME), DATA, id="§4 /dssg to /lustre: only data reaches both"),
    pytest.param(partial(route, "/tmp/x"), refused("E_PATH", "/tmp/x"), id="§4 a path on no pool has no node"),
    pytest.param(partial(route, "/lustre/../etc"), refused("E_PATH", "/etc"), id="§4 .. out of a pool has no node"),
    *[
        pytest.param(partial(route, a, b), OneOf(frozenset(DATA_NODES)), id=f"§3 {a}+{b} never on a login node")
        for a, b in product(POOLS, POOLS)
    ],
    # -- §4: cold storage is written only on data and sydata ---------------------------------------
    *[
        pytest.param(
            partial(check_writable, P, node, pool + "/" + REL + "/x"),
            refused("E_READ_ONLY", pool, node, DATA, SYDATA),
            id=f"§4 {pool} is read-only on {node.split('.')[0]}",
        )
        for node, pool in product(LOGINS, COLD)
    ],
    *[
        pytest.param(partial(root_of, node, pool), pool, id=f"§4 {pool} is writable on {node.split('.')[0]}")
        for node, pool in product(DATA_NODES, COLD)
    ],
    pytest.param(
        partial(check_writable, P, LOGINS[0], "/lustre/home/../../archive/home/acct-hpc/hpcrobot/x"),
        refused("E_READ_ONLY", "/archive"),
        id="§4 /lustre/../archive is still cold on a login node",
    ),
    pytest.param(partial(root_of, LOGINS[0], "/lustre"), "/lustre", id="§4 /lustre writable on pilogin"),
    pytest.param(partial(root_of, LOGINS[2], "/lustre"), "/lustre", id="§4 /lustre writable on armlogin"),
    pytest.param(partial(root_of, DATA, "/lustre"), "/lustre", id="§4 /lustre writable on data"),
    pytest.param(partial(root_of, LOGINS[1], "/dssg"), "/dssg", id="§4 /dssg writable on sylogin"),
    pytest.param(partial(root_of, SYDATA, "/dssg"), "/dssg", id="§4 /dssg writable on sydata"),
    pytest.param(partial(root_of, DATA, "/dssg"), "/dssg", id="§4 /dssg writable on data too"),
    pytest.param(partial(root_of, LOGINS[1], "/lustre"), refused("E_READ_ONLY"), id="§4 /lustre not on sylogin"),
    pytest.param(partial(root_of, SYDATA, "/lustre"), refused("E_READ_ONLY"), id="§4 /lustre not on sydata"),
    pytest.param(partial(root_of, LOGINS[0], "/dssg"), refused("E_READ_ONLY"), id="§4 /dssg not on pilogin"),
    pytest.param(partial(root_of, LOGINS[2], "/dssg"), refused("E_READ_ONLY"), id="§4 /dssg not on armlogin"),
    # -- §4: writing cold goes to the pool with the most free space --------------------------------
    pytest.param(
        partial(cold_target, P, {"/archive": 10 * GiB, "/vault": 20 * GiB}),
        Holds(lambda r: r[0] == "/vault", "/vault chosen"),
        id="§4 cold picks /vault when it has more free",
    ),
    pytest.param(
        partial(cold_target, P, {"/archive": 30 * GiB, "/vault": 20 * GiB}),
        Holds(lambda r: r[0] == "/archive", "/archive chosen"),
        id="§4 cold picks /archive when it has more free",
    ),
    pytest.param(
        partial(cold_target, P, {"/archive": 5, "/vault": 5}),
        Holds(lambda r: r[0] == "/archive", "the first pool of the table on a tie"),
        id="§4 cold tie is deterministic (/archive, first in the table)",
    ),
    pytest.param(
        partial(cold_target, P, {"/archive": 1, "/vault": 2, "/union": 10**15}),
        Holds(lambda r: r[0] == "/vault", "/union ignored"),
        id="§4 cold never picks the /union view",
    ),
    pytest.param(
        partial(cold_target, P, {"/archive": 0, "/vault": 0}),
        Holds(lambda r: r[0] in ("/archive", "/vault"), "a pool even when both are full"),
        id="§4 cold with both full still names a pool (the space check refuses later)",
    ),
    pytest.param(
        partial(why_of_cold, {"/archive": 3 * GiB, "/vault": 7 * GiB}),
        Holds(lambda w: "/vault" in w and "7.00 GiB" in w and "3.00 GiB" in w, "both figures in the reason"),
        id="§4 cold choice says why, with both figures",
    ),
    pytest.param(partial(cold_target, P, {"/archive": 5}), refused("E_DF", "/vault"), id="§4 cold, /vault unknown"),
    pytest.param(partial(cold_target, P, {"/vault": 5}), refused("E_DF", "/archive"), id="§4 cold, /archive unknown"),
    pytest.param(partial(cold_target, P, {}), refused("E_DF", "/archive", "/vault"), id="§4 cold, no figures"),
    pytest.param(
        partial(cold_target, P, {"/archive": 9 * GiB, "/vault": 1 * GiB}, ["/vault"]),
        Holds(lambda r: r[0] == "/vault" and "already holds" in r[1], "/vault, the pool of the earlier copy"),
        id="§4 cold resumes in the pool that already holds the destination",
    ),
    pytest.param(
        partial(cold_target, P, {}, ["/vault"]),
        Holds(lambda r: r[0] == "/vault", "/vault without asking df"),
        id="§4 cold resume needs no free-space figures",
    ),
    pytest.param(
        partial(cold_target, P, {"/archive": 1, "/vault": 2}, ["/union", "/lustre"]),
        Holds(lambda r: r[0] == "/vault", "the emptier pool: /union and hot pools hold nothing cold"),
        id="§4 cold ignores a 'holding' that is not a cold pool",
    ),
    pytest.param(
        partial(t.resolve_destination, P, t.Spec("pool", "x", "cold"), HOME + "/x", REL, "/vault"),
        "/vault/" + REL + "/x",
        id="§4 cold destination lands in the chosen pool",
    ),
    pytest.param(
        partial(t.resolve_destination, P, t.Spec("pool", "x", "cold"), HOME + "/x", REL, None),
        refused("E_DF"),
        id="§4 cold destination without a chosen pool is refused",
    ),
    # -- §4: cold data without a pool is read through /union ---------------------------------------
    pytest.param(partial(source_in_cold, "ds/a"), "/union/" + REL + "/ds/a", id="§4 cold:x source reads via /union"),
    pytest.param(partial(storage_root_of, "cold"), "/union/" + REL, id="§4 storage act on cold looks at /union"),
    pytest.param(partial(storage_root_of, "cold:ds"), "/union/" + REL + "/ds", id="§4 storage act on cold:x /union"),
    pytest.param(
        partial(t.resolve_source, P, t.Spec("pool", None, "cold"), REL),
        refused("E_PATH"),
        id="§4 a bare cold source names no folder",
    ),
    # -- §4: never let a job read cold storage -------------------------------------------------------
    pytest.param(
        partial(refuse_cold_reads, P, "cat /archive/" + REL + "/x"),
        refused("E_COLD_STORAGE", "transfer_data"),
        id="§4 a job reading /archive is refused",
    ),
    pytest.param(partial(refuse_cold_reads, P, "cat " + HOME + "/x"), None, id="§4 a job reading /lustre passes"),
    # -- §3: a job's output and folder stay in its group's hot storage (seen only from its nodes) -----
    *[
        pytest.param(
            partial(refuse_job_paths_elsewhere, P, group, {"output": path}),
            None,
            id=f"§3 {group} job output in {path} passes",
        )
        for group, path in (
            ("pi", HOME + "/logs/%x-%j.out"),
            ("pi", "/scratch/" + REL + "/o"),
            ("kp", HOME + "/o"),
            ("sy", "/dssg/" + REL + "/o"),
            ("pi", "/lustre"),
        )
    ],
    *[
        pytest.param(
            partial(refuse_job_paths_elsewhere, P, group, {field: path}),
            refused("E_JOB_PATH", field, group),
            id=f"§3 {group} job {field} in {path} is refused",
        )
        for group, field, path in (
            ("pi", "output", "/tmp/o"),
            ("pi", "error", "/dssg/" + REL + "/e"),
            ("sy", "workdir", HOME),
            ("kp", "output", "/scratch/" + REL + "/o"),
            ("pi", "output", "/lustre/../tmp/o"),
            ("pi", "output", "/lustrefs/o"),
            ("pi", "workdir", "/"),
        )
    ],
    pytest.param(
        partial(refuse_job_paths_elsewhere, P, "pi", {"output": None, "error": "rel/x"}),
        None,
        id="§3 no path, or a relative one (refused by its own check), passes this rule",
    ),
    # -- §4: personal folders (the same personal path in every pool) -------------------------------
    pytest.param(partial(home_rel, HOME), REL, id="§4 personal part of a /lustre home"),
    pytest.param(partial(home_rel, "/dssg/home/acct-hpc/hpcrobot"), REL, id="§4 personal part of a /dssg home"),
    pytest.param(partial(home_rel, HOME + "/"), REL, id="§4 personal part ignores a trailing slash"),
    pytest.param(partial(home_rel, "/home/hpcrobot"), refused("E_HOME"), id="§4 a home of another shape is refused"),
    pytest.param(partial(home_rel, "/lustre/opt/acct-hpc/u"), refused("E_HOME"), id="§4 a home not under home/"),
    *[
        pytest.param(partial(personal_root, P, pool, REL), pool + "/" + REL, id=f"§4 personal root in {pool}")
        for pool in POOLS
    ],
    *[
        pytest.param(
            partial(confine, P, pool + "/" + REL + "/a b/c", REL),
            pool + "/" + REL + "/a b/c",
            id=f"§4 own folder in {pool} is allowed",
        )
        for pool in POOLS
    ],
    *[
        pytest.param(
            partial(bare_pool_destination, pool, HOME + "/results/run 1"),
            pool + "/" + REL + "/results/run 1",
            id=f"§4 bare pool {pool} is the source's own path there",
        )
        for pool in POOLS
    ],
    pytest.param(
        partial(bare_pool_destination, "/archive", "/dssg/" + REL + "/r"),
        "/archive/" + REL + "/r",
        id="§4 bare pool from /dssg keeps the personal path",
    ),
    pytest.param(
        partial(confine, P, HOME + "/../hpcrobot2/x", REL),
        refused("E_NOT_YOURS", "/lustre/home/acct-hpc/hpcrobot2/x"),
        id="§4 .. into a sibling's folder is refused",
    ),
    pytest.param(
        partial(confine, P, HOME + "/a/../../../../etc/passwd", REL),
        refused(OUTSIDE, "/etc/passwd"),
        id="§4 .. out of every pool is refused",
    ),
    pytest.param(
        partial(confine, P, HOME + "/a/../..", REL),
        refused("E_NOT_YOURS"),
        id="§4 .. up to the account folder is refused",
    ),
    pytest.param(
        partial(confine, P, "/lustre/home/acct-other/otheruser/x", REL),
        refused("E_NOT_YOURS", HOME),
        id="§4 another user's folder is refused",
    ),
    pytest.param(
        partial(confine, P, "/archive/home/acct-other/otheruser/x", REL),
        refused("E_NOT_YOURS"),
        id="§4 another user's cold folder is refused",
    ),
    pytest.param(
        partial(confine, P, "/lustre/home/acct-hpc/hpcrobot2", REL),
        refused("E_NOT_YOURS"),
        id="§4 sibling user with a common prefix is refused",
    ),
    pytest.param(
        partial(confine, P, "/lustre/home/acct-hpc/hpcrobot2/x", REL),
        refused("E_NOT_YOURS"),
        id="§4 file of a sibling user with a common prefix is refused",
    ),
    pytest.param(
        partial(confine, P, "/lustre/home/acct-hpc/hpcrobot.bak/x", REL),
        refused("E_NOT_YOURS"),
        id="§4 sibling folder hpcrobot.bak is refused",
    ),
    pytest.param(
        partial(confine, P, "/tmp/x", REL), refused(OUTSIDE, "/tmp/x"), id="§4 a path outside any pool is refused"
    ),
    pytest.param(
        partial(confine, P, "/lustrefs/" + REL, REL), refused(OUTSIDE), id="§4 a pool-name prefix is not the pool"
    ),
    pytest.param(partial(confine, P, "lustre/" + REL, REL), refused("E_PATH"), id="§4 a relative path is refused"),
    pytest.param(partial(confine, P, HOME + "/x\ny", REL), refused("E_PATH"), id="§4 a newline in a path is refused"),
    pytest.param(partial(confine, P, HOME + "\x00", REL), refused("E_PATH"), id="§4 a NUL in a path is refused"),
    pytest.param(partial(confine, P, "", REL), refused("E_PATH"), id="§4 an empty path is refused"),
    pytest.param(partial(confine, P, HOME, REL), HOME, id="§4 the personal root is allowed by default"),
    pytest.param(
        partial(confine, P, HOME, REL, allow_root=False),
        refused("E_PERSONAL_ROOT", HOME),
        id="§4 the personal root is refused for removal",
    ),
    pytest.param(
        partial(confine, P, HOME + "//", REL, allow_root=False),
        refused("E_PERSONAL_ROOT"),
        id="§4 the personal root with slashes is refused for removal",
    ),
    pytest.param(
        partial(confine, P, HOME + "/x/..", REL, allow_root=False),
        refused("E_PERSONAL_ROOT"),
        id="§4 x/.. is the personal root, refused for removal",
    ),
    pytest.param(
        partial(confine, P, "/archive/" + REL, REL, allow_root=False),
        refused("E_PERSONAL_ROOT"),
        id="§4 the cold personal root is refused for removal",
    ),
    pytest.param(
        partial(confine, P, HOME + "/x", REL, allow_root=False), HOME + "/x", id="§4 inside the root may be removed"
    ),
    pytest.param(
        partial(confine, P, HOME + "/./a//b/", REL), HOME + "/a/b", id="§4 confined paths come back normalised"
    ),
    pytest.param(
        partial(resolve_personal, P, "lustre", "results", REL), HOME + "/results", id="§4 pool + relative path"
    ),
    pytest.param(partial(resolve_personal, P, "/archive/", "", REL), "/archive/" + REL, id="§4 pool + '' is the root"),
    pytest.param(
        partial(resolve_personal, P, "lustre", "../hpcrobot2", REL),
        refused("E_NOT_YOURS"),
        id="§4 pool + ../sibling is refused",
    ),
    pytest.param(
        partial(resolve_personal, P, "lustre", "/etc/passwd", REL),
        refused("E_PATH"),
        id="§4 pool + absolute path is refused",
    ),
    pytest.param(
        partial(resolve_personal, P, "scratch", "x", REL), refused("E_POOL", "/lustre"), id="§4 unknown pool refused"
    ),
    pytest.param(
        partial(resolve_personal, P, HOME + "/../../acct-other/otheruser", None, REL),
        refused("E_NOT_YOURS"),
        id="§4 absolute path to another user is refused",
    ),
    # -- §4: space and quota are checked before copying ---------------------------------------------
    pytest.param(
        partial(check_space, "/archive/x", 2 * GiB, 1 * GiB),
        refused("E_NO_SPACE", str(2 * GiB), str(1 * GiB), "2.00 GiB", "1.00 GiB", "/archive/x"),
        id="§4 needed > free is refused with both numbers",
    ),
    pytest.param(partial(check_space, "/archive/x", GiB, GiB), None, id="§4 needed == free fits"),
    pytest.param(
        partial(check_space, "/archive/x", GiB + 1, GiB), refused("E_NO_SPACE"), id="§4 one byte more than free refused"
    ),
    pytest.param(partial(check_space, HOME, 101, 1000, 100), refused("E_QUOTA"), id="§4 one byte over quota refused"),
    pytest.param(partial(check_space, "/archive/x", 0, 0), None, id="§4 nothing to copy into a full pool fits"),
    pytest.param(
        partial(check_space, HOME, 100, 1000, 50),
        refused("E_QUOTA", "100", "50"),
        id="§4 needed > quota left is refused with both numbers",
    ),
    pytest.param(
        partial(check_space, HOME, 100, 1000, -5),
        refused("E_QUOTA", "leaves 0 bytes"),
        id="§4 an overdrawn quota reads as 0 left",
    ),
    pytest.param(
        partial(check_space, HOME, 100, 50, 10), refused("E_NO_SPACE"), id="§4 free space is checked before quota"
    ),
    pytest.param(partial(check_space, HOME, 100, 1000, 100), None, id="§4 needed == quota left fits"),
    pytest.param(partial(check_space, HOME, 100, 1000, None), None, id="§4 unknown quota is not checked"),
    # -- §4: at most 10 parallel streams -------------------------------------------------------------
    *[pytest.param(partial(check_streams, n), n, id=f"§4 {n} streams allowed") for n in range(1, 11)],
    pytest.param(partial(check_streams, 0), refused("E_ARG", "10"), id="§4 0 streams refused"),
    pytest.param(partial(check_streams, 11), refused("E_ARG", "10"), id="§4 11 streams refused"),
    pytest.param(partial(check_streams, -1), refused("E_ARG"), id="§4 negative streams refused"),
    pytest.param(lambda: MAX_STREAMS, 10, id="§4 the platform's limit is 10 streams"),
    pytest.param(max_default_streams, Holds(lambda n: n == 10, "reaches 10, never more"), id="§4 default ≤ 10"),
    pytest.param(min_default_streams, 1, id="§4 default streams at least 1"),
    pytest.param(partial(default_streams, 1, 500 * 2**20), 1, id="§4 one large file is one stream"),
    pytest.param(partial(default_streams, 1, 2**50), 1, id="§4 one huge file is one stream"),
    pytest.param(partial(default_streams, 3, 100 * GiB), 1, id="§4 a few files are one stream"),
    pytest.param(partial(default_streams, 0, 0), 1, id="§4 an empty tree is one stream"),
    pytest.param(
        partial(default_streams, 20_000, 20_000 * 4096),
        Holds(lambda n: 2 <= n <= MAX_STREAMS, "parallel"),
        id="§4 many small files go in parallel",
    ),
    pytest.param(
        partial(default_streams, 10**6, 10 * 2**40),
        10,
        id="§4 a huge tree uses the platform's 10",
    ),
    # -- local paths: only inside the shared folders ---------------------------------------------------
    pytest.param(partial(confine_local, "/home/u/data/x", []), refused("E_LOCAL_ROOT"), id="local: no roots refused"),
    pytest.param(
        partial(confine_local, "/home/u/.ssh/id_ed25519", ["/home/u/data"]),
        refused("E_LOCAL_ROOT", "/home/u/.ssh/id_ed25519", "/home/u/data"),
        id="local: outside the roots refused",
    ),
    pytest.param(
        partial(confine_local, "/home/u/data2/x", ["/home/u/data"]),
        refused("E_LOCAL_ROOT"),
        id="local: prefix sibling data2 of root data refused",
    ),
    pytest.param(
        partial(confine_local, "/home/u/data2", ["/home/u/data"]),
        refused("E_LOCAL_ROOT"),
        id="local: prefix sibling folder itself refused",
    ),
    pytest.param(
        partial(confine_local, "/home/u/data/../.ssh/id", ["/home/u/data"]),
        refused("E_LOCAL_ROOT"),
        id="local: .. out of the root refused",
    ),
    pytest.param(
        partial(confine_local, "/home/u", ["/home/u/data"]), refused("E_LOCAL_ROOT"), id="local: a root's parent"
    ),
    pytest.param(
        partial(confine_local, "/home/u/data/x/y", ["/home/u/data"]), "/home/u/data/x/y", id="local: inside allowed"
    ),
    pytest.param(partial(confine_local, "/home/u/data", ["/home/u/data"]), "/home/u/data", id="local: root allowed"),
    pytest.param(
        partial(confine_local, "/home/u/data/x", ["/home/u/data/"]), "/home/u/data/x", id="local: root with a slash"
    ),
    pytest.param(
        partial(confine_local, "/srv/b/x", ["/home/u/data", "/srv/b"]), "/srv/b/x", id="local: any root may match"
    ),
    pytest.param(
        partial(confine_local, "/home/u/data//x/./y", ["/home/u/data"]), "/home/u/data/x/y", id="local: normalised"
    ),
    # -- §5 and the consent table: destroying and cancelling need the person's agreement -------------
    *[
        pytest.param(partial(ACTS.__contains__, act), True, id=f"consent: {act} needs confirmation")
        for act in ("scancel", "update_user", "overwrite", "move", "cancel_transfer", "remove", "replace_key")
    ],
    *[
        pytest.param(partial(ACTS.__contains__, act), False, id=f"consent: {act} needs none")
        for act in ("sinfo", "squeue", "sacct", "copy", "list", "status", "usage", "free", "mkdir")
    ],
]


@pytest.mark.parametrize(("act", "expected"), ROWS)
def test_data_rule(act: Callable[[], Any], expected: Any) -> None:
    if isinstance(expected, Refused):
        with pytest.raises(HpcError) as err:
            act()
        codes = {expected.code} if isinstance(expected.code, str) else expected.code
        assert err.value.code in codes, str(err.value)
        for word in expected.says:
            assert word in str(err.value), f"{word!r} not in {err.value}"
        return
    got = act()
    if isinstance(expected, OneOf):
        assert got in expected.values
    elif isinstance(expected, Holds):
        assert expected.check(got), f"{expected.what}: got {got!r}"
    else:
        assert got == expected


def test_every_login_node_and_cold_pool_is_a_row() -> None:
    """The table must not silently lose a node or a pool when platform.toml changes."""
    logins = {g.job_entry for g in P.groups.values()}
    assert logins == set(LOGINS)
    assert set(P.data_nodes) == set(DATA_NODES)
    assert {r for r, s in P.storage.items() if s.kind == "cold"} == set(COLD)
    assert set(P.storage) == set(POOLS)
    assert set(P.cold_pools) == {"/archive", "/vault"}


def test_every_destructive_act_is_a_consent_row() -> None:
    assert {"scancel", "update_user", "overwrite", "move", "cancel_transfer", "remove"} <= ACTS
    assert not {"sinfo", "squeue", "copy", "sacct", "list", "status"} & ACTS


# -- the resolved ends of a transfer, and which consent a transfer still lacks --------------------------

REL = "home/acct-hpc/hpcrobot"
DATA_NODE = "data.hpc.sjtu.edu.cn"


@pytest.mark.parametrize(
    ("source", "dest", "src_dir", "dst_dir", "mode", "want"),
    [
        pytest.param(f"/lustre/{REL}/a", f"/archive/{REL}/a", True, False, "copy", "ok", id="copy to cold"),
        pytest.param(f"/lustre/{REL}/f.txt", f"/archive/{REL}/d", False, True, "copy", "into", id="file into dir"),
        pytest.param(f"/lustre/{REL}/a", f"/lustre/{REL}/a", True, True, "copy", "E_SAME", id="onto itself"),
        pytest.param(f"/lustre/{REL}/a", f"/lustre/{REL}/a/b", True, False, "copy", "E_SAME", id="into itself"),
        pytest.param(f"/lustre/{REL}", f"/archive/{REL}", True, True, "copy", "ok", id="whole home copied"),
        pytest.param(f"/lustre/{REL}", f"/archive/{REL}/x", True, False, "move", "E_PERSONAL_ROOT", id="home moved"),
        pytest.param(f"/union/{REL}/a", f"/lustre/{REL}/a", True, False, "move", "ok", id="move out of union"),
        pytest.param(
            f"/lustre/{REL}/a",
            "/lustre/home/acct-other/otheruser/a",
            True,
            False,
            "copy",
            "E_NOT_YOURS",
            id="into another's folder",
        ),
    ],
)
def test_transfer_ends(source: str, dest: str, src_dir: bool, dst_dir: bool, mode: str, want: str) -> None:
    if want.startswith("E_"):
        with pytest.raises(HpcError) as err:
            check_transfer_ends(P, DATA_NODE, REL, source, dest, src_dir, dst_dir, mode)
        assert err.value.code == want
        return
    src, dst = check_transfer_ends(P, DATA_NODE, REL, source, dest, src_dir, dst_dir, mode)
    assert src == source and dst == (dest + "/f.txt" if want == "into" else dest)


@pytest.mark.parametrize("login", ["pilogin.hpc.sjtu.edu.cn", "sylogin.hpc.sjtu.edu.cn", "armlogin.hpc.sjtu.edu.cn"])
def test_transfer_ends_never_write_cold_from_a_login_node(login: str) -> None:
    with pytest.raises(HpcError) as err:
        check_transfer_ends(P, login, REL, f"/lustre/{REL}/a", f"/archive/{REL}/a", True, False, "copy")
    assert err.value.code == "E_READ_ONLY"


@pytest.mark.parametrize(
    ("overwrites", "mode", "confirm", "missing"),
    [
        (False, "copy", False, None),
        (True, "copy", False, "overwrite"),
        (True, "copy", True, None),
        (False, "move", False, "move"),
        (True, "move", False, "overwrite"),
        (False, "move", True, None),
    ],
)
def test_transfer_consent(overwrites: bool, mode: str, confirm: bool, missing: str | None) -> None:
    act, step = transfer_gate(overwrites, mode, confirm, declined=False)
    assert (act if step == "preview" else None) == missing
