"""Injection (issue 11, item 1): hypothesis fills every string field of every tool — the data tools' paths,
run_slurm's filters and sbatch options, the account fields, the local paths — with shell metacharacters,
command substitution, newlines, NUL, leading dashes, very long values, unicode look-alikes and traversal.

Each call is refused with a coded error (`E_…`, never E_INTERNAL) or runs with the value as inert data; a
canary file that any successful injection would create never appears on any lab node (each node's own
view of /tmp and of the person's homes) nor on this computer. One server (over stdio, against the lab and
the API double) serves the whole module; hypothesis drives it from this thread through a loop of its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import install_credentials, load_lab, make_user_cert, stdio_server
from e2e.lab_helpers import node_roots, server_args, text_of
from lab.api_double import run_double

pytestmark = [pytest.mark.lab]
RUN = uuid.uuid4().hex[:8]
CANARY = f"sjtu-canary-{RUN}"
TAG = f"inj{RUN}"
EXAMPLES = int(os.environ.get("SJTU_HPC_INJECTION_EXAMPLES", "20"))  # per field; the whole module stays < 1 min

# What a successful injection would run: create the canary, absolute (in /tmp) or relative (in the home).
COMMANDS = [f"touch /tmp/{CANARY}", f"touch {CANARY}", f"echo>/tmp/{CANARY}"]
WRAPS = [
    "; {c}",
    "$({c})",
    "`{c}`",
    "\n{c}",
    "\r\n{c}\n",
    "| {c}",
    "&& {c}",
    "' ; {c} ; '",
    '" ; {c} ; "',
    "\x00{c}",
    "${{IFS}}; {c}",
    "；{c}",  # fullwidth semicolon
    "＄（{c}）",  # fullwidth dollar and parentheses
    "\u2028{c}",  # line separator
    "%0a{c}",
    "\\\n{c}",
    "x' && {c} #",
]
RAW = [
    f"-oProxyCommand=touch /tmp/{CANARY}",
    f"--output=/tmp/{CANARY}",
    f"-rf /tmp/{CANARY}",
    f"../../../../../tmp/{CANARY}",
    f"..\\..\\{CANARY}",
    f"/tmp/{CANARY}",
    "A" * 5000 + f"; touch /tmp/{CANARY}",
    f"{CANARY}\u0338",
    f"ｌｕｓｔｒｅ:{CANARY}",  # fullwidth look-alike of a pool name
    f"/lustre/home/acct-hpc/hpcrobot/../../acct-other/otheruser/{CANARY}",
    f"~/{CANARY}",
    f"*; touch /tmp/{CANARY}",
    "\x00",
    "-",
    "--",
    "",
]
PAYLOAD = st.one_of(
    st.builds(lambda w, c: w.format(c=c), st.sampled_from(WRAPS), st.sampled_from(COMMANDS)),
    st.sampled_from(RAW),
)


def filled(prefixes: list[str]) -> st.SearchStrategy[str]:
    """A prefix that makes the value plausible (a pool, a folder, a partition) + an attack + maybe a tail."""
    return st.builds(
        lambda p, a, s: p + a + s, st.sampled_from(prefixes), PAYLOAD, st.sampled_from(["", "x", "/y", " z"])
    )


class Bridge:
    """The module's one server: a stdio client on a loop in a thread, called synchronously by hypothesis."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.calls = 0
        self.refused = 0
        self.inert = 0
        self.job_ids: list[str] = []
        self._stop: asyncio.Event | None = None
        self._client: Any = None
        self._done: Any = None

    def start(self, args: list[str], env: dict[str, str], stderr_path: Path) -> None:
        ready = threading.Event()

        async def hold() -> None:
            self._stop = asyncio.Event()
            async with stdio_server(args, env=env, stderr_path=stderr_path) as client:
                self._client = client
                ready.set()
                await self._stop.wait()

        self._done = asyncio.run_coroutine_threadsafe(hold(), self.loop)
        if not ready.wait(30):
            raise RuntimeError(f"server did not start: {self._done}")

    def call(self, tool: str, args: dict[str, Any]) -> tuple[bool, str, dict[str, Any] | None]:
        r = asyncio.run_coroutine_threadsafe(self._client.call_tool(tool, args), self.loop).result(120)
        self.calls += 1
        text = text_of(r)
        if r.is_error:
            self.refused += 1
        else:
            self.inert += 1
        return bool(r.is_error), text, r.structured_content

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            self._done.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def lab() -> dict[str, Any]:
    return load_lab()


