"""The one expected-failure type. The tool layer turns it into an MCP ToolError."""

from __future__ import annotations


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
        text = f"{self.code}: {self.message}"
        return f"{text} Fix: {self.fix}" if self.fix else text
