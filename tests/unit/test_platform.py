"""The platform tables (docs/platform.md#node-groups to docs/platform.md#storage): every row, the aliases, and
hostile paths."""

from __future__ import annotations

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform, normalize_path, within

P = load_platform()

PARTITIONS = {
    "pi": ["cpu", "debug", "dgx2", "huge", "192c6t"],
    "kp": ["debugarm", "arm128c256g", "scnet_arm"],
    "sy": ["small", "64c512g", "el9", "debug64c512g", "win32", "a100", "a800", "debug100", "debuga100"],
}
ENTRY = {
    ("job", "pi"): "pilogin.hpc.sjtu.edu.cn",
    ("job", "sy"): "sylogin.hpc.sjtu.edu.cn",
    ("job", "kp"): "armlogin.hpc.sjtu.edu.cn",
    ("data", "pi"): "data.hpc.sjtu.edu.cn",
    ("data", "kp"): "data.hpc.sjtu.edu.cn",
    ("data", "sy"): "sydata.hpc.sjtu.edu.cn",
}


@pytest.mark.parametrize(("group", "partition"), [(g, p) for g, ps in PARTITIONS.items() for p in ps])
def test_every_partition_maps_to_its_group(group: str, partition: str) -> None:
    assert P.group_of_partition(partition).name == group


def test_partition_list_is_exactly_the_table() -> None:
    assert sorted(P.partitions) == sorted(p for ps in PARTITIONS.values() for p in ps)


@pytest.mark.parametrize("alias", ["debug100", "debuga100"])
def test_both_a100_debug_spellings_are_sy(alias: str) -> None:
    assert P.group_of_partition(alias).name == "sy"
    assert P.max_minutes_of(alias) == 120


@pytest.mark.parametrize("bad", ["gpu", "CPU", "", "cpu ", "a100;id", "../cpu"])
def test_unknown_partition_lists_the_known_ones(bad: str) -> None:
    with pytest.raises(HpcError) as err:
        P.group_of_partition(bad)
    assert err.value.code == "E_PARTITION"
    for p in ("cpu", "a100", "arm128c256g", "debuga100"):
        assert p in str(err.value)


@pytest.mark.parametrize(("business", "group"), list(ENTRY))
def test_entry_node_for_every_business_and_group(business: str, group: str) -> None:
    assert P.entry_node(business, group) == ENTRY[(business, group)]  # type: ignore[arg-type]


def test_unknown_group_refused() -> None:
    with pytest.raises(HpcError, match="E_GROUP"):
        P.entry_node("job", "gpu")  # type: ignore[arg-type]


def test_five_entry_nodes_and_two_data_nodes() -> None:
    assert set(P.entry_nodes) == set(ENTRY.values())
    assert set(P.data_nodes) == {"data.hpc.sjtu.edu.cn", "sydata.hpc.sjtu.edu.cn"}


@pytest.mark.parametrize(
    ("path", "root", "kind", "groups"),
    [
        ("/lustre/home/acct-hpc/hpcrobot", "/lustre", "hot", ("pi", "kp")),
        ("/lustre", "/lustre", "hot", ("pi", "kp")),
        ("/dssg/home/acct-hpc/hpcrobot/x", "/dssg", "hot", ("sy",)),
        ("/archive/home/acct-hpc/hpcrobot", "/archive", "cold", ()),
        ("/vault/home/acct-hpc/hpcrobot", "/vault", "cold", ()),
        ("/union/home/acct-hpc/hpcrobot", "/union", "cold", ()),
        ("/lustre/../archive/home/a/u", "/archive", "cold", ()),
        ("/lustre/home/../../vault/x", "/vault", "cold", ()),
        ("//archive/x", "/archive", "cold", ()),
        ("/lustre/./home//acct-hpc/", "/lustre", "hot", ("pi", "kp")),
        ("/dssg/../lustre/x", "/lustre", "hot", ("pi", "kp")),
    ],
)
def test_storage_of_path(path: str, root: str, kind: str, groups: tuple[str, ...]) -> None:
    st = P.storage_of(path)
    assert (st.root, st.kind, st.groups) == (root, kind, groups)
    assert P.is_cold(path) == (kind == "cold")
    assert P.groups_of_path(path) == groups


@pytest.mark.parametrize("path", ["/lustrex/a", "/home/u", "/", "/etc/passwd", "/lustre/../etc/passwd", "/archived"])
def test_path_outside_storage_refused(path: str) -> None:
    with pytest.raises(HpcError, match="E_PATH"):
        P.storage_of(path)
    assert not P.is_cold(path)


@pytest.mark.parametrize("path", ["", "lustre/x", "./x", "~/x", "/lustre/a\nb", "/lustre/\x00"])
def test_relative_or_control_paths_refused(path: str) -> None:
    with pytest.raises(HpcError, match="E_PATH"):
        normalize_path(path)


@pytest.mark.parametrize(
    ("path", "pool", "moved"),
    [
        ("/lustre/home/acct-hpc/hpcrobot", "/archive", "/archive/home/acct-hpc/hpcrobot"),
        ("/lustre/home/acct-hpc/hpcrobot/d/f.txt", "/union", "/union/home/acct-hpc/hpcrobot/d/f.txt"),
        ("/archive/home/acct-hpc/hpcrobot", "/lustre", "/lustre/home/acct-hpc/hpcrobot"),
        ("/vault/home/acct-hpc/hpcrobot/x", "/dssg", "/dssg/home/acct-hpc/hpcrobot/x"),
        ("/dssg/home/acct-hpc/hpcrobot", "/vault/anything", "/vault/home/acct-hpc/hpcrobot"),
        ("/lustre", "/archive", "/archive"),
    ],
)
def test_personal_path_moves_between_pools(path: str, pool: str, moved: str) -> None:
    assert P.move_to_pool(path, pool) == moved


def test_cold_pools_and_union() -> None:
    assert P.cold_pools == ("/archive", "/vault")
    assert P.cold_view == "/union"


@pytest.mark.parametrize(
    ("node", "writable"),
    [
        ("pilogin.hpc.sjtu.edu.cn", {"/lustre"}),
        ("armlogin.hpc.sjtu.edu.cn", {"/lustre"}),
        ("sylogin.hpc.sjtu.edu.cn", {"/dssg"}),
        ("data.hpc.sjtu.edu.cn", {"/lustre", "/dssg", "/archive", "/vault", "/union"}),
        ("sydata.hpc.sjtu.edu.cn", {"/dssg", "/archive", "/vault", "/union"}),
        ("elsewhere.example", set()),
    ],
)
def test_pools_a_node_may_write(node: str, writable: set[str]) -> None:
    assert set(P.writable_on(node)) == writable


def test_max_minutes() -> None:
    assert P.max_minutes_of("cpu") == 7 * 24 * 60
    assert P.max_minutes_of("huge") == P.max_minutes_of("192c6t") == 2 * 24 * 60
    assert P.max_minutes_of("debug") == 20
    assert P.max_minutes_of("debug64c512g") == 60


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/lustre", "/lustre", True),
        ("/lustre/home/a", "/lustre", True),
        ("/lustre/home/a", "/lustre/", True),
        ("/lustrefs/a", "/lustre", False),
        ("/lust", "/lustre", False),
        ("/anything", "/", True),
        ("/", "/", True),
    ],
)
def test_within(path: str, root: str, inside: bool) -> None:
    assert within(path, root) is inside
