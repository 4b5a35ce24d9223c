"""A real host, the Claude Code CLI, drives the server on the lab; the assertions are on what its model receives.

`claude -p` runs with a scratch HOME against `MessagesDouble`, a scripted stand-in for the Anthropic Messages
API: each journey is a script of tool calls (first `ToolSearch` `select:` to load the deferred MCP tools), and
every tool_result the host sends back is recorded as the model would read it: its text, bytes, is_error, and
the seconds from the tool_use to the result. `stdio_tee.py` records what the host sends the server; the
server's stderr goes to a file; `person_hook.py`, Claude Code's `Elicitation` hook, plays the person.

What Claude Code 2.1.328 does (observed; the tests below hold it to that):
- protocol 2026-07-28 (server/discover, no initialize); per-request `_meta` capabilities: roots, elicitation
  form and url, no `extensions` (so no tasks extension);
- on success its model gets only JSON.stringify(structuredContent), on error only the text, with is_error;
- elicitations arrive as `input_required` results (multi round-trip) and are answered by retrying the call with
  `inputResponses`. In -p mode with no hook, every elicitation, form or url, is answered `cancel` at once.
  With an `Elicitation` hook (no matcher needed; a matcher is compared with the MCP server's name, "hpc"
  here, and "*" matches all), the hook gets the message, mode, requested_schema (form) or url (url; no
  elicitation_id) on stdin, and its `hookSpecificOutput.action`/`content` is what goes back to the server.

Byte targets: credential_status ≤ 700 B, query_quota ≤ 600 B, a 20-job squeue ≤ 2× the raw squeue text; no
success result's structured part over 1.5× its text part (measured with the SDK client, which sees both).

With SJTU_HPC_FIGURES naming a file, one JSON line per tool_result the model received is appended to it:
{tool, case, bytes, seconds, is_error} (the README's table is made from it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import DATA, LOGIN, new_token, node_shell, server_args, text_of
from hosts.messages_double import MessagesDouble, Script, Step, ToolResult
from hosts.person_hook import type_password
from lab.api_double import DoubleState, run_double
from sjtu_hpc_mcp.core.slurm.commands import remote_argv, squeue_argv

pytestmark = pytest.mark.lab

HOSTS = Path(__file__).resolve().parent
CI_NPM_BIN = Path("/var/tmp/sjtu-hpc-ci/npm/node_modules/.bin")
SERVER = "hpc"  # the name in the mcp config: Claude Code calls the tools mcp__hpc__<tool>
PREFIX = f"mcp__{SERVER}__"
USER = "hpcrobot"
PASSWORD = "lab-password-1"  # the API double's password for hpcrobot (lab_helpers.new_token)
PROTOCOL = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
CODED = re.compile(r"^E_[A-Z0-9_]+: ")

CREDENTIAL_STATUS_MAX = 700
QUOTA_MAX = 600
STRUCTURED_OVER_TEXT_MAX = 1.5
SQUEUE_OVER_RAW_MAX = 2.0
CALL_MAX_S = 55
JOURNEY_MAX_S = 60  # one `claude -p` run, start to end

APPROVE = {"action": "accept", "content": {"approve": True}}
DECLINE = {"action": "decline"}
TYPE_PASSWORD = {"action": "accept", "password": PASSWORD}  # on the page, then accept the url elicitation


# -- finding Claude Code ---------------------------------------------------------------------------------------


def find_claude() -> Path:
    """claude in SJTU_HPC_NPM_BIN, else in the CI's npm folder; a failure in CI, a skip elsewhere."""
    folders = [Path(p) for p in (os.environ.get("SJTU_HPC_NPM_BIN"), str(CI_NPM_BIN)) if p]
    for folder in folders:
        if (folder / "claude").exists():
            return folder / "claude"
    reason = (
        f"the Claude Code CLI is not installed (no claude in {', '.join(map(str, folders))}); "
        ".ci/npm-tools installs it and .ci/run sets SJTU_HPC_NPM_BIN"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def claude() -> Path:
    return find_claude()


# -- the harness -----------------------------------------------------------------------------------------------


@dataclass
class Call(Step):
    """One step of the model's: an MCP tool of this server by its own name; `case` names it in the figures."""

    case: str = ""


def call(
    tool: str,
    arguments: dict[str, Any] | Callable[[list[ToolResult]], dict[str, Any]] | None = None,
    case: str = "",
    before: Callable[[list[ToolResult]], None] | None = None,
) -> Call:
    return Call(PREFIX + tool, {} if arguments is None else arguments, before, case)


class Person:
    """The person at the keyboard, played by the Elicitation hook: it answers from a plan file it reads on every
    call (so a step's `before` can change the answer), and logs what it was asked."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.plan_file = folder / "person-plan.json"
        self.log_file = folder / "person-heard.jsonl"

    def answer(self, form: dict[str, Any] | None = None, url: dict[str, Any] | None = None) -> None:
        plan = {k: v for k, v in (("form", form), ("url", url)) if v is not None}
        tmp = self.plan_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan))
        tmp.replace(self.plan_file)

    @property
    def heard(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]

    def env(self) -> dict[str, str]:
        return {"PERSON_HOOK_PLAN": str(self.plan_file), "PERSON_HOOK_LOG": str(self.log_file)}


@dataclass
class Session:
    """One `claude -p` run: what the model received (the server's tools only), and the records around it."""

    case: str
    results: list[ToolResult]  # the server's tool results, in order (the host's ToolSearch left out)
    cases: list[str]
    wire: list[dict[str, Any]]  # each JSON-RPC message the host sent the server
    stream: list[dict[str, Any]]  # the host's stream-json output
    requests: list[dict[str, Any]]  # the Messages API requests of the conversation (all the model was sent)
    server_log: str
    returncode: int
    seconds: float
    stderr: str = ""
    heard: list[dict[str, Any]] = field(default_factory=list)

    def data(self, i: int) -> dict[str, Any]:
        r = self.results[i]
        assert not r.is_error, f"{r.tool}: {r.text}"
        return r.json()

    def model_saw(self) -> str:
        """Everything sent to the model, as one string (for secret checks)."""
        return json.dumps(self.requests, ensure_ascii=False)

    def describe(self) -> str:
        rows = [f"{r.tool} {r.bytes} B {r.seconds:.2f} s error={r.is_error}: {r.text[:300]}" for r in self.results]
        return f"{self.case} (rc {self.returncode}, {self.seconds:.1f} s)\n" + "\n".join(rows)


class Host:
    """Claude Code against the server, the Messages API played by `double`; one scratch folder per run."""

    def __init__(self, claude: Path, double: MessagesDouble, lab: dict[str, Any], root: Path) -> None:
        self.claude = claude
        self.double = double
        self.lab = lab
        self.root = root
        self.runs = 0

    def person(self) -> Person:
        return Person(self.root / f"person-{self.runs + 1:02d}")

    def run(
        self,
        case: str,
        calls: list[Call],
        workspace: Path,
        *server_extra: str,
        person: Person | None = None,
        timeout: float = 110,
    ) -> Session:
        self.runs += 1
        folder = self.root / f"{self.runs:02d}-{re.sub(r'[^a-z0-9]+', '-', case.lower()).strip('-')[:40]}"
        home = folder / "home"
        (home / ".claude").mkdir(parents=True)
        wire, server_log = folder / "wire.jsonl", folder / "server.log"
        server = [sys.executable, "-m", "sjtu_hpc_mcp", *server_args(self.lab, workspace, *server_extra)]
        stderr_to_file = ["/bin/sh", "-c", 'exec "$@" 2>>"$0"', str(server_log)]
        argv = [str(HOSTS / "stdio_tee.py"), str(wire), "--", *stderr_to_file, *server]
        config = {"mcpServers": {SERVER: {"type": "stdio", "command": sys.executable, "args": argv}}}
        (folder / "mcp.json").write_text(json.dumps(config, indent=1))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "ANTHROPIC", "SJTU_HPC_"))}
        if person is not None:
            hook = f"{shlex.quote(sys.executable)} {shlex.quote(str(HOSTS / 'person_hook.py'))}"
            settings = {"hooks": {"Elicitation": [{"hooks": [{"type": "command", "command": hook}]}]}}
            (home / ".claude" / "settings.json").write_text(json.dumps(settings))
            env.update(person.env())
        env.update(
            HOME=str(home),
            PATH=os.pathsep.join([str(self.claude.parent), env.get("PATH", "")]),
            ANTHROPIC_BASE_URL=self.double.url,
            ANTHROPIC_API_KEY="sk-test",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
        )
        tools = sorted({c.tool for c in calls})
        search = Step("ToolSearch", {"query": "select:" + ",".join(tools), "max_results": len(tools)})
        failures: list[str] = []
        script = Script([search, *(_server_view(c, failures) for c in calls)])
        self.double.script = script
        argv = [str(self.claude), "-p", f"Journey: {case}.", "--mcp-config", str(folder / "mcp.json")]
        argv += ["--strict-mcp-config", "--allowedTools", f"{PREFIX}*", "--output-format", "stream-json", "--verbose"]
        start = time.monotonic()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this run started: claude, the tee, the server
            out, err = proc.communicate()
        seconds = time.monotonic() - start
        (folder / "stream.jsonl").write_text(out)
        (folder / "claude.stderr").write_text(err)
        results = [r for r in script.results if r.tool.startswith(PREFIX)]
        for r in results:
            r.tool = r.tool.removeprefix(PREFIX)
        session = Session(
            case=case,
            results=results,
            cases=[c.case or case for c in calls][: len(results)],
            wire=_json_lines(wire),
            stream=_json_lines(folder / "stream.jsonl"),
            requests=list(script.requests),
            server_log=server_log.read_text(errors="replace") if server_log.exists() else "",
            returncode=proc.returncode,
            seconds=seconds,
            stderr=err[-3000:],
            heard=person.heard if person is not None else [],
        )
        (folder / "results.json").write_text(
            json.dumps(
                [{"tool": r.tool, "text": r.text, "is_error": r.is_error, "seconds": r.seconds} for r in results],
                indent=1,
                ensure_ascii=False,
            )
        )
        record_figures(session)
        assert not failures, "a step's callback failed (the conversation ended there):\n" + "\n".join(failures)
        assert proc.returncode == 0, session.describe() + "\n" + session.stderr
        loaded = {
            ref.get("tool_name")
            for rq in script.requests
            for m in rq.get("messages", [])
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if b.get("type") == "tool_result"
            for ref in (b.get("content") if isinstance(b.get("content"), list) else [])
        }
        assert set(tools) <= loaded, f"ToolSearch did not load {set(tools) - loaded}"
        assert len(results) == len(calls), session.describe()
        assert seconds < JOURNEY_MAX_S, f"the journey took {seconds:.1f} s\n{session.describe()}"
        return session


