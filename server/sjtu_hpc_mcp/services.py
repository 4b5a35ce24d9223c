"""The shell objects one server process owns, built once in the lifespan and shared by every tool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._mcp import Context, lifespan_of
from .core.platform import Platform, load_platform
from .settings import Settings
from .shell.credentials import CredentialStore


@dataclass
class Services:
    settings: Settings
    platform: Platform
    store: CredentialStore

    @classmethod
    def create(cls, settings: Settings) -> Services:
        return cls(settings=settings, platform=load_platform(), store=CredentialStore(settings.credentials_dir))

    async def aclose(self) -> None:
        return None


def services(ctx: Context[Any, Any]) -> Services:
    found = lifespan_of(ctx)
    assert isinstance(found, Services)
    return found
