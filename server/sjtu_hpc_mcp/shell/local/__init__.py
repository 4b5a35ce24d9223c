"""Copies between the person's computer (where the server runs) and a data node, over SFTP.

They run inside the server process on the pooled SSH connection, so they do not survive a server
restart; starting the same copy again resumes it:

- each file is written to `.<name>.sjtu-hpc-partial` next to its target and renamed into place when
  complete; a later run continues from the partial file's size (less a safety margin, after
  comparing the bytes just before it with the source);
- a destination file with the source's size and mtime is complete and skipped; mtimes and permission
  bits are preserved, parent folders created;
- an existing different destination file is never changed unless `overwrite` is given;
- a symlink in the source that points outside the source tree refuses the whole copy; one that stays
  inside is skipped and reported (the copy never follows links, so it cannot leave the tree);
- memory is bounded: at most `_BUDGET` chunks of `CHUNK` bytes are in flight per copy, `DEPTH` per file.

The pure rules (ids, partial names, resume points, the plan) are in core/transfer/local.py; here:
`files` (the two ends: this computer and SFTP), `scan` (the trees and the plan), `engine` (the copy)
and `registry` (`LocalTransfers`: the copies by id).
"""

from .registry import LocalTransfers

__all__ = ["LocalTransfers"]