@pytest.fixture(scope="module")
def server(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    ws = tmp_path_factory.mktemp("injection") / "workspace"
    ws.mkdir()
    home = tmp_path_factory.mktemp("home")  # the server's HOME: ~ and export folders stay in the test's tree
    install_credentials(ws, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    (ws / "credentials" / "hpc_user").write_text(lab["user"] + "\n")
    bridge = Bridge()
    with run_double(lab["ca_key"]) as (url, state):
        state.configure(token_ttl=3600)
        token = asyncio.run(_token(url))
        (ws / "credentials" / "hpc_token").write_text(token + "\n")
        before = _tops(lab)
        _seed(lab)
        bridge.start(
            server_args(lab, ws, "--api-url", url, "--approval-wait", "0"),
            {"HOME": str(home)},
            stderr_path=tmp_path_factory.mktemp("log") / "server.log",
        )
        try:
            yield bridge
        finally:
            bridge.stop()
            _cleanup(lab, before)


async def _token(url: str) -> str:
    import httpx2

    async with httpx2.AsyncClient() as http:
        r = await http.post(
            f"{url}/token",
            json={"domain": "pi", "operator": "hpcrobot", "password": "lab-password-1"},
            headers={"Accept": "text/plain"},
        )
        r.raise_for_status()
        return r.text.removeprefix("Bearer ").strip()


def _pools(lab: dict[str, Any]) -> list[Path]:
    rel = lab["home"].split("/", 2)[2]
    return [Path(f"/{p}/{rel}") for p in ("lustre", "dssg", "archive", "vault")]


def _tops(lab: dict[str, Any]) -> set[Path]:
    return {e for d in _pools(lab) if d.exists() for e in d.iterdir()}


def _seed(lab: dict[str, Any]) -> None:
    src = Path(lab["home"]) / TAG / "src"
    src.mkdir(parents=True)
    (src / "f.txt").write_text("inert\n")
    uid, gid = os.stat(lab["home"]).st_uid, os.stat(lab["home"]).st_gid
    for p in (src.parent, src, src / "f.txt"):
        os.chown(p, uid, gid)


def _odd(name: str) -> bool:
    return CANARY in name or TAG in name or name.startswith("-") or any(c in name for c in ";$`|&'\" \n\\（；＄")


def _cleanup(lab: dict[str, Any], before: set[Path]) -> None:
    """What the inert calls created: the tag's folders and new top-level entries with attack characters."""
    import shutil

    for entry in _tops(lab) - before:
        if _odd(entry.name):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    state = Path(lab["home"]) / ".sjtu-hpc-mcp" / "transfers"
    for meta in state.glob("*/meta.json") if state.exists() else []:
        if TAG in meta.read_text(errors="replace"):
            shutil.rmtree(meta.parent, ignore_errors=True)


def _check(bridge: Bridge, tool: str, args: dict[str, Any]) -> None:
    is_error, text, data = bridge.call(tool, args)
    if is_error:
        assert text.startswith("E_") and not text.startswith("E_INTERNAL"), (tool, args, text)
        assert "Traceback" not in text
    else:
        assert data is not None
        if tool == "run_slurm" and (data.get("submission") or {}).get("job_id"):
            bridge.job_ids.append(data["submission"]["job_id"])


# -- the fields -----------------------------------------------------------------------------------

POOLS = ["", "lustre:", f"lustre:{TAG}/", "vault:", f"archive:{TAG}/", "cold:", "/lustre/home/acct-hpc/hpcrobot/"]
HOT = f"/lustre/home/acct-hpc/hpcrobot/{TAG}/"
SCRIPT = "#!/bin/bash\ntrue\n"
SBATCH = {"command": "sbatch", "partition": "debug", "script": SCRIPT}

READ = {"action": "read", "path": f"lustre:{TAG}/src/f.txt"}
READ_MATCH = {**READ, "mode": "match"}
READ_TYPED = ("mode", "max_bytes", "offset", "ignore_case")  # manage_storage read's fields that are not text

# (tool, fixed arguments, field, prefixes that make the value reach deeper than the schema)
FIELDS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("request_token", {}, "username", ["", "hpcrobot"]),
    ("request_token", {"username": "hpcrobot"}, "password_file", ["", "/tmp/", "~/"]),
    ("request_certificate", {}, "export_to", ["", "~/.ssh/sjtu-hpc/", "/tmp/"]),
    ("query_quota", {"quota_type": "user"}, "name", ["", "hpcrobot", "acct-"]),
    ("update_user", {}, "email", ["", "a@b.c", "x@"]),
    ("update_user", {}, "jaccount", ["", "hpcrobot"]),
    ("update_user", {}, "password_file", ["", "/tmp/"]),
    ("get_user", {}, "node_group", ["", "pi"]),
    ("run_slurm", {"command": "sinfo"}, "partition", ["", "cpu"]),
    ("run_slurm", {"command": "squeue", "node_group": "pi"}, "name", ["", "job"]),
    ("run_slurm", {"command": "squeue", "node_group": "pi"}, "states[]", ["", "RUNNING"]),
    ("run_slurm", {"command": "squeue", "node_group": "pi"}, "job_ids[]", ["", "123"]),
    ("run_slurm", {"command": "sacct", "node_group": "pi"}, "start", ["", "now-1days", "2026-01-01"]),
    ("run_slurm", {"command": "sacct", "node_group": "pi"}, "end", ["", "now"]),
    ("run_slurm", {"command": "scancel", "node_group": "pi"}, "name", ["", "job"]),
    ("run_slurm", {"command": "job_output", "node_group": "pi"}, "job_ids[]", ["", "1"]),
    ("run_slurm", SBATCH, "options.job_name", ["", "j"]),
    ("run_slurm", SBATCH, "options.output", ["", HOT]),
    ("run_slurm", SBATCH, "options.error", ["", HOT]),
    ("run_slurm", SBATCH, "options.workdir", ["", HOT]),
    ("run_slurm", SBATCH, "options.time", ["", "10"]),
    ("run_slurm", SBATCH, "options.mem", ["", "1G"]),
    ("run_slurm", SBATCH, "options.array", ["", "1-2"]),
    (
        "run_slurm",
        SBATCH,
        "options.dependency",
        ["", "afterok:1"],
    ),
    ("run_slurm", SBATCH, "options.begin", ["", "now+1"]),
    ("run_slurm", {"command": "modules", "node_group": "sy"}, "module", ["", "gcc", "gcc/13.2.0", "cuda/"]),
    ("run_slurm", {**SBATCH, "test_only": True}, "notify", ["", "end", "fail", "both"]),
    ("transfer_data", {"action": "start", "destination": f"vault:{TAG}/d"}, "source", POOLS),
    ("transfer_data", {"action": "start", "source": f"lustre:{TAG}/src"}, "destination", POOLS),
    ("transfer_data", {"action": "status"}, "transfer_id", ["", "data-"]),
    ("transfer_data", {"action": "start", "source": f"lustre:{TAG}/src"}, "destination", ["local:", "local:/tmp/"]),
    ("manage_storage", {"action": "list"}, "path", POOLS),
    ("manage_storage", {"action": "usage"}, "path", POOLS),
    ("manage_storage", {"action": "mkdir"}, "path", [f"lustre:{TAG}/", f"vault:{TAG}/", "lustre:"]),
    ("manage_storage", {"action": "remove"}, "path", POOLS),  # without confirm: a preview at most
    ("manage_storage", {"action": "read"}, "path", POOLS),
    ("manage_storage", {"action": "stat"}, "path", POOLS),
    ("manage_storage", READ_MATCH, "pattern", ["", "inert", "-", "--", "-e"]),
    *[("manage_storage", READ, field, ["", "head", "match", "1", "-1"]) for field in READ_TYPED],
]


def with_value(fixed: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    args = {k: (dict(v) if isinstance(v, dict) else v) for k, v in fixed.items()}
    if field.endswith("[]"):
        args[field[:-2]] = [value]
    elif "." in field:
        outer, inner = field.split(".", 1)
        args.setdefault(outer, {})[inner] = value
    else:
        args[field] = value
    return args


@pytest.mark.parametrize(("tool", "fixed", "field", "prefixes"), FIELDS, ids=[f"{t}.{f}" for t, _, f, _ in FIELDS])
def test_each_string_field_refuses_or_keeps_the_value_inert(
    server: Bridge, tool: str, fixed: dict[str, Any], field: str, prefixes: list[str]
) -> None:
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False
    )
    @given(value=filled(prefixes))
    def one(value: str) -> None:
        _check(server, tool, with_value(fixed, field, value))

    one()


@settings(max_examples=EXAMPLES * 2, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_field_of_a_call_at_once(server: Bridge, data: st.DataObject) -> None:
    """Several attacked fields in one call: the checks must not depend on which field comes first."""
    tool = data.draw(st.sampled_from(["run_slurm", "transfer_data", "manage_storage", "update_user"]))
    rows = [row for row in FIELDS if row[0] == tool]
    args: dict[str, Any] = {}
    for _, fixed, field, prefixes in data.draw(st.lists(st.sampled_from(rows), min_size=2, max_size=4, unique_by=id)):
        base = {**fixed, **args}
        args = with_value(base, field, data.draw(filled(prefixes)))
    _check(server, tool, args)


ANY_JSON = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 1023, 1024, 65536, 65537, 2**62, 2**62 + 1, 2**63, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["head", "tail", "match", "HEAD", "-rf", "--help"]),
    PAYLOAD,
    st.lists(PAYLOAD, max_size=2),
    st.dictionaries(st.sampled_from(["$gt", "mode"]), PAYLOAD, max_size=1),
)


