"""Runs the server with the host's side of stdio recorded: `python stdio_tee.py LOG -- CMD ARGS...`.

Each line the host writes to the server is appended to LOG as it passes, so a test can read what the host
declared (protocol version, capabilities in `_meta`, extensions) without trusting the host's own report.
"""

from __future__ import annotations

import subprocess
import sys
import threading


def main() -> int:
    log_path, sep, *command = sys.argv[1:]
    assert sep == "--", "usage: stdio_tee.py LOG -- CMD ARGS..."
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)
    assert child.stdin is not None

    def pump() -> None:
        with open(log_path, "ab", buffering=0) as log:
            for line in sys.stdin.buffer:
                log.write(line)
                try:
                    child.stdin.write(line)  # type: ignore[union-attr]
                    child.stdin.flush()  # type: ignore[union-attr]
                except (BrokenPipeError, ValueError):
                    break
        try:
            child.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass

    threading.Thread(target=pump, daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
