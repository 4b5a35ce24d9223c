"""Consent as a type: the acts that need the person's agreement, their words, and the one gate.

An act that changes or destroys something the person cares about runs only with confirm=true (the
model says the person agreed). Where the client can, the person is also asked directly (the act's
question, an elicitation); a "no" there stops the act. Without confirm the tool only previews.

`Act` is a Literal, so a misspelt act does not type-check; tests/unit/test_consent.py checks that
every act is gated somewhere in server/ and that every act has its words. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Literal, get_args

Act = Literal["scancel", "update_user", "overwrite", "move", "cancel_transfer", "remove", "replace_key"]
ACTS: frozenset[Act] = frozenset(get_args(Act))

# What a tool does about an act: only show what it would do, say the person said no, or do it.
Step = Literal["preview", "declined", "go"]


@dataclass(frozen=True)
class Wording:
    """An act's sentences; {name} fields are filled by the call site (`question`, `say`)."""

    preview: str  # the result without confirm: what would happen; nothing was done
    question: str | None = None  # put to the person with confirm=true, where the client can ask (None: not asked)
    declined: str | None = None  # the result when the person answered no (None: never asked, never declined)


WORDING: Mapping[Act, Wording] = {
    "scancel": Wording(
        question="Cancel Slurm job(s) {jobs}? Running work is lost.",
        preview="Would cancel {count} job(s); nothing done. Ask the person, then call again with confirm=true.",
        declined="The person declined; nothing was cancelled.",
    ),
    "update_user": Wording(
        question="Change the HPC account's {what}? You will also approve it in 交我办 or by email.",
        preview="Nothing changed. Show the person these changes; if they agree, call again with confirm=true.",
        declined="The person declined; nothing changed.",
    ),
    "overwrite": Wording(
        question="Overwrite existing files in the destination of this transfer?",
        preview="Would change {count} existing file(s) at the destination; nothing started. "
        "Show the list to the person; call again with confirm=true to overwrite them.",
        declined="The person declined; nothing was started.",
    ),
    "move": Wording(
        question="Move the source of this transfer to its destination? The source is deleted after a checksum check.",
        preview="Would move {what}: copy, compare checksums, then delete the source. Nothing started. "
        "Ask the person; call again with confirm=true.",
        declined="The person declined; nothing was started.",
    ),
    "cancel_transfer": Wording(
        question="Stop transfer {transfer_id}? What was copied stays.",
        preview="Would stop this transfer (what was copied stays); nothing done. Call again with confirm=true.",
        declined="The person declined; it runs on.",
    ),
    "remove": Wording(
        question="Delete {path} and everything in it? This cannot be undone.",
        preview="Would delete {what}; nothing deleted. Ask the person; call again with confirm=true.",
        declined="The person declined; nothing was deleted.",
    ),
    # Exporting the SSH key over a different one; the certificate's own two-factor approval follows.
    "replace_key": Wording(
        preview="{folder} already holds {replaced}{new_key}. Nothing was written or requested. Ask the person "
        "whether to replace it (it may be a key they use elsewhere); if they agree, call again with confirm=true, "
        "or choose another folder.",
    ),
}


def gate(act: Act, confirm: bool, declined: bool, *, needed: bool = True) -> Step:
    """What to do about `act`: preview it without confirm, stop if the person said no, else go.

    needed=False: this call would not do the act after all (a copy that replaces nothing), so it needs
    no confirm; a "no" to the question it was asked (with confirm=true) still stops it.
    """
    if needed and not confirm:
        return "preview"
    return "declined" if declined else "go"


def transfer_gate(overwrites: bool, mode: str, confirm: bool, declined: bool) -> tuple[Act, Step]:
    """A transfer start's act and step: replacing files first (its preview lists them), then a move.

    A plain copy replaces nothing and needs no confirm, but the question it was asked with confirm=true
    (overwriting) still stops it on a "no".
    """
    if overwrites:
        return "overwrite", gate("overwrite", confirm, declined)
    if mode == "move":
        return "move", gate("move", confirm, declined)
    return "overwrite", gate("overwrite", confirm, declined, needed=False)


def fields_of(template: str) -> frozenset[str]:
    """The {name} fields a sentence needs."""
    return frozenset(name for _, name, _, _ in Formatter().parse(template) if name)


def question(act: Act, **fields: object) -> str:
    """The question put to the person before `act` (the client shows it with Approve/Decline)."""
    text = WORDING[act].question
    if text is None:
        raise ValueError(f"nobody is asked about {act}")
    return text.format(**fields)


def say(act: Act, step: Literal["preview", "declined"], **fields: object) -> str:
    """The result's sentence for a preview or a declined `act`."""
    text = WORDING[act].preview if step == "preview" else WORDING[act].declined
    if text is None:
        raise ValueError(f"nobody is asked about {act}, so nobody declines it")
    return text.format(**fields)
