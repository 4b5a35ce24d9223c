"""core.export and the certificate rules it uses: folders, replacements, config text, host keys, records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from sjtu_hpc_mcp.core.certs import covers, private_key_fingerprint
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.export import (
    CONFIG_MARK,
    ExportRecord,
    InFolder,
    Node,
    alias,
    check_config_path,
    confirm_question,
    export_folder,
    exported_copies,
    folder_problem,
    is_our_config,
    known_hosts_name,
    missing_host_keys,
    parse_records,
    reminder,
    replacements,
    ssh_config,
    use_lines,
    with_record,
)
from sjtu_hpc_mcp.core.platform import load_platform

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


# -- certificates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "needed", "ok"),
    [
        (None, 7 * 86400, True),  # no end date
        (3600, 3600, True),
        (3545, 3600, True),  # asked for an hour a moment ago: still an hour
        (3539, 3600, False),
        (0, 300, False),
        (7200, 600, True),
    ],
)
def test_covers(left: int | None, needed: int, ok: bool) -> None:
    assert covers(left, needed) is ok


@pytest.mark.parametrize("alg", ["ssh-ed25519", "ecdsa-sha2-nistp256"])
def test_private_key_fingerprint_reads_only_the_clear_header(alg: str) -> None:
    k = asyncssh.generate_private_key(alg)
    assert private_key_fingerprint(k.export_private_key("openssh").decode()) == k.get_fingerprint("sha256")


def test_fingerprint_of_a_passphrase_protected_key(tmp_path: Path) -> None:
    """The public part of an encrypted key is in the clear too (made by ssh-keygen: asyncssh needs bcrypt)."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    path = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(path)], check=True)
    public = asyncssh.read_public_key(str(path) + ".pub")
    assert private_key_fingerprint(path.read_text()) == public.get_fingerprint("sha256")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519 AAAA comment",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + base64.b64encode(b"other-magic").decode() + "\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + base64.b64encode(b"openssh-key-v1\x00\x00\x00").decode() + "\n"
        "-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_private_key_fingerprint_refuses_other_text(text: str) -> None:
    with pytest.raises(HpcError) as e:
        private_key_fingerprint(text)
    assert e.value.code == "E_KEY"


def test_pem_key_is_not_an_openssh_key() -> None:
    pem = asyncssh.generate_private_key("ssh-rsa", key_size=2048).export_private_key("pkcs8-pem").decode()
    with pytest.raises(HpcError):
        private_key_fingerprint(pem)


# -- where an export may go --------------------------------------------------------------------------

SHARED = ["/home/p/project"]
DEFAULT = "/home/p/.ssh/sjtu-hpc"
CREDS = "/home/p/project/ws/credentials"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/p/.ssh/sjtu-hpc", "/home/p/.ssh/sjtu-hpc"),  # the default: allowed without being shared
        ("/home/p/.ssh/sjtu-hpc/laptop", "/home/p/.ssh/sjtu-hpc/laptop"),
        ("/home/p/project/ssh", "/home/p/project/ssh"),
        ("/home/p/project", "/home/p/project"),
        ("/home/p/project/ws", "/home/p/project/ws"),
    ],
)
def test_allowed_folders(path: str, expected: str) -> None:
    assert export_folder(path, SHARED, DEFAULT, CREDS) == expected


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/home/p/.ssh", "E_LOCAL_ROOT"),  # the person's own ~/.ssh is not the default folder
        ("/home/p", "E_LOCAL_ROOT"),
        ("/home/p/project-other", "E_LOCAL_ROOT"),  # a prefix is not a parent
        ("/etc", "E_LOCAL_ROOT"),
        ("/home/p/project/ws/credentials", "E_EXPORT_FOLDER"),  # the server's own files
        ("/home/p/project/ws/credentials/x", "E_EXPORT_FOLDER"),
        ("/home/p/project/a%d", "E_EXPORT_FOLDER"),  # an OpenSSH token
        ("/home/p/project/${HOME}", "E_EXPORT_FOLDER"),
        ("/home/p/project/a*b", "E_EXPORT_FOLDER"),
        ('/home/p/project/a"b', "E_EXPORT_FOLDER"),
        ("/home/p/project/a\nHost *", "E_EXPORT_FOLDER"),
        ("relative/path", "E_EXPORT_FOLDER"),
    ],
)
def test_refused_folders(path: str, code: str) -> None:
    with pytest.raises(HpcError) as e:
        export_folder(path, SHARED, DEFAULT, CREDS)
    assert e.value.code == code


