"""The pure core: platform knowledge, policy, Slurm and transfer logic. No I/O, no SDK."""
