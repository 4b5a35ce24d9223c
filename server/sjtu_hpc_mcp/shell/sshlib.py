"""asyncssh, loaded on first use and without spawning a process.

Importing asyncssh (and cryptography under it) is about a third of this server's own start-up, and
nothing before the first SSH operation needs it: a client that only initializes, lists tools or asks
for the credential status never pays for it. `asyncssh` here is the module itself to the type checker
and a stand-in that imports it, under `quick_library_probe`, on the first attribute read.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["asyncssh", "load", "quick_library_probe"]

_LIB_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/usr/local/lib64")


@contextlib.contextmanager
def quick_library_probe() -> Iterator[None]:
    """While asyncssh is imported, find shared libraries by listing the usual folders.

    asyncssh probes for liboqs with ctypes.util.find_library, which runs ldconfig and, on a machine with
    a C toolchain, gcc: about 300 ms. A library in another folder is found through LD_LIBRARY_PATH; one
    found only by gcc's own search path is missed (then post-quantum key exchange is simply not offered).
    """
    original = ctypes.util.find_library
    folders = [*filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(":")), *_LIB_DIRS]
    arch = os.uname().machine

    def find(name: str) -> str | None:
        for folder in folders:
            for sub in (Path(folder), Path(folder) / f"{arch}-linux-gnu"):
                hits = sorted(sub.glob(f"lib{name}.so*")) if sub.is_dir() else []
                if hits:
                    return str(hits[0])
        return None

    ctypes.util.find_library = find
    try:
        yield
    finally:
        ctypes.util.find_library = original


_lock = threading.Lock()
_module: ModuleType | None = None


def load() -> ModuleType:
    """asyncssh, imported once (the probe swapped in only for that import, its import-time warnings muted)."""
    global _module
    if _module is None:
        with _lock:
            if _module is None:
                with quick_library_probe(), warnings.catch_warnings():
                    # recent cryptography releases warn that DSA is deprecated while asyncssh defines its DSA
                    # classes; this server never uses DSA, and stderr is the person's log, not a notice board.
                    warnings.filterwarnings("ignore", message=r"DSA is deprecated")
                    _module = importlib.import_module("asyncssh")
    return _module


class _OnFirstUse:
    def __getattr__(self, name: str) -> Any:
        return getattr(load(), name)


if TYPE_CHECKING:
    import asyncssh as asyncssh
else:
    asyncssh = _OnFirstUse()
