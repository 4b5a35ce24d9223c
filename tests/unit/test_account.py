"""Pure account helpers: %H homes, the account name, secret-free records, tolerant quota parsing."""

from __future__ import annotations

import pytest

from sjtu_hpc_mcp.core.account import account_of, check_username, homes, human_bytes, quota_lines, without_secrets
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform

P = load_platform()


def test_homes_resolve_h_per_group() -> None:
    assert homes(P, "%H/home/acct-hpc/hpcrobot") == {
        "pi": "/lustre/home/acct-hpc/hpcrobot",
        "kp": "/lustre/home/acct-hpc/hpcrobot",
        "sy": "/dssg/home/acct-hpc/hpcrobot",
    }
    assert homes(P, "/lustre/home/acct-x/u")["sy"] == "/lustre/home/acct-x/u"


@pytest.mark.parametrize(
    ("home", "account"),
    [("/lustre/home/acct-hpc/hpcrobot", "acct-hpc"), ("/dssg/home/acct-x/u/", "acct-x"), ("/", None)],
)
def test_account_is_the_parent_folder(home: str, account: str | None) -> None:
    assert account_of(home) == account


def test_secret_fields_are_dropped() -> None:
    assert without_secrets({"uid": "u", "userPassword": "x", "api_token": "t", "private_key": "k", "email": "e"}) == {
        "uid": "u",
        "email": "e",
    }


@pytest.mark.parametrize("bad", ["", "-rf", "a b", "x;id", "../u", "u\n"])
def test_usernames_are_checked(bad: str) -> None:
    with pytest.raises(HpcError):
        check_username(bad)


def test_human_bytes() -> None:
    assert human_bytes(None) is None
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024**4) == "3.0 TiB"
    assert human_bytes(1536 * 1024**2) == "1.5 GiB"


def test_quota_lines_from_the_doubles_shape() -> None:
    answer = {
        "quota_type": "account",
        "name": "acct-hpc",
        "quotas": [
            {
                "filesystem": "lustre",
                "space": {"used": 1024**4, "limit": 3 * 1024**4, "unit": "bytes"},
                "files": {"used": 10, "limit": 100},
            },
            {"filesystem": "archive", "space": {"used": 5, "limit": None, "unit": "bytes"}, "files": {}},
        ],
        "collector": {"v": 1},
    }
    lines = quota_lines("account", "acct-hpc", answer)
    assert [(q.filesystem, q.used, q.limit, q.percent, q.files_used) for q in lines] == [
        ("lustre", "1.0 TiB", "3.0 TiB", 33.3, 10),
        ("archive", "5 B", "no limit", None, None),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        {"quota": {"lustre": {"used": "2 GB", "limit": "4 GB"}}},
        {"data": [{"fs": "lustre", "usage": 2 * 1024**3, "quota": 4 * 1024**3}]},
        {"filesystem": "lustre", "used": "2GiB", "limit": "4GiB"},
    ],
)
def test_quota_lines_tolerate_other_shapes(answer: dict[str, object]) -> None:
    (q,) = quota_lines("user", "u", answer)
    assert q.filesystem == "lustre" and q.percent == 50.0 and q.used == "2.0 GiB"


def test_quota_lines_tolerate_junk() -> None:
    assert quota_lines("user", "u", {"quotas": ["x", 3]}) == []
    (q,) = quota_lines("user", "u", {"something": "else"})
    assert q.used is None and q.filesystem == "?"


def test_user_info_resolves_homes_and_drops_secrets() -> None:
    from sjtu_hpc_mcp.core.account import user_info
    from sjtu_hpc_mcp.core.platform import load_platform

    raw = {
        "uid": "hpcrobot",
        "uidNumber": "1001",
        "home": "%H/home/acct-hpc/hpcrobot",
        "email": "a@b.c",
        "jAccount": "",
        "password": "never-shown",
        "loginShell": "/bin/bash",
    }
    u = user_info(load_platform(), "hpcrobot", raw, "sy")
    assert u.home == "/dssg/home/acct-hpc/hpcrobot" and u.account == "acct-hpc" and u.uid_number == 1001
    assert u.homes["pi"] == "/lustre/home/acct-hpc/hpcrobot"
    assert u.email_bound and not u.jaccount_bound
    assert "password" not in u.other and u.other["loginShell"] == "/bin/bash"
