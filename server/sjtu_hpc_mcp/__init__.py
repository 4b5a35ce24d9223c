"""sjtu-hpc-mcp: an MCP server that acts for one person on the SJTU HPC platform."""

__version__ = "0.1.0"
