"""Start-up: spawn -> MCP initialized, against a bare `from mcp.server import MCPServer` (no lab needed).

    python bench/bench_startup.py [ROUNDS]

Target (issue 9): within 100 ms of the bare SDK import, also on a machine with a C toolchain, where
asyncssh's liboqs probe (ctypes.util.find_library: ldconfig, then gcc) used to cost about 300 ms.
asyncssh is not imported at start-up (shell/sshlib.py loads it at the first SSH operation); the last
two figures are what that first load costs here, with and without the quick library probe.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
WITH_PROBE = "from sjtu_hpc_mcp.shell import sshlib\nsshlib.load()"
WITHOUT_PROBE = "import asyncssh"


def server(workspace: str, prewarm: bool = False) -> float:
    t0 = time.perf_counter()
    argv = [sys.executable, "-m", "sjtu_hpc_mcp", "--workspace", workspace, "--prewarm", str(prewarm).lower()]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(json.dumps(INIT).encode() + b"\n")
    p.stdin.flush()
    line = p.stdout.readline()
    took = time.perf_counter() - t0
    p.kill()
    p.wait()
    assert b'"result"' in line, line
    return took


def with_certificate() -> str:
    """A workspace holding a valid key and certificate (throwaway CA): the server then connects early."""
    import asyncssh

    ws = Path(tempfile.mkdtemp())
    creds = ws / "credentials"
    creds.mkdir(mode=0o700)
    ca, key = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(key, "bench", principals=["bench"], valid_after="-1m", valid_before="+1h")
    (creds / "id_ed25519").write_bytes(key.export_private_key("openssh"))
    (creds / "id_ed25519").chmod(0o600)
    (creds / "id_ed25519-cert.pub").write_bytes(cert.export_certificate("openssh"))
    return str(ws)


def python(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    ws = tempfile.mkdtemp()
    ws_cert = with_certificate()
    series: dict[str, list[float]] = {"server": [], "cert": [], "bare": [], "probe": [], "no_probe": []}
    for _ in range(rounds):  # interleaved, so load changes hit every variant alike
        series["server"].append(server(ws))
        series["cert"].append(server(ws_cert, prewarm=True))
        series["bare"].append(python("from mcp.server import MCPServer"))
        series["probe"].append(python(WITH_PROBE))
        series["no_probe"].append(python(WITHOUT_PROBE))
    shutil.rmtree(ws, ignore_errors=True)
    shutil.rmtree(ws_cert, ignore_errors=True)
    med = {k: statistics.median(v) * 1000 for k, v in series.items()}
    print(f"gcc on PATH: {bool(shutil.which('gcc'))}; {rounds} rounds, medians")
    print(f"  spawn -> initialized        {med['server']:7.0f} ms")
    print(f"  bare SDK import             {med['bare']:7.0f} ms")
    d = med["server"] - med["bare"]
    print(f"  difference                  {d:+7.0f} ms   target <= +100 ms: {'met' if d <= 100 else 'MISSED'}")
    c = med["cert"] - med["bare"]
    print(f"  with a certificate, prewarm {med['cert']:7.0f} ms   {c:+.0f} ms (asyncssh loads while serving)")
    print(f"  asyncssh, quick probe       {med['probe']:7.0f} ms   (loaded at the first SSH operation)")
    saved = med["no_probe"] - med["probe"]
    print(f"  asyncssh, find_library      {med['no_probe']:7.0f} ms   (the quick probe saves {saved:.0f} ms)")


if __name__ == "__main__":
    main()
