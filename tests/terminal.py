"""A command on a real pseudo-terminal of a chosen size, as a person at a terminal runs it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping, Sequence

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\r")


def on_terminal(
    args: Sequence[str],
    *,
    columns: int,
    env: Mapping[str, str] | None = None,
    interrupt_when: Callable[[str], bool] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run `cryoet-release ARGS` with stdin, stdout and stderr on a pty of `columns` x 50; send Ctrl-C (SIGINT to
    its process group) once `interrupt_when(text so far)` holds. Returns the exit code and the text shown, without
    escape sequences."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environ = {k: v for k, v in (env or os.environ).items() if k not in {"COLUMNS", "LINES"}}
    process = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", *args], env={**environ, "TERM": "xterm-256color"},
        stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.05)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            if interrupt_when is not None and interrupt_when(ANSI.sub("", seen.decode(errors="replace"))):
                os.killpg(process.pid, signal.SIGINT)
                interrupt_when = None
            if process.poll() is not None and not select.select([leader], [], [], 0.2)[0]:
                break
        process.wait(timeout=30)
    finally:
        process.kill()
        os.close(leader)
    return process.returncode, ANSI.sub("", seen.decode(errors="replace"))
