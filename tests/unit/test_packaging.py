"""Packaging: --version, range-checked options, the licence, no machine paths, a start-up that spawns nothing."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sjtu_hpc_mcp import __version__
from sjtu_hpc_mcp.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_version_flag() -> None:
    r = subprocess.run([sys.executable, "-m", "sjtu_hpc_mcp", "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == f"sjtu-hpc-mcp {__version__}"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__


@pytest.mark.parametrize(
    ("flag", "value", "shown"),
    [
        ("--max-channels", "0", "--max-channels 0: must be from 1 to 64"),
        ("--max-rows", "-5", "--max-rows -5: must be from 1 to 10000"),
        ("--http-port", "70000", "--http-port 70000: must be from 1 to 65535"),
        ("--approval-wait", "600", "--approval-wait 600: must be from 0 to 200"),
        ("--connect-timeout", "0", "--connect-timeout 0: must be from 1 to 300"),
        ("--command-timeout", "abc", "--command-timeout abc: Input should be a valid number"),
        ("--page-port", "-1", "--page-port -1: must be from 0 to 65535"),
    ],
)
def test_numeric_options_are_range_checked(flag: str, value: str, shown: str) -> None:
    with pytest.raises(ValueError) as err:
        load_settings([flag, value], environ={})
    assert shown in str(err.value)


def test_environment_values_are_checked_and_named() -> None:
    with pytest.raises(ValueError, match="SJTU_HPC_MAX_CHANNELS 0: must be from 1 to 64"):
        load_settings([], environ={"SJTU_HPC_MAX_CHANNELS": "0"})


def test_every_numeric_setting_has_bounds() -> None:
    for name, info in Settings.model_fields.items():
        if info.annotation in (int, float):
            kinds = {k for m in info.metadata for k in ("ge", "le", "gt", "lt") if hasattr(m, k)}
            assert {"ge", "le"} <= kinds or {"gt", "le"} <= kinds, name


def test_licence_file_and_spdx_string() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert "LICENSE" in project.get("license-files", [])
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


# This checkout, the folder beside it, the developer's home and macOS homes: paths only one machine has.
_HOME = str(Path.home()).rstrip("/")
MACHINE_PATH = re.compile(
    "|".join(
        [re.escape(str(ROOT)), re.escape(str(ROOT.parent / "shared")), r"/work/(?:main|shared)\b", r"/Users/\w"]
        + ([rf"(?<![\w/]){re.escape(_HOME)}/"] if _HOME not in ("", "/tmp") else [])
    )
)


def test_no_absolute_path_of_a_development_machine() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".gz"):
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{name}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_start_up_spawns_no_process_and_loads_asyncssh_only_when_used() -> None:
    """asyncssh's liboqs probe (ctypes.util.find_library) runs ldconfig and gcc: ~300 ms where gcc exists.

    Start-up does not import asyncssh at all; the first SSH operation does, without spawning either.
    """
    code = """
import sys
spawned = []
sys.addaudithook(lambda ev, args: spawned.append(args[0]) if ev in ("subprocess.Popen", "os.posix_spawn") else None)
import sjtu_hpc_mcp.services
import sjtu_hpc_mcp.app
print("asyncssh" in sys.modules, repr(spawned))
from sjtu_hpc_mcp.shell.sshlib import asyncssh
key = asyncssh.generate_private_key("ssh-ed25519")
print("asyncssh" in sys.modules, type(key).__module__.split(".")[0], repr(spawned))
"""
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["False []", "True asyncssh []"]