def _server_view(c: Call, failures: list[str]) -> Step:
    """The step as the double plays it: its callbacks see only the server's results (not ToolSearch's), and a
    callback that raises (in the double's thread) is reported by the test instead of lost."""

    def ours(results: list[ToolResult]) -> list[ToolResult]:
        return [r for r in results if r.tool.startswith(PREFIX)]

    def guarded(fn: Callable[[list[ToolResult]], Any]) -> Callable[[list[ToolResult]], Any]:
        def run(results: list[ToolResult]) -> Any:
            try:
                return fn(ours(results))
            except BaseException:
                failures.append(f"{c.case or c.tool}: {traceback.format_exc()}")
                raise

        return run

    given = c.input
    arguments = guarded(given) if callable(given) else given
    return Step(c.tool, arguments, guarded(c.before) if c.before is not None else None)


def _json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def record_figures(session: Session) -> None:
    target = os.environ.get("SJTU_HPC_FIGURES")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as fh:
        for r, case in zip(session.results, session.cases, strict=False):
            line = {
                "tool": r.tool,
                "case": case,
                "bytes": r.bytes,
                "seconds": round(r.seconds, 3),
                "is_error": r.is_error,
            }
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def double() -> Iterator[MessagesDouble]:
    with MessagesDouble() as d:
        yield d


