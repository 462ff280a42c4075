"""`sandbox serve --background` and `sandbox stop`: a sandbox that serves while the shell goes on, as
`eval "$(cryoet-release sandbox serve --background)"` ... `eval "$(cryoet-release sandbox stop)"`.

The child is `sandbox serve` itself, in a session of its own, its output in `<state>/sandbox/serve.log`. Once it
serves, it writes `<state>/sandbox/serve.json` (its pid, endpoint and exports); the parent waits for that file,
prints the exports and returns. `stop` sends the child SIGTERM and prints the `unset` line.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryoet_release.context import GlobalOptions, pid_alive
from cryoet_release.errors import OperationFailed, UsageError
from cryoet_release_plugins.sandbox.emulator import Emulator, export_lines
from cryoet_release_plugins.sandbox.jobs import Rules

START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
EXPORTED = tuple(Emulator("", "registry").environment)


def places(opts: GlobalOptions) -> tuple[Path, Path]:
    """The background sandbox's state file and log."""
    folder = opts.process.state_dir() / "sandbox"
    return folder / "serve.json", folder / "serve.log"


def serving(state_file: Path) -> dict[str, Any] | None:
    """What the background sandbox wrote, while its process lives; None (and no stale file) otherwise. A pid that
    another process has taken since (after a kill -9 or a reboot) is not the sandbox's: it is never signalled."""
    try:
        document = json.loads(state_file.read_text())
        pid = int(document["pid"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        state_file.unlink(missing_ok=True)
        return None
    if not (pid_alive(pid) and _serves(pid, state_file)):
        state_file.unlink(missing_ok=True)  # left by a sandbox that was killed
        return None
    return dict(document)


def _serves(pid: int, state_file: Path) -> bool:
    """Process `pid` is the `sandbox serve` that writes `state_file` (its command line says so)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except FileNotFoundError:  # no /proc (macOS): ps says the same, as one line
        found = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
        return f"--state-file {state_file}" in found.stdout
    except OSError:
        return False
    return any(a == "--state-file" and b == str(state_file) for a, b in itertools.pairwise(argv))


def start(opts: GlobalOptions, *, port: int, rules: Rules) -> None:
    output = opts.output
    state_file, log_file = places(opts)
    found = serving(state_file)
    if found is not None:
        if found.get("options", []) != rules.as_arguments() or (port and not found["endpoint"].endswith(f":{port}")):
            raise UsageError(
                f"a sandbox already serves on {found['endpoint']} (pid {found['pid']}) with other options",
                hint='Stop it first: eval "$(cryoet-release sandbox stop)"',
            )
        exports = export_lines(found["environment"])
        output.result(found, lambda: output.stdout.print(exports, highlight=False))
        output.info(f"a sandbox already serves on {found['endpoint']} (pid {found['pid']}); its log: {log_file}")
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "cryoet_release", "sandbox", "serve", "--port", str(port), *rules.as_arguments(),
            "--state-file", str(state_file)]  # fmt: skip
    with log_file.open("ab") as log, open(os.devnull, "rb") as nothing:
        written = log.tell()
        child = subprocess.Popen(argv, stdin=nothing, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while (found := serving(state_file)) is None:
        if child.poll() is not None:  # it said why, as `serve` in the foreground would have: say the same
            error, hint = _why(log_file, written)
            failure = UsageError if child.returncode == 2 else OperationFailed
            raise failure(f"the sandbox did not start: {error}", hint=hint or f"Its log: {log_file}")
        if time.monotonic() > deadline:
            child.terminate()
            raise OperationFailed(
                f"the sandbox did not start within {START_TIMEOUT:.0f} s", hint=f"Its log: {log_file}"
            )
        time.sleep(0.1)
    output.result(found, lambda: output.stdout.print(export_lines(found["environment"]), highlight=False))
    output.info(
        f"sandbox serving on {found['endpoint']} in the background (pid {found['pid']}); its log: {log_file}."
        ' Stop it with: eval "$(cryoet-release sandbox stop)"'
    )
    output.info(f"a dataset config for its raw data: {found['dataset_config']}")


def stop(opts: GlobalOptions) -> None:
    output = opts.output
    state_file, log_file = places(opts)
    found = serving(state_file)
    unset = f"unset {' '.join(EXPORTED)}"
    if found is None:
        output.result({"stopped": None}, lambda: output.stdout.print(unset, highlight=False))
        output.info("no sandbox serves in the background")
        return
    pid = int(found["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        output.warn(f"the sandbox (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM: killed")
    state_file.unlink(missing_ok=True)
    output.result({"stopped": found}, lambda: output.stdout.print(unset, highlight=False))
    output.info(f"stopped the sandbox on {found['endpoint']} (pid {pid}); its log: {log_file}")


def _alive(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    try:  # our own child (a test's) is a zombie until reaped: that is stopped
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _why(log_file: Path, offset: int) -> tuple[str, str | None]:
    """What this start wrote to the log: its error line (else its last line), and the line after (the hint)."""
    with log_file.open("rb") as log:
        log.seek(offset)
        lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    errors = [n for n, line in enumerate(lines) if line.startswith("error: ")]
    if not errors:
        return (lines[-1] if lines else "it wrote nothing"), None
    at = errors[-1]
    return lines[at].removeprefix("error: "), (lines[at + 1] if at + 1 < len(lines) else None)