def test_only_the_default_folder_when_nothing_is_shared() -> None:
    assert export_folder(DEFAULT, [], DEFAULT, CREDS) == DEFAULT
    with pytest.raises(HpcError) as e:
        export_folder("/home/p/project/ssh", [], DEFAULT, CREDS)
    assert e.value.code == "E_LOCAL_ROOT" and DEFAULT in e.value.message


@pytest.mark.parametrize(
    ("present", "is_dir", "owner_ok", "mode", "problem"),
    [
        (False, False, True, None, None),
        (True, True, True, 0o700, None),
        (True, True, True, 0o755, None),
        (True, True, True, 0o775, "can be written by other users"),
        (True, True, True, 0o1777, "can be written by other users"),
        (True, True, False, 0o700, "belongs to another user"),
        (True, False, True, 0o600, "is not a folder"),
    ],
)
def test_folder_problem(present: bool, is_dir: bool, owner_ok: bool, mode: int | None, problem: str | None) -> None:
    assert folder_problem(present, is_dir, owner_ok, mode) == problem


# -- what an export may replace ----------------------------------------------------------------------

FP, OTHER = "SHA256:current", "SHA256:other"


@pytest.mark.parametrize(
    ("found", "writing", "replaced"),
    [
        (InFolder(), FP, 0),  # an empty folder
        (InFolder(), None, 0),
        (InFolder("file", FP, "file", FP, "file", True), FP, 0),  # the same key again: idempotent
        (InFolder("file", FP, "file", OTHER, "file", True), FP, 1),  # a certificate of another key
        (InFolder("file", OTHER, "file", OTHER, "file", True), FP, 2),
        (InFolder("file", FP, "file", FP, "file", True), None, 2),  # a new key is coming
        (InFolder("file", None), FP, 1),  # not an OpenSSH key: replaced only with confirm
        (InFolder(cert="file", cert_key_fingerprint=OTHER), FP, 1),
        (InFolder(config="file", config_ours=True), FP, 0),  # an earlier export's config is ours to replace
    ],
)
def test_replacements(found: InFolder, writing: str | None, replaced: int) -> None:
    assert len(replacements(found, writing)) == replaced


@pytest.mark.parametrize(
    "found",
    [
        InFolder(config="file", config_ours=False),  # the person's own config is never replaced
        InFolder(key="other"),  # a link or folder under one of the names
        InFolder(cert="other"),
        InFolder(config="other"),
    ],
)
def test_refused_contents(found: InFolder) -> None:
    with pytest.raises(HpcError) as e:
        replacements(found, FP)
    assert e.value.code == "E_EXPORT_EXISTS"


def test_confirm_question_names_the_files_and_the_new_key() -> None:
    text = confirm_question("/x", ["id_ed25519 (a different key: SHA256:o)"], new_key=True)
    assert "/x" in text and "SHA256:o" in text and "new key" in text and "confirm=true" in text


# -- the config text ---------------------------------------------------------------------------------


def lab_nodes() -> list[Node]:
    return [Node(n, "127.0.0.1", 2201 + i) for i, n in enumerate(load_platform().entry_nodes)]


