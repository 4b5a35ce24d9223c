"""Asking the person through the client (elicitation) before a destructive act; which acts ask and in what
words is core/consent.py's."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import AcceptedElicitation, CancelledElicitation, Context, DeclinedElicitation, Elicit
from pydantic import BaseModel, Field


class Approve(BaseModel):
    """What the person is asked before a destructive act."""

    approve: bool = Field(description="Go ahead?")


# The outcome of asking the person: None when nobody was asked (the framework then injects an
# empty AcceptedElicitation), or what the person answered.
Consent = AcceptedElicitation[Approve] | DeclinedElicitation | CancelledElicitation | None


def can_elicit(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    return caps is not None and caps.elicitation is not None


def elicit_consent(ctx: Context[Any, Any], message: str) -> Elicit[Approve] | None:
    """Ask the person, where the client can; elsewhere the explicit confirm flag stands alone."""
    return Elicit(message, Approve) if can_elicit(ctx) else None


def consent_declined(outcome: Consent) -> bool:
    if isinstance(outcome, DeclinedElicitation | CancelledElicitation):
        return True
    if isinstance(outcome, AcceptedElicitation) and isinstance(outcome.data, Approve):
        return not outcome.data.approve
    return False
