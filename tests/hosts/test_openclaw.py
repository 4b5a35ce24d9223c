"""A real host, the OpenClaw CLI, registers and probes the server and installs SKILL.md; no model is involved.

OpenClaw (npm `openclaw`, Node 24) comes from SJTU_HPC_OPENCLAW_BIN, else from `.ci/npm-openclaw` (installed once
under /var/tmp). Every run has a scratch HOME whose openclaw.json turns off the update check, the hosted model
catalog and the /tmp/openclaw log; where `unshare --net` works (root, as in CI) each command also runs in an
empty network namespace, so nothing here can reach the network.

What OpenClaw 2026.9.6 does (observed; the tests below hold it to that):
- `mcp add NAME --command CMD --arg X...` probes, then saves `mcp.servers.NAME = {command, args}` (the shape of
  clients/openclaw.json); `mcp probe --json` and `mcp doctor [--probe] --json` report on saved servers.
- protocol: the 2025-11-25 era (`initialize`, then `notifications/initialized`, then `tools/list`), with
  `capabilities: {}` (no roots, no elicitation, no sampling) and clientInfo `openclaw-bundle-mcp`; the server
  answers 2025-11-25. The probe reads resources/prompts support from the server's capabilities and lists the
  tools as `<server>__<tool>`, adding `resources_list`, `resources_read`, `prompts_list`, `prompts_get` utility
  tools; its per-request timeout is 60 s. It gives no `approvalHint`, as every tool carries annotations.
- `mcp doctor` checks that the command resolves: the README's snippet (`sjtu-hpc-mcp`) is an error unless the
  installed console script is on PATH.
- `skills install DIR` copies DIR to ~/.openclaw/workspace/skills/<name>/; `skills info NAME --json` reports
  the frontmatter, `requires.bins` and whether they are on PATH (`eligible`, `missing`).
- No CLI command calls an MCP tool without a model: the Gateway's `tools.invoke` answers
  `Tool not available: sjtu-hpc__credential_status`, since MCP tools exist only inside an agent run.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conftest import TOOL_NAMES

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
HOSTS = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
SERVER = "sjtu-hpc"
TOOLS = set(TOOL_NAMES)
UTILITY_TOOLS = {"resources_list", "resources_read", "prompts_list", "prompts_get"}  # OpenClaw's own, per server
PROTOCOL = "2025-11-25"
REQUEST_TIMEOUT_MS = 60_000
COMMAND_TIMEOUT_S = 120  # one openclaw command; its MCP requests give up after 60 s
SYSTEM_PATH = "/usr/bin:/bin"  # no sjtu-hpc-mcp here (checked where it matters)


# -- finding OpenClaw --------------------------------------------------------------------------------------------


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def openclaw_bin() -> Path:
    """The bin folder with node (24) and openclaw: SJTU_HPC_OPENCLAW_BIN, else what .ci/npm-openclaw installs."""
    given = os.environ.get("SJTU_HPC_OPENCLAW_BIN")
    if given:
        folder = Path(given)
    else:
        try:
            r = subprocess.run(
                [str(ROOT / ".ci/npm-openclaw")], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            unavailable(f"OpenClaw could not be installed (.ci/npm-openclaw: {e})")
        if r.returncode != 0:
            unavailable(
                f"OpenClaw could not be installed (.ci/npm-openclaw needs npm and the npm registry): {r.stderr[-1500:]}"
            )
        folder = Path(r.stdout.strip().splitlines()[-1])
    if not ((folder / "openclaw").exists() and (folder / "node").exists()):
        unavailable(f"no openclaw and node in {folder} (SJTU_HPC_OPENCLAW_BIN or .ci/npm-openclaw)")
    return folder


def _netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    ok = subprocess.run([unshare, "--net", "--", "true"], capture_output=True, timeout=10).returncode == 0
    return [unshare, "--net", "--"] if ok else []


NETNS = _netns_prefix()


# -- the harness -------------------------------------------------------------------------------------------------


@dataclass
class OpenClaw:
    """The openclaw CLI with a scratch HOME; `run(path=...)`: what else is on PATH (the venv's bin by default)."""

    bin: Path
    home: Path

    @property
    def config_path(self) -> Path:
        return self.home / ".openclaw" / "openclaw.json"

    @property
    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.config_path.read_text()))

    def env(self, path: Sequence[str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SJTU_HPC_", "OPENCLAW_"))}
        env.update(
            HOME=str(self.home),
            PATH=os.pathsep.join([str(self.bin), *path]),  # openclaw is `#!/usr/bin/env node`: Node 24 first
            NO_COLOR="1",
            OPENCLAW_OFFLINE="1",  # no downloads of helper binaries
            OPENCLAW_NO_AUTO_UPDATE="1",
            OPENCLAW_DISABLE_BONJOUR="1",
            OPENCLAW_SKIP_CHANNELS="1",
        )
        return env

    def run(
        self, *args: str, path: Sequence[str] = (str(VENV_BIN), SYSTEM_PATH), cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [*NETNS, str(self.bin / "node"), str(self.bin / "openclaw"), *args]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            env=self.env(path),
            cwd=cwd or self.home,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"openclaw {shlex.join(args)}: {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r

    def json(self, *args: str, expect_rc: int = 0, **kw: Any) -> Any:
        r = self.run(*args, **kw)
        assert r.returncode == expect_rc, f"openclaw {shlex.join(args)}: {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr}"
        return json.loads(r.stdout)


@pytest.fixture
def claw(openclaw_bin: Path, tmp_path: Path) -> OpenClaw:
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    offline = {
        "logging": {"file": str(tmp_path / "openclaw.log")},  # not in /tmp/openclaw (still made, empty)
        "update": {"checkOnStart": False},
        "models": {"catalogRefresh": {"enabled": False}},  # catalog.openclaw.ai
    }
    (home / ".openclaw" / "openclaw.json").write_text(json.dumps(offline, indent=2))
    return OpenClaw(openclaw_bin, home)


def snippet_entry() -> dict[str, Any]:
    """The server entry of clients/openclaw.json (the README's OpenClaw config)."""
    return dict(json.loads((ROOT / "clients/openclaw.json").read_text())["mcp"]["servers"][SERVER])


def assert_probe_lists_the_server(probe: dict[str, Any], name: str) -> dict[str, Any]:
    assert probe["diagnostics"] == [], probe["diagnostics"]
    server = probe["servers"][name]
    assert server["tools"] == len(TOOLS), server
    names = {t.removeprefix(f"{name}__") for t in probe["tools"] if t.startswith(f"{name}__")}
    assert names == TOOLS | UTILITY_TOOLS, sorted(names)
    assert server["resources"] is True and server["prompts"] is True, server
    assert server["requestTimeoutMs"] == REQUEST_TIMEOUT_MS, server
    assert "approvalHint" not in server, server["approvalHint"]  # would mean: tools without safety annotations
    return dict(server)


# -- the tests ---------------------------------------------------------------------------------------------------


def test_mcp_add_saves_the_server_and_probe_lists_its_nine_tools(claw: OpenClaw, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    args = ["-m", "sjtu_hpc_mcp", "--workspace", str(ws)]
    add = claw.ok("mcp", "add", SERVER, "--command", sys.executable, *(a for arg in args for a in ("--arg", arg)))
    assert f'Saved MCP server "{SERVER}"' in add.stdout, add.stdout  # after its own probe
    entry = claw.config["mcp"]["servers"][SERVER]
    assert entry == {"command": sys.executable, "args": args}
    assert entry.keys() == snippet_entry().keys()  # what clients/openclaw.json has, with the absolute command

    probe = claw.json("mcp", "probe", "--json")
    server = assert_probe_lists_the_server(probe, SERVER)
    assert server["launch"] == shlex.join([sys.executable, *args])

    doctor = claw.json("mcp", "doctor", "--json")
    assert doctor["ok"] is True and doctor["servers"] == [{"name": SERVER, "ok": True, "issues": []}], doctor
    assert not (ws / "credentials").exists(), "listing tools must not create anything"


def test_the_readme_snippet_passes_doctor_only_with_the_console_script_on_path(claw: OpenClaw) -> None:
    config = claw.config
    config["mcp"] = json.loads((ROOT / "clients/openclaw.json").read_text())["mcp"]
    claw.config_path.write_text(json.dumps(config, indent=2))
    assert shutil.which("sjtu-hpc-mcp", path=SYSTEM_PATH) is None

    missing = claw.json("mcp", "doctor", "--json", expect_rc=1, path=[SYSTEM_PATH])
    issues = missing["servers"][0]["issues"]
    assert issues == [{"level": "error", "message": "stdio command not found or not executable: sjtu-hpc-mcp"}]

    doctor = claw.json("mcp", "doctor", "--probe", "--json")  # the venv's bin on PATH, as after `uv tool install`
    assert doctor["ok"] is True and doctor["servers"] == [{"name": SERVER, "ok": True, "issues": []}], doctor
    assert not (claw.home / ".openclaw/workspace/credentials").exists(), "the default workspace stays untouched"


def test_what_openclaw_sends_and_the_server_answers(claw: OpenClaw, tmp_path: Path) -> None:
    """The probe's wire, both ways: stdio_tee.py records the host's lines, `tee` the server's."""
    sent, answered = tmp_path / "sent.jsonl", tmp_path / "answered.jsonl"
    server = [sys.executable, "-m", "sjtu_hpc_mcp", "--workspace", str(tmp_path / "ws")]
    pipeline = f"{shlex.join([sys.executable, str(HOSTS / 'stdio_tee.py'), str(sent), '--', *server])}"
    pipeline += f" | tee -a {shlex.quote(str(answered))}"
    claw.ok("mcp", "set", SERVER, json.dumps({"command": "sh", "args": ["-c", pipeline]}))
    assert_probe_lists_the_server(claw.json("mcp", "probe", SERVER, "--json"), SERVER)

    host = [json.loads(line) for line in sent.read_text().splitlines() if line.strip()]
    assert [m["method"] for m in host] == ["initialize", "notifications/initialized", "tools/list"], host
    init = host[0]["params"]
    assert init["protocolVersion"] == PROTOCOL, init
    assert init["capabilities"] == {}, init  # no roots, elicitation or sampling: every elicitation falls back
    assert init["clientInfo"]["name"] == "openclaw-bundle-mcp", init

    replies = {m["id"]: m for m in map(json.loads, answered.read_text().splitlines()) if "id" in m}
    result = replies[host[0]["id"]]["result"]
    assert result["protocolVersion"] == PROTOCOL
    assert {"tools", "resources", "prompts"} <= result["capabilities"].keys()
    tools = replies[host[2]["id"]]["result"]["tools"]
    assert {t["name"] for t in tools} == TOOLS
    assert all(t.get("annotations", {}).keys() >= {"readOnlyHint", "destructiveHint"} for t in tools)


def frontmatter(text: str) -> dict[str, str]:
    head = text.split("---\n", 2)[1]
    return dict(line.split(": ", 1) for line in head.splitlines() if ": " in line and not line.startswith(" "))


def test_skill_installs_and_its_requirement_is_the_console_script(claw: OpenClaw, tmp_path: Path) -> None:
    skill_md = (ROOT / "SKILL.md").read_text()
    meta = frontmatter(skill_md)
    name = meta["name"]
    source = tmp_path / "skill-src" / name
    source.mkdir(parents=True)
    shutil.copy(ROOT / "SKILL.md", source / "SKILL.md")  # the folder holds the skill only

    install = claw.ok("skills", "install", str(source), cwd=tmp_path)
    assert f"Installed {name} from path" in install.stdout and not install.stderr.strip(), install
    installed = claw.home / ".openclaw/workspace/skills" / name / "SKILL.md"
    assert installed.read_text() == skill_md

    info = claw.json("skills", "info", name, "--json", cwd=tmp_path)
    assert info["name"] == name and info["description"] == meta["description"], info
    assert info["source"] == "openclaw-workspace" and info["disabled"] is False, info
    assert info["requirements"]["bins"] == ["sjtu-hpc-mcp"], info["requirements"]
    assert all(v == [] for v in info["missing"].values()), info["missing"]
    assert info["eligible"] is True and info["modelVisible"] is True, info
    assert [(i["kind"], i["bins"]) for i in info["install"]] == [("uv", ["sjtu-hpc-mcp"])], info["install"]

    without = claw.json("skills", "info", name, "--json", cwd=tmp_path, path=[SYSTEM_PATH])
    assert without["eligible"] is False and without["missing"]["bins"] == ["sjtu-hpc-mcp"], without

    # OpenClaw's own skill validator (skill-creator), on the repository's file.
    validator = claw.bin.parent / "openclaw/skills/skill-creator/scripts/quick_validate.py"
    r = subprocess.run([sys.executable, str(validator), str(source)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "Skill is valid!", r.stdout + r.stderr
