"""The MCP surface: validate -> decide (core) -> do (shell) -> shape (core)."""
