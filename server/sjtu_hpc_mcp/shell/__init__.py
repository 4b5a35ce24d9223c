"""The imperative shell: HTTP API, SSH pool, credential files. Thin; decisions live in core."""