@pytest.fixture
def host(claude: Path, double: MessagesDouble, lab: dict[str, Any], tmp_path: Path) -> Host:
    return Host(claude, double, lab, tmp_path / "runs")


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A workspace path as long as a person's (`/home/<name>/.openclaw/workspace`): paths are part of the bytes
    measured, and pytest's own tmp paths are twice as long."""
    top = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    ws = top / ".openclaw" / "workspace"
    ws.mkdir(parents=True)
    yield ws
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def api(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    """The HPC API double, certificates signed by the lab's CA (they log in to the lab's nodes)."""
    with run_double(lab["ca_key"]) as pair:
        yield pair


@pytest.fixture
def lab_creds(lab: dict[str, Any], workspace: Path) -> Path:
    """A key and a certificate from the lab's CA (SSH works), no API token."""
    return install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])), token=None)


def api_token(workspace: Path, url: str) -> str:
    """A real token of the API double for hpcrobot in the workspace (and the username beside it)."""
    token = new_token(url)
    creds = workspace / "credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    (creds / "hpc_token").write_text(token + "\n")
    (creds / "hpc_token").chmod(0o600)
    (creds / "hpc_user").write_text(USER + "\n")
    return token


def sh(lab: dict[str, Any], node: str, command: str, check: bool = True) -> str:
    """A command as the lab user on an entry node (from the test thread or a step's callback)."""

    async def run() -> str:
        async with node_shell(lab, node) as shell:
            return str(await shell(command, check=check))

    return asyncio.run(run())


@pytest.fixture
def tag(lab: dict[str, Any]) -> Iterator[str]:
    """A name for this test's jobs and files; its jobs are cancelled and its files removed afterwards."""
    name = "cc" + uuid.uuid4().hex[:8]
    yield name
    outputs = f"sacct -n -X -P --name={name} --format=JobID -S now-2hours | sed 's|.*|slurm-&.out|' | xargs -r rm -f --"
    sh(lab, LOGIN["pi"], f"scancel --name={name} 2>/dev/null; cd && {outputs}; true", check=False)
    rel = lab["home"].split("/", 2)[2]
    paths = " ".join(shlex.quote(f"/{pool}/{rel}/{name}") for pool in ("lustre", "archive", "vault"))
    sh(
        lab,
        DATA,
        f"rm -rf -- {paths}; grep -l -F -- {name} ~/.sjtu-hpc-mcp/transfers/*/meta.json 2>/dev/null "
        "| xargs -r -n1 dirname | xargs -r rm -rf --",
        check=False,
    )


