"""LocalTransfers against the lab's data node: uploads and downloads over the pooled SFTP session."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.transfer.local import partial_name
from sjtu_hpc_mcp.settings import Settings, parse_host_map
from sjtu_hpc_mcp.shell.credentials import CredentialStore
from sjtu_hpc_mcp.shell.local import LocalTransfers
from sjtu_hpc_mcp.shell.ssh import SshPool

pytestmark = [pytest.mark.lab, pytest.mark.anyio]

NODE = "data.hpc.sjtu.edu.cn"
MB = 1 << 20


@pytest.fixture
async def pool(lab: dict[str, Any], workspace: Path) -> AsyncIterator[SshPool]:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    settings = Settings(
        workspace=workspace, known_hosts=Path(lab["known_hosts"]), host_map=parse_host_map(lab["host_map"])
    )
    p = SshPool(settings, CredentialStore(settings.credentials_dir))
    yield p
    await p.aclose()


@pytest.fixture
async def remote_dir(pool: SshPool, lab: dict[str, Any]) -> AsyncIterator[str]:
    path = f"{lab['home']}/lt-test-{uuid.uuid4().hex[:10]}"
    yield path
    await pool.run(NODE, ["rm", "-rf", "--", path], idempotent=True)


@pytest.fixture
async def lt(pool: SshPool) -> AsyncIterator[LocalTransfers]:
    t = LocalTransfers(pool)
    yield t
    await t.aclose()


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "top.txt": b"hello\n",
        "a/b/c.txt": b"deep " * 100,
        "a/big.bin": os.urandom(5 * MB),
        "a/empty.dat": b"",
        "n\u00e4me with space.txt": b"unicode\n",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "emptydir").mkdir()
    os.utime(root / "top.txt", (1_600_000_000, 1_600_000_000))
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def remote_sha(pool: SshPool, path: str) -> str:
    r = await pool.run(NODE, ["sha256sum", "--", path], idempotent=True)
    assert r.ok, r.stderr
    return r.stdout.split()[0]


async def run_to_end(lt: LocalTransfers, tid: str, limit: float = 120) -> Any:
    st = await lt.wait(tid, limit, None)
    assert st.state != "running", st
    return st


async def test_upload_folder_and_download_back_identical(
    lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    target = f"{remote_dir}/up"
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    assert plan.is_dir and len(plan.files) == len(files) and plan.overwrites == [] and plan.unchanged == 0
    assert plan.bytes_total == sum(len(b) for b in files.values())
    assert plan.id.startswith("local-") and plan.dirs == ("a", "a/b", "emptydir")
    st = await run_to_end(lt, lt.start(plan, overwrite=False).id)
    assert st.state == "done" and st.bytes_done == plan.bytes_total and st.percent == 100.0, st
    assert st.survives_restart is False and st.node == NODE and st.ended is not None
    assert st.source == f"local:{src}" and st.destination == target
    assert await remote_sha(pool, f"{target}/a/big.bin") == hashlib.sha256(files["a/big.bin"]).hexdigest()
    r = await pool.run(NODE, ["stat", "-c", "%Y %a", f"{target}/top.txt"], idempotent=True)
    assert r.stdout.split()[0] == "1600000000"
    r = await pool.run(NODE, ["find", target, "-name", "*.sjtu-hpc-partial"], idempotent=True)
    assert r.stdout == ""

    back = tmp_path / "back"
    plan = await lt.plan(node=NODE, direction="download", local=back, remote=target)
    assert plan.dirs == ("a", "a/b", "emptydir") and plan.overwrites == []
    st = await run_to_end(lt, lt.start(plan, overwrite=False).id)
    assert st.state == "done", st
    assert read_tree(back) == files
    assert (back / "emptydir").is_dir()
    assert int((back / "top.txt").stat().st_mtime) == 1_600_000_000
    assert int((back / "a/big.bin").stat().st_mtime) == int((src / "a/big.bin").stat().st_mtime)

    # A second run copies nothing: every file is complete.
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    assert plan.unchanged == len(files) and plan.overwrites == []
    st = await run_to_end(lt, lt.start(plan, overwrite=False).id)
    assert st.state == "done" and st.rate_bytes_per_s is None, st
    assert lt.list()[0].id == plan.id


async def test_single_file_goes_to_the_destination_path(
    lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path
) -> None:
    f = tmp_path / "one.txt"
    f.write_bytes(b"single\n")
    target = f"{remote_dir}/deeper/renamed.txt"  # parents are created
    plan = await lt.plan(node=NODE, direction="upload", local=f, remote=target)
    assert not plan.is_dir and [x.path for x in plan.files] == [""]
    assert (await run_to_end(lt, lt.start(plan, overwrite=False).id)).state == "done"
    assert (await pool.run(NODE, ["cat", target], idempotent=True)).stdout == "single\n"
    with pytest.raises(HpcError) as err:
        await lt.plan(node=NODE, direction="upload", local=f, remote=f"{remote_dir}/deeper")
    assert err.value.code == "E_DEST_IS_DIR" and err.value.fix
    with pytest.raises(HpcError, match="E_NOT_FOUND"):
        await lt.plan(node=NODE, direction="download", local=tmp_path / "x", remote=f"{remote_dir}/missing")


async def test_existing_different_file_is_untouched_without_overwrite(
    lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    target = f"{remote_dir}/up"
    st = await run_to_end(
        lt, lt.start(await lt.plan(node=NODE, direction="upload", local=src, remote=target), overwrite=False).id
    )
    assert st.state == "done"
    before = await remote_sha(pool, f"{target}/a/b/c.txt")

    # Upload: the local file changed; the remote one is reported and kept.
    (src / "a/b/c.txt").write_bytes(b"changed locally\n")
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    assert plan.overwrites == ["a/b/c.txt"] and plan.unchanged == len(plan.files) - 1
    st = await run_to_end(lt, lt.start(plan, overwrite=False).id)
    assert st.state == "done" and any("left unchanged" in e and "a/b/c.txt" in e for e in st.errors), st
    assert await remote_sha(pool, f"{target}/a/b/c.txt") == before

    # Download: the local file differs from the remote one; it is kept too.
    plan = await lt.plan(node=NODE, direction="download", local=src, remote=target)
    assert plan.overwrites == ["a/b/c.txt"]
    assert (await run_to_end(lt, lt.start(plan, overwrite=False).id)).state == "done"
    assert (src / "a/b/c.txt").read_bytes() == b"changed locally\n"

    # With overwrite the upload replaces it.
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    assert (await run_to_end(lt, lt.start(plan, overwrite=True).id)).state == "done"
    assert await remote_sha(pool, f"{target}/a/b/c.txt") == hashlib.sha256(b"changed locally\n").hexdigest()
    assert (await lt.plan(node=NODE, direction="upload", local=src, remote=target)).overwrites == []


async def _cancel_midway(lt: LocalTransfers, tid: str, total: int) -> int:
    for _ in range(20_000):
        done = lt.status(tid).bytes_done
        if done >= 8 * MB:
            break
        await asyncio.sleep(0.001)
    st = await lt.cancel(tid)
    assert st.state == "cancelled" and st.fix and "resume" in st.fix, st
    assert 0 < st.bytes_done < total, st
    return st.bytes_done


async def test_resume_after_cancel(lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path) -> None:
    data = os.urandom(50 * MB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    target = f"{remote_dir}/big.bin"
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    await _cancel_midway(lt, lt.start(plan, overwrite=False).id, len(data))
    partial = f"{remote_dir}/{partial_name('big.bin')}"
    r = await pool.run(NODE, ["stat", "-c", "%s", partial], idempotent=True)
    assert r.ok and 0 < int(r.stdout) < len(data)
    assert not (await pool.run(NODE, ["test", "-e", target], idempotent=True)).ok

    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    st = lt.start(plan, overwrite=False)
    assert st.state == "running" and st.bytes_done == 0
    st = await run_to_end(lt, st.id)
    assert st.state == "done", st
    assert await remote_sha(pool, target) == hashlib.sha256(data).hexdigest()
    assert not (await pool.run(NODE, ["test", "-e", partial], idempotent=True)).ok

    # And a download, cancelled and resumed.
    back = tmp_path / "back" / "big.bin"
    plan = await lt.plan(node=NODE, direction="download", local=back, remote=target)
    await _cancel_midway(lt, lt.start(plan, overwrite=False).id, len(data))
    assert not back.exists() and (back.parent / partial_name("big.bin")).stat().st_size > 0
    st = await run_to_end(lt, lt.start(plan, overwrite=False).id)
    assert st.state == "done"
    assert back.read_bytes() == data and not (back.parent / partial_name("big.bin")).exists()


async def test_resume_restarts_when_the_source_changed(
    lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path
) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(30 * MB))
    target = f"{remote_dir}/f.bin"
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    await _cancel_midway(lt, lt.start(plan, overwrite=False).id, 30 * MB)
    new = os.urandom(30 * MB)
    src.write_bytes(new)
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    assert (await run_to_end(lt, lt.start(plan, overwrite=False).id)).state == "done"
    assert await remote_sha(pool, target) == hashlib.sha256(new).hexdigest()


async def test_wait_reports_progress_and_throughput(
    lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path
) -> None:
    data = os.urandom(50 * MB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    figures = {}
    for direction, local, remote in (
        ("upload", src, f"{remote_dir}/big.bin"),
        ("download", tmp_path / "back.bin", f"{remote_dir}/big.bin"),
    ):
        seen.clear()
        plan = await lt.plan(node=NODE, direction=direction, local=local, remote=remote)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        st = await lt.wait(lt.start(plan, overwrite=False).id, 120, progress)
        elapsed = time.perf_counter() - t0
        assert st.state == "done"
        figures[direction] = len(data) / MB / elapsed
        assert seen and seen[-1] == (len(data), len(data))
        assert all(t == len(data) for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert (tmp_path / "back.bin").read_bytes() == data
    print(f"\n50 MB over SFTP on the lab: upload {figures['upload']:.0f} MB/s, download {figures['download']:.0f} MB/s")


async def test_wait_returns_while_running(lt: LocalTransfers, remote_dir: str, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(50 * MB))
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=f"{remote_dir}/big.bin")
    tid = lt.start(plan, overwrite=False).id
    again = lt.start(plan, overwrite=True)  # the same copy while it runs: its status, not a second copy
    assert again.id == tid and len([s for s in lt.list() if s.id == tid]) == 1
    st = await lt.wait(tid, 0.01, None)
    assert st.state == "running" and st.ended is None
    assert (await run_to_end(lt, tid)).state == "done"
    assert (await lt.cancel(tid)).state == "done"  # cancelling a finished copy changes nothing


async def test_symlinks(lt: LocalTransfers, remote_dir: str, tmp_path: Path, pool: SshPool) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("x")
    (src / "inside").symlink_to("d/f.txt")
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=f"{remote_dir}/s")
    assert plan.skipped == ["inside"] and [f.path for f in plan.files] == ["d/f.txt"]
    st = await run_to_end(lt, lt.start(plan, overwrite=False).id)
    assert st.state == "done" and any("inside" in e for e in st.errors)

    (src / "keys").symlink_to(Path.home())
    with pytest.raises(HpcError) as err:
        await lt.plan(node=NODE, direction="upload", local=src, remote=f"{remote_dir}/s")
    assert err.value.code == "E_SYMLINK_ESCAPE" and "keys" in err.value.message and err.value.fix
    (src / "keys").unlink()
    (src / "dotdot").symlink_to("../../etc")
    with pytest.raises(HpcError, match="E_SYMLINK_ESCAPE"):
        await lt.plan(node=NODE, direction="upload", local=src, remote=f"{remote_dir}/s")

    # A remote tree with a link to another place: refused for download.
    await pool.run(NODE, ["ln", "-s", "/etc", f"{remote_dir}/s/etc"], idempotent=False)
    with pytest.raises(HpcError, match="E_SYMLINK_ESCAPE"):
        await lt.plan(node=NODE, direction="download", local=tmp_path / "back", remote=f"{remote_dir}/s")

    # A local destination folder that is a link is never written through.
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (dest / "d").symlink_to(tmp_path / "elsewhere")
    await pool.run(NODE, ["rm", "-f", f"{remote_dir}/s/etc"], idempotent=True)
    with pytest.raises(HpcError, match="E_TYPE_CONFLICT"):
        await lt.plan(node=NODE, direction="download", local=dest, remote=f"{remote_dir}/s")
    assert list((tmp_path / "elsewhere").iterdir()) == []


async def test_unknown_id(lt: LocalTransfers) -> None:
    with pytest.raises(HpcError) as err:
        lt.status("local-000000000000")
    assert err.value.code == "E_UNKNOWN_TRANSFER" and err.value.fix


async def test_connection_loss_fails_and_start_again_resumes(
    lt: LocalTransfers, pool: SshPool, remote_dir: str, tmp_path: Path
) -> None:
    data = os.urandom(50 * MB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    target = f"{remote_dir}/big.bin"
    plan = await lt.plan(node=NODE, direction="upload", local=src, remote=target)
    tid = lt.start(plan, overwrite=False).id
    while lt.status(tid).bytes_done < 8 * MB:
        await asyncio.sleep(0.001)
    conn = pool._nodes[NODE].current
    assert conn is not None
    conn.conn.abort()  # as a dropped network would
    st = await run_to_end(lt, tid)
    assert st.state == "failed" and st.fix is not None and "resumes" in st.fix, st
    assert "lost" in (st.cause or ""), st
    st = await run_to_end(
        lt, lt.start(await lt.plan(node=NODE, direction="upload", local=src, remote=target), overwrite=False).id
    )
    assert st.state == "done", st
    assert await remote_sha(pool, target) == hashlib.sha256(data).hexdigest()
