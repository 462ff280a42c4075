"""Reading a batch back from Step Functions: the state of every job's latest attempt, found by its deterministic name.

What `status`, `retry`, `resume` and `compare` all need, below each of them. It is built to cost Step Functions
little at any size (see quotas for the rates the account allows):

- A finished state is final: SUCCEEDED, FAILED, TIMED_OUT or ABORTED, with its error and cause, is recorded once,
  in a file beside the ledger (`<batch>.final.jsonl`), and never asked for again. Re-reading a finished batch makes
  no call at all. `refresh=True` reads everything again (a redriven execution is RUNNING again) and rewrites it.
- The jobs not known final cost pages, not calls, when that is cheaper. Three ways, the cheapest chosen each time:
  describe each one; list the state machine's RUNNING executions (pages of 1,000) and describe only the jobs that
  left RUNNING; or, on a first reading, list every execution started since the batch was created, newest first
  (SUCCEEDED ones need nothing more; the failed ones are described once, for their error and cause).

The record file is as crash-safe as the ledger: whole lines appended, flushed and fsync'ed under a lock; a line cut
by a crash is dropped (and truncated before the next append); anything else that is not a record of this batch
makes the file untrusted, and it is rebuilt from Step Functions.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from cryoet_release import aws as cloud
from cryoet_release import batches
from cryoet_release.models import partition_of
from cryoet_release.submission import NAME_TAKEN

STATES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "NOT_STARTED")
FINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
CLOSED_WITH_ERROR = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
PAGE = 1000
"""ListExecutions' largest page."""
_CONSOLE = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
log = logging.getLogger("cryoet_release.executions")


@dataclass(frozen=True)
class JobState:
    name: str
    key: str
    state: str
    arn: str | None
    error: str | None = None
    cause: str | None = None
    attempt: int = 0
    """0: the job's first attempt; n: its n-th retry (`enqueue retry`)."""
    start_date: str | None = None
    stop_date: str | None = None

    def console_url(self, region: str) -> str | None:
        if self.arn is None:
            return None
        domain = _CONSOLE[partition_of(region)]
        return f"https://{region}.{domain}/states/home?region={region}#/v2/executions/details/{self.arn}"


@dataclass(frozen=True)
class Final:
    """An execution's final state, as recorded."""

    name: str
    arn: str
    status: str
    start_date: str
    stop_date: str | None = None
    error: str | None = None
    cause: str | None = None
    input_sha256: str | None = None
    """The input's hash when it was read (DescribeExecution), to tell the batch's own from another's."""


