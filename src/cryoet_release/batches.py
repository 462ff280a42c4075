"""The ledger of a batch: append-only JSON lines that tell, after any crash, which jobs were confirmed started.

Layout of `<ledger dir>/<batch>.jsonl`: one `batch` record (the parameters and the number of jobs), one `planned`
record per job (its name and its exact StartExecution input), then one `started` or `failed` record per
submission outcome. The plan is written whole to a temporary file, fsync'ed and renamed into place before anything
is submitted, so a ledger is either complete or absent; every later record is flushed and fsync'ed before the call
returns. A job without a `started` record may or may not exist in Step Functions; resuming submits it again under
the same name and input, and Step Functions' own idempotency (or ExecutionAlreadyExists) makes that safe. The
ledger holds no secret: inputs, ARNs and error messages only. This module names no command: callers add hints.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from cryoet_release.errors import OperationFailed, UsageError

BATCH_NAME = re.compile(r"[0-9A-Za-z_-]{1,40}")
SUFFIX = ".jsonl"


def make_folder(directory: Path) -> None:
    """Raises UsageError naming the folder when it cannot be made (under a file, /proc, no permission)."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as error:
        raise UsageError(f"ledger folder {directory}: {error.strerror or error}") from None


def check_folder(directory: Path, *, writable: bool = True) -> None:
    """That a ledger could be (`writable`) or be read in `directory`, creating nothing. Raises UsageError naming the
    folder when a file stands in its path, or its nearest existing folder cannot be written (/proc, no permission)."""
    for folder in (directory, *directory.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UsageError(f"ledger folder {directory}: {folder} is not a folder")
            if writable and not os.access(folder, os.W_OK | os.X_OK):
                raise UsageError(f"ledger folder {directory}: {folder} cannot be written")
            return


class UnknownBatch(UsageError):
    """No ledger of that name in the folder."""


def check_batch_name(name: str) -> str:
    if not BATCH_NAME.fullmatch(name):
        raise UsageError(f"batch: {name!r} is not valid: 1-40 of 0-9 A-Z a-z _ - (it becomes part of execution names)")
    return name


@dataclass(frozen=True)
class Header:
    batch: str
    kind: str
    environment: str
    region: str
    account: str
    state_machine: str
    created: str
    images: Mapping[str, str]
    parameters: Mapping[str, Any]
    sandbox: str | None = None
    """The sandbox's endpoint when the batch was made in one (its batches end with it)."""


@dataclass
class Entry:
    name: str
    key: str
    document: str
    input_sha256: str
    status: str = "planned"
    """planned (outcome unknown) | started | failed"""
    execution_arn: str | None = None
    start_date: str | None = None
    error_code: str | None = None
    error: str | None = None
    retry_of: str | None = None
    """The job's first attempt, when this entry is a later attempt of it (see `add_attempts`)."""
    attempt: int = 0
    """0 for the first attempt, then 1, 2, ..."""

    @property
    def job(self) -> str:
        """The name of the job's first attempt: what every attempt of one job has in common."""
        return self.retry_of or self.name


@dataclass
class Ledger:
    path: Path
    header: Header
    entries: dict[str, Entry]
    whole_length: int | None = None
    """Bytes of whole lines, when the last line was cut short by a crash (it is ignored); None: no cut line."""
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def truncated_tail(self) -> bool:
        return self.whole_length is not None

    def repair_tail(self) -> None:
        """Drop a line cut by a crash, so that the next record starts on a line of its own."""
        if self.whole_length is not None:
            with self.path.open("r+b") as file:
                file.truncate(self.whole_length)
                file.flush()
                os.fsync(file.fileno())
            self.whole_length = None

    @property
    def batch(self) -> str:
        return self.header.batch

    def summary(self) -> dict[str, Any]:
        """What a batch is, as the JSON of `enqueue` and `status` both begin."""
        return {
            "batch": self.batch,
            "kind": self.header.kind,
            "environment": self.header.environment,
            "state_machine": self.header.state_machine,
            "images": dict(self.header.images),
        }

    def pending(self) -> list[Entry]:
        """Attempts not confirmed started, in plan order."""
        return [entry for entry in self.entries.values() if entry.status != "started"]

    def latest(self) -> list[Entry]:
        """Each job's latest attempt, in plan order."""
        latest: dict[str, Entry] = {}
        for entry in self.entries.values():
            if entry.job not in latest or entry.attempt > latest[entry.job].attempt:
                latest[entry.job] = entry
        return list(latest.values())

    def add_attempts(self, attempts: Iterable[tuple[Entry, str, str]]) -> None:
        """Plan new attempts of jobs: (the latest attempt, the new name, the new input), durably, before any is
        submitted. One line per attempt: a crash between two leaves the first planned, and the next `retry` plans
        the second."""
        for previous, name, document in attempts:
            entry = Entry(
                name, previous.key, document, input_hash(document), retry_of=previous.job, attempt=previous.attempt + 1
            )
            record = {
                "type": "planned", "name": name, "key": entry.key, "input_sha256": entry.input_sha256,
                "input": document, "retry_of": entry.retry_of, "attempt": entry.attempt,
            }  # fmt: skip
            self._append(record)
            self.entries[name] = entry

    def counts(self, *, latest: bool = False) -> dict[str, int]:
        """Attempts by submission status; `latest`: each job's latest attempt only (a job retried counts once)."""
        counts = dict.fromkeys(("planned", "started", "failed"), 0)
        for entry in self.latest() if latest else self.entries.values():
            counts[entry.status] += 1
        return counts

    def record_started(self, name: str, execution_arn: str, start_date: str) -> None:
        self._append({"type": "started", "name": name, "execution_arn": execution_arn, "start_date": start_date})
        entry = self.entries[name]
        entry.status, entry.execution_arn, entry.start_date = "started", execution_arn, start_date
        entry.error_code = entry.error = None

    def record_failed(self, name: str, error_code: str, error: str) -> None:
        self._append({"type": "failed", "name": name, "error_code": error_code, "error": error})
        entry = self.entries[name]
        entry.status, entry.error_code, entry.error = "failed", error_code, error

    def _append(self, record: Mapping[str, Any]) -> None:
        """One record, durable when this returns. The lines are written one at a time; each writer then waits for
        the disk outside the lock, so that records which arrive together share one flush (group commit)."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as file:
            with self._write_lock:
                file.write(line)
                file.flush()
            os.fsync(file.fileno())


def _durable_write(file: IO[str], text: str) -> None:
    file.write(text)
    file.flush()
    os.fsync(file.fileno())


def input_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def ledger_path(directory: Path, batch: str) -> Path:
    return directory / f"{batch}{SUFFIX}"


def create(directory: Path, header: Header, jobs: Iterable[tuple[str, str, str]]) -> Ledger:
    """Write a new ledger, whole or not at all: the header and every planned (name, key, document), durably,
    before any submission. Call it holding the batch's lock.

    Raises UsageError if the batch already has a ledger, OperationFailed if it cannot be written (nothing of it
    is left behind then).
    """
    make_folder(directory)
    path = ledger_path(directory, header.batch)
    entries = {name: Entry(name, key, document, input_hash(document)) for name, key, document in jobs}
    lines = [json.dumps({"type": "batch", **asdict(header), "jobs": len(entries)}, separators=(",", ":"))]
    lines += [
        json.dumps(
            {"type": "planned", "name": e.name, "key": e.key, "input_sha256": e.input_sha256, "input": e.document},
            separators=(",", ":"),
        )
        for e in entries.values()
    ]
    if path.exists():
        raise UsageError(f"batch {header.batch!r} already exists in {directory}")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            _durable_write(file, "\n".join(lines) + "\n")
        temporary.rename(path)
        _fsync_directory(directory)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OperationFailed(
            f"cannot write the ledger {path}: {error.strerror or error}; nothing was submitted"
        ) from None
    return Ledger(path, header, entries)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load(directory: Path, batch: str) -> Ledger:
    """Read a ledger back. Raises UnknownBatch, or UsageError for a ledger that is not one (or not whole)."""
    path = ledger_path(directory, check_batch_name(batch))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnknownBatch(f"no batch {batch!r} in {directory}") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    return _parse(path, data)


_HEADER_KEYS = {f.name for f in fields(Header)}
_OPTIONAL_KEYS = {"sandbox"}  # written by later versions: a ledger without them is whole


def _parse(path: Path, data: bytes) -> Ledger:
    """Raises UsageError naming the file (and line) for anything that is not a whole ledger."""
    whole = data.rfind(b"\n") + 1
    cut = whole < len(data)  # a complete ledger ends with a newline; a crash can cut the last line
    records: list[dict[str, Any]] = []
    for number, line in enumerate(data[:whole].split(b"\n")[:-1], start=1):
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict):
            raise UsageError(f"{path}:{number}: not a ledger line")
        records.append(record)
    keys = set(records[0]) - {"type", "jobs"} if records else set()
    if not records or records[0].get("type") != "batch" or not _HEADER_KEYS - _OPTIONAL_KEYS <= keys <= _HEADER_KEYS:
        raise UsageError(f"{path}: not a cryoet-release ledger (its first line is not a batch record)")
    header = Header(**{k: v for k, v in records[0].items() if k in _HEADER_KEYS})
    bad = _bad_header_field(header)
    if bad:
        raise UsageError(f"{path}: not a cryoet-release ledger (its batch record has a bad {bad})")
    try:
        entries = _entries(records[1:])
    except (KeyError, TypeError):
        raise UsageError(f"{path}: not a cryoet-release ledger (a record lacks a field)") from None
    planned, first = records[0].get("jobs"), sum(entry.retry_of is None for entry in entries.values())
    if planned is not None and planned != first:
        raise UsageError(
            f"{path}: incomplete ledger ({first} of {planned} jobs planned): it was cut while being written,"
            " before anything was submitted; delete it and enqueue again"
        )
    return Ledger(path, header, entries, whole_length=whole if cut else None)


_STATE_MACHINE = re.compile(r"arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[0-9A-Za-z_-]+")


def _bad_header_field(header: Header) -> str | None:
    """The first field of a batch record that is not what the tool writes, or None."""
    for name in ("batch", "kind", "environment", "region", "account", "state_machine", "created"):
        if not isinstance(getattr(header, name), str):
            return name
    if not _STATE_MACHINE.fullmatch(header.state_machine):
        return "state_machine"
    for name in ("images", "parameters"):
        if not isinstance(getattr(header, name), dict):
            return name
    return None


def _entries(records: Iterable[dict[str, Any]]) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for record in records:
        kind, name = record["type"], record["name"]
        if kind == "planned":
            entries[name] = Entry(
                name, record["key"], record["input"], record["input_sha256"],
                retry_of=record.get("retry_of"), attempt=record.get("attempt", 0),
            )  # fmt: skip
        elif kind == "started" and name in entries:
            entry = entries[name]
            entry.status, entry.execution_arn, entry.start_date = (
                "started",
                record["execution_arn"],
                record["start_date"],
            )
        elif kind == "failed" and name in entries and entries[name].status != "started":
            entry = entries[name]
            entry.status, entry.error_code, entry.error = "failed", record["error_code"], record["error"]
    return entries


def list_ledgers(directory: Path) -> tuple[list[Ledger], list[str]]:
    """Every readable ledger in the folder, newest first; and a line for each file that is not one.

    Raises UsageError when the folder cannot be one (a file stands in its path).
    """
    check_folder(directory, writable=False)
    ledgers, problems = [], []
    for path in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else ():
        if not BATCH_NAME.fullmatch(path.name.removesuffix(SUFFIX)):
            continue  # not a batch's ledger: what is kept beside one (its final states, <batch>.final.jsonl)
        try:
            ledgers.append(_parse(path, path.read_bytes()))
        except UsageError as error:
            problems.append(error.message)
        except OSError as error:
            problems.append(f"{path}: cannot read: {error.strerror or error}")
    ledgers.sort(key=lambda ledger: (ledger.header.created, ledger.batch), reverse=True)
    return ledgers, problems


@contextmanager
def locked(directory: Path, batch: str) -> Iterator[None]:
    """Hold the batch's lock (flock on `<batch>.lock`). Raises OperationFailed if another process holds it."""
    make_folder(directory)
    with (directory / f"{batch}.lock").open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OperationFailed(
                f"batch {batch!r} is being submitted by {holder}; wait for it to finish, then resume if needed"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
