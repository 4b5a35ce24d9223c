"""Who the person is on the platform: their login, from what the server was told or holds."""

from __future__ import annotations

from .certs import parse_certificate
from .errors import HpcError


def login_user(configured: str | None, stored: str | None, certificate_text: str | None) -> str | None:
    """The login name: --user, else the one stored at the last login, else the certificate's first
    principal (the platform signs the certificate for exactly that user); None if none is known."""
    if configured or stored:
        return configured or stored
    if not certificate_text:
        return None
    try:
        principals = parse_certificate(certificate_text).principals
    except (HpcError, ValueError):
        return None
    return principals[0] if principals else None