class FinalStates:
    """The final states of a batch's executions, in `<batch>.final.jsonl` beside its ledger."""

    def __init__(self, ledger: batches.Ledger) -> None:
        self.path = ledger.path.with_name(f"{ledger.batch}.final.jsonl")
        self.header = {
            "type": "final-states",
            "batch": ledger.batch,
            "state_machine": ledger.header.state_machine,
            "created": ledger.header.created,
        }
        self.problem: str | None = None
        """Why the file was not trusted (it is rebuilt), if it was not."""

    def load(self) -> dict[str, Final]:
        """The recorded states; {} for a file that is missing or not to be trusted (see `problem`)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            self.problem = f"{self.path}: cannot read: {error.strerror or error}"
            return {}
        lines = data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]  # a line cut by a crash is not a record
        try:
            header, *records = (json.loads(line) for line in lines)
            if header != self.header:
                self.problem = f"{self.path} belongs to another batch of the same name"
                return {}
            finals = [Final(**record) for record in records]
        except (ValueError, TypeError, UnicodeDecodeError):
            self.problem = f"{self.path} is not a record of final states"
            return {}
        return {final.name: final for final in finals if final.status in FINAL}

    def record(self, finals: Sequence[Final], *, rewrite: bool = False) -> None:
        """Append `finals` durably (or, `rewrite`, replace the file with them). A file not to be trusted is
        rewritten. A record that cannot be written only costs the next reading its calls."""
        if not finals and not rewrite and self.path.exists() and self.problem is None:
            return
        lines = [json.dumps(asdict(final), separators=(",", ":")) for final in finals]
        try:
            if rewrite or self.problem is not None or not self.path.exists():
                self._replace([json.dumps(self.header, separators=(",", ":")), *lines])
                self.problem = None
            else:
                self._append(lines)
        except OSError as error:
            log.debug("final states not recorded in %s: %s", self.path, error.strerror or error)

    def _replace(self, lines: Sequence[str]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("w", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
        finally:
            temporary.unlink(missing_ok=True)

    def _append(self, lines: Sequence[str]) -> None:
        with self.path.open("r+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # readers of other processes append too
            data = file.read()
            whole = data.rfind(b"\n") + 1
            if whole < len(data):  # a line cut by a crash: it goes before ours follow
                file.truncate(whole)
            file.seek(whole)
            file.write(("\n".join(lines) + "\n").encode())
            file.flush()
            os.fsync(file.fileno())


@dataclass
class Reading:
    """What one reading cost, and why it read so."""

    calls: Counter[str] = field(default_factory=Counter)
    way: str = "none"
    why: str = ""


def _as_final(execution: cloud.Execution) -> Final:
    from cryoet_release.batches import input_hash

    return Final(
        execution.name, execution.arn, execution.status, execution.start_date, execution.stop_date, execution.error,
        execution.cause, input_hash(execution.input) if execution.input is not None else None,
    )  # fmt: skip


class Tracker:
    """The states of one batch's jobs, kept current at the least cost; one per batch and process (`status
    --watch` reads through the same one, so it learns how many executions run on the state machine)."""

    def __init__(self, aws: cloud.Aws, ledger: batches.Ledger, *, parallelism: int) -> None:
        self.aws = aws
        self.ledger = ledger
        self.parallelism = parallelism
        self.records = FinalStates(ledger)
        self.known = self.records.load()
        if self.records.problem:
            log.debug("%s: rebuilding it from Step Functions", self.records.problem)
        self.running_on_machine: int | None = None
        """Executions RUNNING on the state machine at the last listing (this batch's and others')."""
        self.listed_since = False
        self.absent: dict[str, str] = {}
        """Jobs a describe found without an execution, with their ledger status then: not asked again until the
        ledger says something new of them (a resume or retry started them)."""
        self.last = Reading()
        self._seen = self._stamp()

    @property
    def machine(self) -> str:
        return self.ledger.header.state_machine

    def states(self, *, refresh: bool = False) -> list[JobState]:
        """The state of every job's latest attempt. `refresh`: forget what is recorded and read everything again."""
        if refresh:
            self.known, self.absent = {}, {}
        self._follow_ledger()
        entries = self.ledger.latest()
        # A name that another input holds is never this job's execution (see submission.NAME_TAKEN).
        mine = [e for e in entries if not (e.status == "failed" and e.error_code == NAME_TAKEN)]
        unknown = [e for e in mine if e.name not in self.known and self.absent.get(e.name) != e.status]
        reading = Reading()
        found = self._read(unknown, reading) if unknown else {}
        new = [_as_final(x) for x in found.values() if x.status in FINAL and x.name not in self.known]
        for final in new:
            self.known[final.name] = final
        if refresh:
            self.records.record(list(self.known.values()), rewrite=True)
        elif new:
            self.records.record(new)
        self.last = reading
        log.debug(
            "batch %s: %d job(s) known final or not started, %d read (%s: %s); calls: %s",
            self.ledger.batch, len(mine) - len(unknown), len(unknown), reading.way, reading.why,
            dict(reading.calls) or "none",
        )  # fmt: skip
        return [self._state(entry, found) for entry in entries]

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.ledger.path.stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def _follow_ledger(self) -> None:
        """Read the ledger again when another process wrote to it (a resume or retry during a watch)."""
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            self.ledger = batches.load(self.ledger.path.parent, self.ledger.batch)
            self._seen = stamp

    def final(self, name: str) -> Final | None:
        """What is recorded of an execution's final state, if anything."""
        return self.known.get(name)

    def _state(self, entry: batches.Entry, found: Mapping[str, cloud.Execution]) -> JobState:
        final = self.known.get(entry.name)
        if final is not None:
            return JobState(
                entry.name, entry.key, final.status, final.arn, final.error, final.cause, entry.attempt,
                final.start_date, final.stop_date,
            )  # fmt: skip
        execution = found.get(entry.name)
        if execution is None:
            return JobState(entry.name, entry.key, "NOT_STARTED", None, entry.error_code, entry.error, entry.attempt)
        return JobState(
            entry.name, entry.key, execution.status, execution.arn, execution.error, execution.cause, entry.attempt,
            execution.start_date, execution.stop_date,
        )  # fmt: skip

    # --- the three ways -------------------------------------------------------------------------------------------

    def _read(self, unknown: Sequence[batches.Entry], reading: Reading) -> dict[str, cloud.Execution]:
        """The executions of `unknown` jobs (a job missing from the answer has none), read the cheapest way."""
        describe = self.aws.limiter("DescribeExecution")
        listing = self.aws.limiter("ListExecutions")
        # One list page, in the account's time, is worth this many describes (their refill rates' ratio).
        page = (describe.limit.refill / listing.limit.refill) if describe and listing else 3.0
        count = len(unknown)
        running_pages = max(1, math.ceil((self.running_on_machine or count) / PAGE))
        since_pages = max(1, math.ceil(len(self.ledger.entries) / PAGE))
        if not self.listed_since and count > page * since_pages:
            reading.way = "list since the batch began"
            reading.why = (
                f"{count} jobs not known final; listing the executions since the batch began (about {since_pages}"
                f" page(s)) then describing the failed ones costs less than {count} describes"
            )
            return self._since(unknown, reading, budget=max(1, int(count / page)))
        if count > page * running_pages:
            reading.way = "list RUNNING"
            reading.why = (
                f"{count} jobs not known final; about {running_pages} page(s) of RUNNING executions, then a"
                f" describe of each job that left RUNNING, costs less than {count} describes"
            )
            return self._running(unknown, reading)
        reading.way = "describe each"
        reading.why = f"{count} job(s) not known final: fewer describes than the pages a listing would take"
        return self._describe(unknown, reading)

    def _describe(self, entries: Sequence[batches.Entry], reading: Reading) -> dict[str, cloud.Execution]:
        def one(entry: batches.Entry) -> cloud.Execution | None:
            return cloud.describe_execution(self.aws, cloud.execution_arn(self.machine, entry.name))

        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            described = list(pool.map(one, entries))
        reading.calls["DescribeExecution"] += len(entries)
        found = {}
        for entry, execution in zip(entries, described, strict=True):
            if execution is None:
                if entry.status != "started":  # a started one may not be readable yet; never one to forget
                    self.absent[entry.name] = entry.status
                continue
            if execution.input is not None and batches.input_hash(execution.input) != entry.input_sha256:
                log.debug("%s: the execution of that name has another input: not this batch's", entry.name)
                continue
            found[entry.name] = execution
        return found

    def _running(self, unknown: Sequence[batches.Entry], reading: Reading) -> dict[str, cloud.Execution]:
        wanted = {entry.name for entry in unknown}
        running: dict[str, cloud.Execution] = {}
        total = 0
        for items in cloud.list_executions(self.aws, self.machine, status="RUNNING", page_size=PAGE):
            reading.calls["ListExecutions"] += 1
            total += len(items)
            running.update((item.name, item) for item in items if item.name in wanted)
        self.running_on_machine = total
        left = [entry for entry in unknown if entry.name not in running]
        return {**running, **self._describe(left, reading)}

    def _since(self, unknown: Sequence[batches.Entry], reading: Reading, *, budget: int) -> dict[str, cloud.Execution]:
        """Every execution started since the batch was created (newest first, so it stops there), within `budget`
        pages; the jobs it does not see, and the failed ones (for their error and cause), are described."""
        self.listed_since = True
        created = datetime.fromisoformat(self.ledger.header.created) - timedelta(minutes=5)  # clocks differ
        wanted = {entry.name for entry in unknown}
        seen: dict[str, cloud.Execution] = {}
        running = 0
        for items in cloud.list_executions(self.aws, self.machine, page_size=PAGE):
            reading.calls["ListExecutions"] += 1
            running += sum(item.status == "RUNNING" for item in items)
            seen.update((item.name, item) for item in items if item.name in wanted)
            if not items or datetime.fromisoformat(items[-1].start_date) < created or len(seen) == len(wanted):
                break
            if reading.calls["ListExecutions"] >= budget:
                reading.why += f"; stopped at {budget} page(s)"
                break
        self.running_on_machine = running
        again = [e for e in unknown if e.name not in seen or seen[e.name].status in CLOSED_WITH_ERROR]
        return {**seen, **self._describe(again, reading)}


def failed(states: Iterable[JobState]) -> list[JobState]:
    """The jobs whose latest attempt closed with an error."""
    return [state for state in states if state.state in CLOSED_WITH_ERROR]


def counts(states: Iterable[JobState]) -> dict[str, int]:
    tally = Counter(state.state for state in states)
    return {state: tally.get(state, 0) for state in (*STATES, *sorted(set(tally) - set(STATES)))}


def collect(aws: cloud.Aws, ledger: batches.Ledger, *, parallelism: int, refresh: bool = False) -> list[JobState]:
    """The state of every job's latest attempt (one reading; see Tracker)."""
    return Tracker(aws, ledger, parallelism=parallelism).states(refresh=refresh)
