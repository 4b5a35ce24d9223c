claude mcp add sjtu-hpc -- sjtu-hpc-mcp
