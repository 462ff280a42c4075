"""The sandbox's jobs, run as the WDLs would run them, in simulation: each execution the emulator starts is picked
up, runs for a moment (or as long as it was asked to), writes what its kind of job writes (see outputs), and ends
SUCCEEDED, or FAILED or TIMED_OUT when the sandbox was asked so. No container runs: this is a rehearsal.

Rules choose jobs by a glob matched against the job's dataset (or path) and its execution name: `--fail 10001`,
`--slow '*-queue-*=30'`, `--time-out 10002`, `--failing-tests 10000`. A failure applies to a job's first attempt
only, so that `enqueue retry` can be rehearsed: its later attempts (`-r1`, ...) succeed.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from cryoet_release.console import plural
from cryoet_release.errors import UsageError
from cryoet_release_plugins.sandbox import outputs

log = logging.getLogger("cryoet_release.sandbox")
RETRY = re.compile(r"-r[0-9]+$")


@dataclass(frozen=True)
class Rules:
    fail: Sequence[str] = ()
    time_out: Sequence[str] = ()
    slow: Mapping[str, float] = field(default_factory=dict)
    failing_tests: Sequence[str] = ()
    duration: float = 1.0
    """Seconds a job runs when no rule says otherwise."""

    @classmethod
    def parse(
        cls, *, fail: Sequence[str], time_out: Sequence[str], slow: Sequence[str], failing_tests: Sequence[str]
    ) -> Rules:
        """Raises UsageError for a `--slow` that is not GLOB=SECONDS."""
        slows = {}
        for rule in slow:
            pattern, equals, seconds = rule.rpartition("=")
            try:
                slows[pattern or "*"] = float(seconds if equals else "not given")
            except ValueError:
                raise UsageError(f"slow: {rule!r} is not GLOB=SECONDS (for example '10001=60')") from None
            if not 0 <= slows[pattern or "*"] <= 86_400:
                raise UsageError(f"slow: {rule!r}: between 0 and 86400 seconds")
        return cls(tuple(fail), tuple(time_out), slows, tuple(failing_tests))

    def describe(self) -> str:
        """The rules in one line, for a person."""
        said = [f"fail {', '.join(self.fail)} (first attempts)"] if self.fail else []
        said += [f"time out {', '.join(self.time_out)} (first attempts)"] if self.time_out else []
        said += [f"{pattern} runs {seconds:g} s" for pattern, seconds in self.slow.items()]
        said += [f"tests fail in the reports of {', '.join(self.failing_tests)}"] if self.failing_tests else []
        return "; ".join(said) or f"every job succeeds after {self.duration:g} s"

    def as_arguments(self) -> list[str]:
        """The command-line options that give these rules (for a `serve` started in the background)."""
        found = [*(a for p in self.fail for a in ("--fail", p)), *(a for p in self.time_out for a in ("--time-out", p))]
        found += [a for p, s in self.slow.items() for a in ("--slow", f"{p}={s:g}")]
        return found + [a for p in self.failing_tests for a in ("--failing-tests", p)]


def subject(run: Mapping[str, Any]) -> str:
    """What a job is for, as a person names it: the dataset (or path) it works on."""
    flags = str(run.get("flags", ""))
    words = shlex.split(flags) if flags else []
    for option in ("--filter-dataset-name", "--s3-prefix"):
        if option in words[:-1]:
            return words[words.index(option) + 1].strip("^$")
    for name in ("dataset", "input_path", "config_file"):
        if run.get(name):
            return str(run[name])
    return ""


def _matches(patterns: Sequence[str], name: str, what: str) -> bool:
    return any(fnmatchcase(name, pattern) or fnmatchcase(what, pattern) for pattern in patterns)


@dataclass(order=True)
class _Due:
    at: float
    name: str = field(compare=False)
    finish: Callable[[], None] = field(compare=False)


class Runner:
    """Picks up the emulator's new executions and finishes each in its time, in a thread of its own."""

    def __init__(
        self,
        backend: Any,
        rules: Rules,
        write: Callable[[str, bytes], None],
        variation: Callable[[str], Mapping[str, Any]] = lambda image: {},
    ) -> None:
        """`backend`: moto's Step Functions backend of the account and region; `write(bucket/key, data)`;
        `variation(image)`: what the job's image changes in what it writes (see outputs)."""
        self.backend = backend
        self.rules = rules
        self.write = write
        self.variation = variation
        self._seen: set[str] = set()
        self._due: list[_Due] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self._pick_up()
                while self._due and self._due[0].at <= time.monotonic():
                    heapq.heappop(self._due).finish()
            except Exception:
                log.exception("sandbox: a simulated job could not be run")

    def _pick_up(self) -> None:
        for machine in list(self.backend.state_machines):
            for execution in list(machine.executions):
                if execution.status != "RUNNING" or execution.execution_arn in self._seen:
                    continue
                self._seen.add(execution.execution_arn)
                self._schedule(execution)

    def _schedule(self, execution: Any) -> None:
        try:
            run = json.loads(execution.execution_input)["Input"]["Run"]
        except (ValueError, KeyError, TypeError):
            run = {}
        name, what = execution.name, subject(run)
        first = RETRY.search(name) is None
        seconds = next((s for p, s in self.rules.slow.items() if _matches([p], name, what)), self.rules.duration)
        outcome: tuple[str, str | None, str | None]
        if first and _matches(self.rules.time_out, name, what):
            outcome = ("TIMED_OUT", "States.Timeout", f"the sandbox was asked to time out {what or name}")
        elif first and _matches(self.rules.fail, name, what):
            outcome = ("FAILED", "SandboxFailure", f"the sandbox was asked to fail {what or name} (its first attempt)")
        else:
            outcome = ("SUCCEEDED", None, None)
        failing = _matches(self.rules.failing_tests, name, what)

        def finish() -> None:
            status, error, cause = outcome
            if status == "SUCCEEDED":
                try:
                    written = self._outputs(run, failing=failing)
                except Exception as problem:  # noqa: BLE001 - the job fails, as a real one would; never stays RUNNING
                    status, error, cause = "FAILED", "SandboxOutputs", f"its outputs could not be written: {problem}"
                    written = 0
            if status == "SUCCEEDED":
                wrote = f", wrote {plural(written, 'object')}" if written else ""
                log.info("sandbox: %s %s (%s)%s", name, status, what, wrote)
            else:
                log.info("sandbox: %s %s (%s): %s", name, status, what, cause)
            execution.status, execution.error, execution.cause = status, error, cause
            execution.stop_date = datetime.now(UTC)

        heapq.heappush(self._due, _Due(time.monotonic() + seconds, name, finish))

    def _outputs(self, run: Mapping[str, Any], *, failing: bool) -> int:
        variation = self.variation(str(run.get("docker_image_id", "")))
        written = outputs.standardized(run, variation) or outputs.validation_report(run, failing=failing) or {}
        for path, data in written.items():
            self.write(path, data)
        return len(written)
