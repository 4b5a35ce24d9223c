"""A key pair and certificate obtained from the API double (signed with the lab's CA) log in to all
five entry nodes; the bare key without its certificate does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh
import pytest

from lab.api_double import arun_double
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.settings import Settings, parse_host_map
from sjtu_hpc_mcp.shell.credentials import CERTIFICATE, KEY, PUBLIC_KEY, CredentialStore
from sjtu_hpc_mcp.shell.hpc_api import HpcApi
from sjtu_hpc_mcp.shell.ssh import SshPool

pytestmark = [pytest.mark.lab, pytest.mark.anyio]


async def test_certificate_from_the_double_logs_in_everywhere(lab: dict[str, Any], workspace: Path) -> None:
    async with arun_double(lab["ca_key"], auto_approve_after=0) as (url, _state):
        api = HpcApi(url)
        try:
            token = await api.new_token("hpcrobot", "lab-password-1")
            keys = await api.gen_key(token, "hpcrobot")
            cert = await api.sign_cert(token, "hpcrobot", keys.public_key, 600)
        finally:
            await api.aclose()
    settings = Settings(
        workspace=workspace, known_hosts=Path(lab["known_hosts"]), host_map=parse_host_map(lab["host_map"])
    )
    store = CredentialStore(settings.credentials_dir)
    store.write(KEY, keys.private_key, secret=True)
    store.write(PUBLIC_KEY, keys.public_key, secret=False)
    store.write(CERTIFICATE, cert, secret=False)
    pool = SshPool(settings, store)
    try:
        names = {(await pool.run(node, ["hostname"], idempotent=True)).stdout.strip() for node in lab["nodes"]}
    finally:
        await pool.aclose()
    assert names == {"pilogin", "sylogin", "armlogin", "data", "sydata"}

    # The same key without the certificate: refused by every node.
    for info in lab["nodes"].values():
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect(
                info["host"],
                info["port"],
                username="hpcrobot",
                client_keys=[asyncssh.import_private_key(keys.private_key)],
                known_hosts=lab["known_hosts"],
                agent_path=None,
                config=[],
                preferred_auth="publickey",
            )
    # And the pool says what to do when the certificate is gone.
    store.path(CERTIFICATE).unlink()
    pool = SshPool(settings, store)
    with pytest.raises(HpcError, match="request_certificate"):
        await pool.run("pilogin.hpc.sjtu.edu.cn", ["hostname"], idempotent=True)