@pytest.mark.parametrize("field", READ_TYPED)
def test_reads_typed_fields_take_any_json(server: Bridge, field: str) -> None:
    """manage_storage read's numbers, mode and flag: any JSON value is refused with a code or read inert."""

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(value=ANY_JSON, match=st.booleans())
    def one(value: Any, match: bool) -> None:
        _check(server, "manage_storage", {**(READ_MATCH | {"pattern": "inert"} if match else READ), field: value})

    one()


def test_every_field_of_manage_storage_is_fuzzed(server: Bridge) -> None:
    """A field added to manage_storage without a row here would go unfuzzed."""
    r = asyncio.run_coroutine_threadsafe(server._client.list_tools(), server.loop).result(30)
    props = set(next(t for t in r.tools if t.name == "manage_storage").input_schema["properties"])
    fuzzed = {field for tool, _, field, _ in FIELDS if tool == "manage_storage"}
    assert props - fuzzed == {"action", "limit", "confirm"}, props - fuzzed  # enum, bounded int, bool


# run_slurm's fields that are not fuzzed as text: enums, numbers, flags, and the job script (data by design)
RUN_SLURM_TYPED = {"command", "node_group", "test_only", "stream", "max_bytes", "wait_s", "limit", "confirm", "script"}


def test_every_field_of_run_slurm_is_fuzzed(server: Bridge) -> None:
    """A field added to run_slurm (modules' module, sbatch's notify…) without a row here would go unfuzzed."""
    r = asyncio.run_coroutine_threadsafe(server._client.list_tools(), server.loop).result(30)
    props = set(next(t for t in r.tools if t.name == "run_slurm").input_schema["properties"])
    fuzzed = {field.split(".")[0].removesuffix("[]") for tool, _, field, _ in FIELDS if tool == "run_slurm"}
    assert props - fuzzed == RUN_SLURM_TYPED, props - fuzzed