def job_ids_in(data: dict[str, Any]) -> list[str]:
    table = data.get("table") or {}
    columns = table.get("columns", [])
    if "job_id" not in columns:
        return []
    i = columns.index("job_id")
    return [str(row[i]) for row in table.get("rows", [])]


def answers(s: Session) -> list[dict[str, Any]]:
    """What the host answered the server's questions (inputResponses of the retried tools/call), in order."""
    calls = [m.get("params", {}) for m in s.wire if m.get("method") == "tools/call"]
    return [answer for params in calls for answer in (params.get("inputResponses") or {}).values()]


def quota_subjects(data: dict[str, Any]) -> set[str]:
    """Whose quotas the result shows, `user hpcrobot`, `account acct-hpc` (a table, or the older list of lines)."""
    if "lines" in data:
        return {f"{line['quota_type']} {line['name']}" for line in data["lines"]}
    table = data["quota"]
    i = table["columns"].index("quota")
    return {str(row[i]) for row in table.get("rows", [])}


def submission_id(results: list[ToolResult], index: int = 0) -> str:
    return str(results[index].json()["submission"]["job_id"])


# -- what Claude Code declares on the wire ---------------------------------------------------------------------


def test_what_claude_code_declares_on_the_wire(host: Host, workspace: Path) -> None:
    s = host.run("wire declaration", [call("credential_status")], workspace)
    assert s.wire, "stdio_tee recorded nothing"
    methods = [m.get("method") for m in s.wire if "method" in m]
    assert methods[0] == "server/discover" and "initialize" not in methods, methods
    requests = [m for m in s.wire if "id" in m and "method" in m]
    for m in requests:
        meta = m.get("params", {}).get("_meta", {})
        assert meta.get("io.modelcontextprotocol/protocolVersion") == PROTOCOL, m
        caps = meta.get("io.modelcontextprotocol/clientCapabilities", {})
        assert set(caps.get("elicitation", {})) == {"form", "url"}, caps
        assert "roots" in caps, caps
        # Observed in 2.1.328: no extensions, so no tasks. A build that declares them fails here on purpose:
        # then the tasks extension (core/tasks.py) is reachable from Claude Code and deserves its journeys.
        assert "extensions" not in caps, f"Claude Code now declares extensions: {caps['extensions']}"
    assert TASKS not in json.dumps(s.wire), "Claude Code now mentions the tasks extension"
    info = requests[0]["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]
    assert info["name"] == "claude-code", info


# -- 1. first contact ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_first_contact_with_an_empty_workspace(host: Host, lab: dict[str, Any], workspace: Path) -> None:
    s = host.run("first contact, empty workspace", [call("credential_status")], workspace)
    (r,) = s.results
    data = s.data(0)
    assert data["ready_for_ssh"] is False and data["ready_for_api"] is False, r.text
    assert "request_token" in data["next_step"], data["next_step"]
    assert r.bytes <= CREDENTIAL_STATUS_MAX, f"credential_status: {r.bytes} B > {CREDENTIAL_STATUS_MAX} B: {r.text}"
    # What the model got is exactly JSON.stringify(structuredContent): the SDK client sees the same structure.
    async with stdio_server(server_args(lab, workspace)) as c:
        sdk = await c.call_tool("credential_status", {})
    assert sdk.structured_content == data
    assert r.bytes == len(compact(sdk.structured_content))


def test_first_contact_with_installed_credentials(host: Host, lab: dict[str, Any], workspace: Path) -> None:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    s = host.run("first contact, credentials installed", [call("credential_status")], workspace)
    (r,) = s.results
    data = s.data(0)
    assert data["ready_for_ssh"] is True and data["ready_for_api"] is True, r.text
    assert data["next_step"], r.text
    assert "PRIVATE KEY" not in s.model_saw() and "test-token" not in s.model_saw()
    assert r.bytes <= CREDENTIAL_STATUS_MAX, f"credential_status: {r.bytes} B > {CREDENTIAL_STATUS_MAX} B: {r.text}"


# -- 2. a token from the person's password file ----------------------------------------------------------------


def test_token_from_a_password_file(host: Host, api: tuple[str, DoubleState], workspace: Path, tmp_path: Path) -> None:
    url, _ = api
    pw = tmp_path / "uploaded-password.txt"
    pw.write_text(PASSWORD + "\n")
    s = host.run(
        "token by password file",
        [call("request_token", {"username": USER, "password_file": str(pw)})],
        workspace,
        "--api-url",
        url,
    )
    data = s.data(0)
    assert data["status"] == "issued" and data.get("password_file_deleted") is True, s.describe()
    assert not pw.exists()
    token = (workspace / "credentials" / "hpc_token").read_text().strip()
    assert token
    for secret in (PASSWORD, token):
        assert secret not in s.model_saw()
        assert secret not in json.dumps(s.stream) and secret not in s.server_log
    assert PASSWORD not in json.dumps(s.wire)  # only the file's path went to the server


# -- 3. a token from the one-time page -------------------------------------------------------------------------


def test_token_by_page_without_a_hook(host: Host, api: tuple[str, DoubleState], workspace: Path) -> None:
    """No hook: the model gets the page at once; the person types the password there; the next call has it."""
    url, _ = api
    typed: list[int | str] = []

    def person_types_the_password(results: list[ToolResult]) -> None:
        typed.append(type_password(results[-1].json()["page_url"], PASSWORD))

    s = host.run(
        "token by page, no hook",
        [
            call("request_token", {"username": USER}, case="token by page: first call"),
            call(
                "request_token", {}, case="token by page: after the person typed it", before=person_types_the_password
            ),
        ],
        workspace,
        "--api-url",
        url,
    )
    first, second = s.results
    data = s.data(0)
    assert data["status"] == "waiting_for_password" and data["page_url"].startswith("http://127.0.0.1:"), first.text
    assert typed == [200], typed
    assert s.data(1)["status"] == "issued", second.text
    # If the server offered the page as a url elicitation, Claude Code -p (no hook) answered it `cancel`.
    assert all(a == {"action": "cancel"} for a in answers(s)), answers(s)
    print(f"token by page without a hook: the host answered {answers(s)}")
    token = (workspace / "credentials" / "hpc_token").read_text().strip()
    for secret in (PASSWORD, token):
        assert secret not in s.model_saw() and secret not in s.server_log
    assert first.seconds < 5, f"waiting_for_password came after {first.seconds:.1f} s (wanted < 5 s)"


def test_token_by_page_with_the_hook_typing_it(host: Host, api: tuple[str, DoubleState], workspace: Path) -> None:
    """The hook answers a url elicitation by typing the password on the page: issued at once, or (when the
    server sends no elicitation) waiting_for_password with the page."""
    url, _ = api
    person = host.person()
    person.answer(form=DECLINE, url=TYPE_PASSWORD)
    s = host.run(
        "token by page, hook types it",
        [call("request_token", {"username": USER})],
        workspace,
        "--api-url",
        url,
        person=person,
    )
    (r,) = s.results
    data = s.data(0)
    print(f"token by page with the hook: {data['status']} after {r.seconds:.1f} s; the hook heard {s.heard}")
    assert data["status"] in ("issued", "waiting_for_password"), r.text
    if data["status"] == "waiting_for_password":
        assert data["page_url"].startswith("http://127.0.0.1:"), r.text
    else:
        (heard,) = s.heard
        assert heard["input"]["mode"] == "url" and heard["input"]["url"].startswith("http://127.0.0.1:"), heard
        assert heard["page_status"] == 200, heard
        assert answers(s) == [{"action": "accept"}], answers(s)
    for entry in s.heard:
        assert entry["input"]["mcp_server_name"] == SERVER
    assert PASSWORD not in s.model_saw() and PASSWORD not in s.server_log
    assert r.seconds < 50, f"request_token took {r.seconds:.1f} s"


# -- 4. a certificate, with the person's two-factor approval ---------------------------------------------------


def test_certificate_waits_for_approval_then_is_issued(
    host: Host, api: tuple[str, DoubleState], workspace: Path
) -> None:
    url, state = api
    token = api_token(workspace, url)
    decided: list[dict[str, Any]] = []

    def person_approves(results: list[ToolResult]) -> None:
        state.wait_pending(5, 1)
        decided.extend(state.decide())

    s = host.run(
        "certificate with approval",
        [
            call("request_certificate", {}, case="certificate: before approval"),
            call("request_certificate", {}, case="certificate: after approval", before=person_approves),
        ],
        workspace,
        "--api-url",
        url,
        "--approval-wait",
        "3",
    )
    first, second = s.results
    assert s.data(0)["status"] == "waiting_for_approval", first.text
    assert decided, "nothing was pending approval"
    issued = s.data(1)
    assert issued["status"] == "issued" and USER in issued["principals"], second.text
    assert (workspace / "credentials" / "id_ed25519-cert.pub").exists()
    key = (workspace / "credentials" / "id_ed25519").read_text()
    saw = s.model_saw()
    assert "PRIVATE KEY" not in saw and key.strip().splitlines()[1] not in saw
    assert token not in saw
    assert max(first.seconds, second.seconds) <= CALL_MAX_S


# -- query_quota and get_user ----------------------------------------------------------------------------------


def test_quota_and_user(host: Host, api: tuple[str, DoubleState], workspace: Path) -> None:
    url, _ = api
    token = api_token(workspace, url)
    s = host.run(
        "quota and user",
        [call("query_quota", {}, case="quota: account and user"), call("get_user", {}, case="get_user")],
        workspace,
        "--api-url",
        url,
    )
    quota, user = s.results
    assert quota_subjects(s.data(0)) == {f"user {USER}", "account acct-hpc"}, quota.text
    u = s.data(1)
    assert u["username"] == USER and u["account"] == "acct-hpc", user.text
    assert token not in s.model_saw()
    assert quota.bytes <= QUOTA_MAX, f"query_quota: {quota.bytes} B > {QUOTA_MAX} B: {quota.text}"


# -- 5. sbatch, then wait --------------------------------------------------------------------------------------


def test_sbatch_then_wait(host: Host, workspace: Path, lab_creds: Path, tag: str) -> None:
    script = "#!/bin/bash\necho hello from claude code\n"
    options = {"time": "5", "mem": "100M", "job_name": tag}

    def wait_for_it(results: list[ToolResult]) -> dict[str, Any]:
        return {"command": "wait", "node_group": "pi", "job_ids": [submission_id(results)], "wait_s": 40}

    s = host.run(
        "sbatch then wait",
        [
            call(
                "run_slurm",
                {"command": "sbatch", "partition": "cpu", "script": script, "options": options},
                case="sbatch a tiny job",
            ),
            call("run_slurm", wait_for_it, case="wait for it"),
            call("run_slurm", wait_for_it, case="wait again (ended)"),
        ],
        workspace,
    )
    job_id = submission_id(s.results)
    assert re.fullmatch(r"\d+", job_id), s.results[0].text
    assert s.data(0)["node"] == LOGIN["pi"]
    final = s.data(2)
    assert final["done"] is True, s.describe()
    (job,) = final["jobs"]
    assert job["job_id"] == job_id and job["state"] == "COMPLETED" and job["exit_code"] == 0, job
    assert job["finished"] is True and job.get("elapsed"), job
    for r in s.results:
        assert r.seconds <= CALL_MAX_S, s.describe()


# -- 6. a transfer: start, then status until done --------------------------------------------------------------


def test_transfer_start_and_status(host: Host, lab: dict[str, Any], workspace: Path, lab_creds: Path, tag: str) -> None:
    home = lab["home"]
    sh(
        lab,
        DATA,
        f"mkdir -p {home}/{tag}/a && for i in 1 2 3; do head -c 20000 /dev/urandom > {home}/{tag}/a/f$i; done",
    )

    def status(results: list[ToolResult]) -> dict[str, Any]:
        return {"action": "status", "transfer_id": results[0].json()["transfer"]["id"], "wait_s": 20}

    s = host.run(
        "transfer start and status",
        [
            call(
                "transfer_data",
                {"action": "start", "source": f"lustre:{tag}", "destination": "cold"},
                case="transfer start",
            ),
            call("transfer_data", status, case="transfer status (wait_s 20)"),
            call("transfer_data", status, case="transfer status (done)"),
        ],
        workspace,
    )
    started = s.data(0)
    assert started["node"] == DATA and started["transfer"]["id"], s.results[0].text
    final = s.data(2)
    assert final["transfer"]["state"] == "done", s.describe()
    assert final["transfer"]["id"] == started["transfer"]["id"]
    for r in s.results:
        assert r.seconds <= CALL_MAX_S, s.describe()


# -- 7. consent: preview, declined, accepted -------------------------------------------------------------------


def pending_job(tag: str) -> Call:
    script = "#!/bin/bash\nsleep 300\n"
    options = {"time": "5", "mem": "100M", "job_name": tag, "begin": "now+1hour"}
    return call(
        "run_slurm",
        {"command": "sbatch", "partition": "cpu", "script": script, "options": options},
        case="sbatch a job that starts in an hour",
    )


def test_scancel_preview_decline_accept(host: Host, workspace: Path, lab_creds: Path, tag: str) -> None:
    person = host.person()  # answers nothing until told

    def scancel(confirm: bool) -> Callable[[list[ToolResult]], dict[str, Any]]:
        def arguments(results: list[ToolResult]) -> dict[str, Any]:
            args: dict[str, Any] = {"command": "scancel", "partition": "cpu", "job_ids": [submission_id(results)]}
            return {**args, "confirm": True} if confirm else args

        return arguments

    def squeue(results: list[ToolResult]) -> dict[str, Any]:
        return {"command": "squeue", "partition": "cpu", "job_ids": [submission_id(results)]}

    s = host.run(
        "consent to scancel",
        [
            pending_job(tag),
            call("run_slurm", scancel(False), case="scancel without confirm (preview)"),
            call("run_slurm", squeue, case="squeue after the preview"),
            call(
                "run_slurm",
                scancel(True),
                case="scancel confirm, person declines",
                before=lambda _: person.answer(form=DECLINE),
            ),
            call("run_slurm", squeue, case="squeue after the decline"),
            call(
                "run_slurm",
                scancel(True),
                case="scancel confirm, person accepts",
                before=lambda _: person.answer(form=APPROVE),
            ),
            call("run_slurm", squeue, case="squeue after the cancel"),
        ],
        workspace,
        person=person,
    )
    job_id = submission_id(s.results)
    preview, after_preview, declined, after_decline, cancelled, after_cancel = (s.data(i) for i in range(1, 7))
    assert preview.get("cancelled") is False and job_id in job_ids_in(preview), s.results[1].text
    assert job_ids_in(after_preview) == [job_id], s.results[2].text
    assert declined.get("cancelled") is False and "declined" in declined["summary"], s.results[3].text
    assert job_ids_in(after_decline) == [job_id], s.results[4].text
    assert cancelled["cancelled"] is True, s.results[5].text
    assert job_ids_in(after_cancel) == [], s.results[6].text
    # The person was asked twice, in a form, about this job; never for the preview.
    assert [h["action"] for h in s.heard] == ["decline", "accept"], s.heard
    for h in s.heard:
        asked = h["input"]
        assert asked["hook_event_name"] == "Elicitation" and asked["mode"] == "form", asked
        assert asked["mcp_server_name"] == SERVER and job_id in asked["message"], asked
        assert "approve" in asked["requested_schema"]["properties"], asked
    assert answers(s) == [DECLINE, APPROVE], answers(s)
    print("the hook heard:", json.dumps([h["input"]["message"] for h in s.heard], ensure_ascii=False))


def test_scancel_confirm_without_a_hook_is_cancelled_by_claude_code(
    host: Host, workspace: Path, lab_creds: Path, tag: str
) -> None:
    """In -p mode with no Elicitation hook, Claude Code answers the consent form `cancel` at once: nothing is
    cancelled, and the model is told the person declined."""

    def scancel(results: list[ToolResult]) -> dict[str, Any]:
        return {"command": "scancel", "partition": "cpu", "job_ids": [submission_id(results)], "confirm": True}

    def squeue(results: list[ToolResult]) -> dict[str, Any]:
        return {"command": "squeue", "partition": "cpu", "job_ids": [submission_id(results)]}

    s = host.run(
        "scancel confirm, no hook",
        [
            pending_job(tag),
            call("run_slurm", scancel, case="scancel confirm, no hook"),
            call("run_slurm", squeue, case="squeue after it"),
        ],
        workspace,
    )
    job_id = submission_id(s.results)
    assert s.data(1).get("cancelled") is False, s.results[1].text
    assert job_ids_in(s.data(2)) == [job_id], s.results[2].text
    assert answers(s) == [{"action": "cancel"}], answers(s)
    assert s.results[1].seconds < 5


# -- 8. errors, and a long queue -------------------------------------------------------------------------------


def test_errors_are_coded_with_a_fix(host: Host, workspace: Path) -> None:
    s = host.run(
        "errors",
        [
            call("run_slurm", {"command": "squeue", "partiton": "cpu"}, case="unknown argument"),
            call("run_slurm", {"command": "squeue", "partition": "cpu", "limit": 0}, case="invalid value"),
            call("run_slurm", {"command": "cancel-all", "partition": "cpu"}, case="invalid command"),
        ],
        workspace,
    )
    for r in s.results:
        assert r.is_error, r.text
        assert CODED.match(r.text) and "Fix:" in r.text, r.text
    assert "'partition'" in s.results[0].text  # the closest valid name
    assert "limit" in s.results[1].text


def test_a_20_job_queue_is_at_most_twice_the_raw_squeue(
    host: Host, lab: dict[str, Any], workspace: Path, lab_creds: Path, tag: str
) -> None:
    submit = f"sbatch --parsable --hold --partition=cpu --job-name={tag} --time=5 --mem=100M --wrap='sleep 1'"
    ids = sh(lab, LOGIN["pi"], f"for i in $(seq 20); do {submit}; done").split()
    assert len(ids) == 20, ids
    raw = sh(lab, LOGIN["pi"], shlex.join(remote_argv(squeue_argv(name=tag, partitions=["cpu"]))))
    assert len(raw.splitlines()) == 20, raw
    s = host.run(
        "20-job squeue",
        [call("run_slurm", {"command": "squeue", "partition": "cpu", "name": tag}, case="squeue of 20 held jobs")],
        workspace,
    )
    (r,) = s.results
    data = s.data(0)
    assert sorted(job_ids_in(data)) == sorted(i.split(";")[0] for i in ids), r.text
    raw_bytes = len(raw.encode())
    print(
        f"squeue of 20 jobs: the model got {r.bytes} B; raw squeue printed {raw_bytes} B (×{r.bytes / raw_bytes:.2f})"
    )
    assert r.bytes <= SQUEUE_OVER_RAW_MAX * raw_bytes, (
        f"squeue of 20 jobs: {r.bytes} B > {SQUEUE_OVER_RAW_MAX} × {raw_bytes} B of raw squeue text"
    )


# -- structured ≤ 1.5 × text, where both can be seen: the SDK client, for the same calls -----------------------


def compact(value: Any) -> bytes:
    """JSON.stringify of the structured part, what Claude Code gives its model."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Ratios:
    """Each successful result's structured bytes against its text bytes."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int]] = []

    async def call(self, client: Client, case: str, tool: str, **arguments: Any) -> dict[str, Any]:
        r = await client.call_tool(tool, arguments)
        assert not r.is_error, f"{case}: {text_of(r)}"
        assert r.structured_content is not None, case
        self.rows.append((case, len(compact(r.structured_content)), len(text_of(r).encode())))
        return r.structured_content

    def check(self) -> None:
        table = "\n".join(f"{case}: structured {s} B, text {t} B, ×{s / max(t, 1):.2f}" for case, s, t in self.rows)
        print(table)
        over = [row for row in self.rows if row[1] > STRUCTURED_OVER_TEXT_MAX * row[2]]
        assert not over, f"structured part over {STRUCTURED_OVER_TEXT_MAX}× the text part:\n{table}"


@pytest.fixture
async def sdk_lab(lab: dict[str, Any], workspace: Path, lab_creds: Path) -> AsyncIterator[Client]:
    async with stdio_server(server_args(lab, workspace)) as c:
        yield c


@pytest.mark.anyio
async def test_structured_at_most_1_5_times_text_for_the_account_calls(
    lab: dict[str, Any], api: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    ratios = Ratios()
    url, state = api
    pw = tmp_path / "uploaded-password.txt"
    pw.write_text(PASSWORD + "\n")
    async with stdio_server(server_args(lab, workspace, "--api-url", url, "--approval-wait", "1")) as c:
        await ratios.call(c, "credential_status (empty)", "credential_status")
        await ratios.call(c, "request_token (file)", "request_token", username=USER, password_file=str(pw))
        await ratios.call(c, "request_token (refreshed)", "request_token")
        page = await ratios.call(c, "request_token (page)", "request_token", force_new=True)
        assert page["status"] == "waiting_for_password"
        waiting = await ratios.call(c, "request_certificate (waiting)", "request_certificate")
        assert waiting["status"] == "waiting_for_approval"
        state.decide()
        issued = await ratios.call(c, "request_certificate (issued)", "request_certificate")
        assert issued["status"] == "issued"
        await ratios.call(c, "credential_status (ready)", "credential_status")
        await ratios.call(c, "query_quota", "query_quota")
        await ratios.call(c, "get_user", "get_user")
    ratios.check()


@pytest.mark.anyio
async def test_structured_at_most_1_5_times_text_for_the_lab_calls(
    lab: dict[str, Any], sdk_lab: Client, tag: str
) -> None:
    ratios = Ratios()
    c = sdk_lab
    home = lab["home"]
    async with node_shell(lab, DATA) as data_sh:
        await data_sh(f"mkdir -p {home}/{tag}/a && head -c 20000 /dev/urandom > {home}/{tag}/a/f1")
    options = {"time": "5", "mem": "100M", "job_name": tag}
    sub = await ratios.call(
        c, "sbatch", "run_slurm", command="sbatch", partition="cpu", script="#!/bin/bash\necho hi\n", options=options
    )
    job = sub["submission"]["job_id"]
    pend = await ratios.call(
        c,
        "sbatch (pending)",
        "run_slurm",
        command="sbatch",
        partition="cpu",
        script="#!/bin/bash\nsleep 300\n",
        options={**options, "begin": "now+1hour"},
    )
    pending = pend["submission"]["job_id"]
    await ratios.call(c, "squeue", "run_slurm", command="squeue", partition="cpu", name=tag)
    await ratios.call(c, "wait", "run_slurm", command="wait", node_group="pi", job_ids=[job], wait_s=40)
    await ratios.call(c, "sacct", "run_slurm", command="sacct", partition="cpu", job_ids=[job])
    await ratios.call(c, "scancel (preview)", "run_slurm", command="scancel", partition="cpu", job_ids=[pending])
    await ratios.call(
        c, "scancel (confirm)", "run_slurm", command="scancel", partition="cpu", job_ids=[pending], confirm=True
    )
    start = await ratios.call(
        c, "transfer start", "transfer_data", action="start", source=f"lustre:{tag}", destination="cold"
    )
    await ratios.call(
        c, "transfer status", "transfer_data", action="status", transfer_id=start["transfer"]["id"], wait_s=20
    )
    await ratios.call(c, "sinfo", "run_slurm", command="sinfo", partition="cpu")
    ratios.check()