def test_config_for_the_lab() -> None:
    text = ssh_config(
        lab_nodes(), user="hpcrobot", key="/k/id_ed25519", cert="/k/id_ed25519-cert.pub", known_hosts="/kh"
    )
    assert text.startswith(CONFIG_MARK + "\n")
    blocks = [b for b in text.split("\n\n") if b.startswith("Host ")]
    assert [b.splitlines()[0] for b in blocks] == [
        "Host pilogin pilogin.hpc.sjtu.edu.cn",
        "Host data data.hpc.sjtu.edu.cn",
        "Host armlogin armlogin.hpc.sjtu.edu.cn",
        "Host sylogin sylogin.hpc.sjtu.edu.cn",
        "Host sydata sydata.hpc.sjtu.edu.cn",
    ]
    first = blocks[0].splitlines()[1:]
    assert first == [
        "  HostName 127.0.0.1",
        "  Port 2201",
        "  HostKeyAlias [127.0.0.1]:2201",
        "  User hpcrobot",
        '  IdentityFile "/k/id_ed25519"',
        '  CertificateFile "/k/id_ed25519-cert.pub"',
        "  IdentitiesOnly yes",
        '  UserKnownHostsFile "/kh"',
        "  StrictHostKeyChecking yes",
    ]


def test_config_for_the_real_platform_needs_no_alias() -> None:
    nodes = [Node(n, n) for n in load_platform().entry_nodes]
    text = ssh_config(nodes, user="hpcrobot", key="/a b/k", cert="/a b/c", known_hosts="/home/p/.ssh/known_hosts")
    assert "Port" not in text and "HostKeyAlias" not in text
    assert "  HostName sylogin.hpc.sjtu.edu.cn" in text
    assert '  IdentityFile "/a b/k"' in text  # spaces survive in quotes


@pytest.mark.parametrize("user", ["bad user", "x\nHost *", "-oProxyCommand=x"])
def test_config_refuses_odd_users(user: str) -> None:
    with pytest.raises(HpcError):
        ssh_config(lab_nodes(), user=user, key="/k", cert="/c", known_hosts="/kh")


def test_our_config_is_known_by_its_first_line() -> None:
    assert is_our_config(CONFIG_MARK + "\nHost x\n")
    assert is_our_config("# Written by sjtu-hpc-mcp (an older wording)\n")
    assert not is_our_config("Host mine\n# Written by sjtu-hpc-mcp\n")


def test_check_config_path() -> None:
    assert check_config_path("/home/p/my keys") == "/home/p/my keys"
    for bad in ("~/x", "/a\\b", "/a'b", "/a[1]", "/a?b", "/a\tb"):
        with pytest.raises(HpcError):
            check_config_path(bad)


def test_names() -> None:
    assert alias("pilogin.hpc.sjtu.edu.cn") == "pilogin"
    assert known_hosts_name("pilogin.hpc.sjtu.edu.cn", 22) == "pilogin.hpc.sjtu.edu.cn"
    assert known_hosts_name("127.0.0.1", 2201) == "[127.0.0.1]:2201"


def test_use_lines_quote_for_the_shell_and_json() -> None:
    use = use_lines("/home/p/my keys/config", "pilogin.hpc.sjtu.edu.cn", "data.hpc.sjtu.edu.cn")
    assert use.ssh == "ssh -F '/home/p/my keys/config' pilogin"
    assert use.scp == "scp -F '/home/p/my keys/config' FILE data:"
    assert use.include.startswith('Include "/home/p/my keys/config"')
    assert use.vscode.endswith('"remote.SSH.configFile": "/home/p/my keys/config"')


def test_reminder() -> None:
    text = reminder(NOW, "/kh", [])
    assert "2026-12-03 12:00 UTC" in text and "shared or public computer" in text and "hpc@sjtu.edu.cn" in text
    assert "no host key" not in text
    assert "[127.0.0.1]:2203" in reminder(None, "/kh", ["[127.0.0.1]:2203"])