def test_no_canary_on_any_node_or_here(server: Bridge, lab: dict[str, Any]) -> None:
    """Last: let the inert jobs run, then look for the canary in every node's /tmp and the person's homes."""
    deadline = time.monotonic() + 30
    ids = ",".join(server.job_ids)
    while ids and time.monotonic() < deadline:
        import subprocess

        out = subprocess.run(["squeue", "-h", "-j", ids, "-o", "%i"], capture_output=True, text=True).stdout
        if not out.strip():
            break
        time.sleep(0.5)
    roots = node_roots(lab)
    assert len(roots) == 5, roots
    places = [Path("/tmp"), Path("/root"), *_pools(lab)]
    hits = [str(r / str(p).lstrip("/") / CANARY) for r in roots.values() for p in places]
    hits += [str(p / CANARY) for p in places]
    found = [h for h in hits if os.path.lexists(h)]
    deep = [str(p) for d in _pools(lab) if d.exists() for p in d.rglob(f"*{CANARY}*") if p.name == CANARY]
    # a file literally named CANARY inside a folder whose name carries the attack is inert data; one in a
    # home's top level or /tmp would be a command that ran
    assert not found, found
    print(
        f"\ninjection: {server.calls} calls ({server.refused} refused with a code, {server.inert} ran inert), "
        f"{len(server.job_ids)} inert jobs, canary found: {len(found)}; nested inert names: {len(deep)}"
    )
    figures = os.environ.get("SJTU_HPC_FIGURES")
    if figures:
        with open(figures, "a") as fh:
            fh.write(f"injection calls={server.calls} refused={server.refused} inert={server.inert} canary=0\n")
    assert server.calls > len(FIELDS) * 3
