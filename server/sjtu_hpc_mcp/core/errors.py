"""The one expected-failure type. The tool layer turns it into an MCP ToolError."""

from __future__ import annotations


def sentence(text: str) -> str:
    """`text` as one sentence: whitespace collapsed, a plain first word capitalised, ending in a full stop."""
    text = " ".join(text.split())
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # not an identifier such as run_slurm or --api-url
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…", "。")) else text + "."


def error_text(code: str, message: str, fix: str = "") -> str:
    """The one form every failure reaches the model in: `E_CODE: What happened. Fix: what to do.`"""
    text = f"{code}: {sentence(message)}"
    return f"{text} Fix: {sentence(fix)}" if fix else text


class HpcError(Exception):
    """An expected failure: a stable code, what happened, and what to do next.

    The text is shown to the model, so it must never carry a secret.
    """

    def __init__(self, code: str, message: str, fix: str = "") -> None:
        self.code = code
        self.message = message
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return error_text(self.code, self.message, self.fix)