# -- known_hosts -------------------------------------------------------------------------------------


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("[127.0.0.1]:2201 ssh-ed25519 AAAA", ["[127.0.0.1]:2201"]),
        ("pilogin.hpc.sjtu.edu.cn,1.2.3.4 ssh-ed25519 AAAA", ["pilogin.hpc.sjtu.edu.cn"]),
        ("*.hpc.sjtu.edu.cn ssh-ed25519 AAAA", ["pilogin.hpc.sjtu.edu.cn", "data.hpc.sjtu.edu.cn"]),
        ("*.hpc.sjtu.edu.cn,!data.hpc.sjtu.edu.cn ssh-ed25519 AAAA", ["pilogin.hpc.sjtu.edu.cn"]),
        ("[127.0.0.?]:2201 ssh-ed25519 AAAA", ["[127.0.0.1]:2201"]),  # brackets are literal, ? a wildcard
        ("[127.0.0.1]:22011 ssh-ed25519 AAAA", []),
        (hashed("[127.0.0.1]:2201") + " ssh-ed25519 AAAA", ["[127.0.0.1]:2201"]),
        (hashed("other") + " ssh-ed25519 AAAA", []),
        ("|1|!!!|!!! ssh-ed25519 AAAA", []),
        ("@cert-authority *.hpc.sjtu.edu.cn ssh-ed25519 AAAA", ["pilogin.hpc.sjtu.edu.cn", "data.hpc.sjtu.edu.cn"]),
        ("@revoked [127.0.0.1]:2201 ssh-ed25519 AAAA", []),
        ("# [127.0.0.1]:2201 ssh-ed25519 AAAA", []),
    ],
)
def test_missing_host_keys(line: str, found: list[str]) -> None:
    names = ["[127.0.0.1]:2201", "pilogin.hpc.sjtu.edu.cn", "data.hpc.sjtu.edu.cn"]
    assert missing_host_keys("\n" + line + "\n", names) == [n for n in names if n not in found]


def test_missing_host_keys_without_a_file() -> None:
    assert missing_host_keys(None, ["a"]) == ["a"]


# -- the record of exported copies -------------------------------------------------------------------


def rec(folder: str, hours: float | None = 1) -> ExportRecord:
    until = None if hours is None else NOW + timedelta(hours=hours)
    return ExportRecord(folder=folder, fingerprint=FP, valid_before=until, exported_at=NOW)


def test_records_one_per_folder_newest_last_capped() -> None:
    text = with_record([rec("/a"), rec("/b")], rec("/a", 2))
    records = parse_records(text)
    assert [r.folder for r in records] == ["/b", "/a"]
    assert records[1].valid_before == NOW + timedelta(hours=2)
    many: list[ExportRecord] = []
    for i in range(30):
        many = parse_records(with_record(many, rec(f"/f{i}")))
    assert len(many) == 20 and many[-1].folder == "/f29" and many[0].folder == "/f10"


@pytest.mark.parametrize("text", [None, "", "{", "{}", '[{"folder": 1}]', "null"])
def test_damaged_record_counts_as_empty(text: str | None) -> None:
    assert parse_records(text) == []


def test_exported_copies(key: asyncssh.SSHKey) -> None:
    ca = asyncssh.generate_private_key("ssh-ed25519")
    later = int((NOW + timedelta(hours=5)).timestamp())
    cert = ca.generate_user_certificate(key, "k", principals=["u"], valid_before=later)
    cert_text = cert.export_certificate("openssh").decode()
    records = [rec("/gone"), rec("/old", -1), rec("/renewed"), rec("/forever", None), rec("/bad")]
    seen = [(False, None), (True, None), (True, cert_text), (True, None), (True, "garbage")]
    copies = exported_copies(records, seen, NOW)
    assert [(c.folder, c.present, c.expired) for c in copies] == [
        ("/gone", False, False),
        ("/old", True, True),
        ("/renewed", True, False),
        ("/forever", True, False),
        ("/bad", True, False),
    ]
    assert copies[2].valid_before == NOW + timedelta(hours=5)  # the copy's own certificate wins over the record
    assert copies[2].fingerprint == key.get_fingerprint("sha256")
    assert json.loads(copies[0].model_dump_json())["folder"] == "/gone"
