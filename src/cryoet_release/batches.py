"""The ledger of a batch: append-only JSON lines that tell, after any crash, which jobs were confirmed started.

Layout of `<ledger dir>/<batch>.jsonl`: one `batch` record (the parameters), one `planned` record per job (its
name and its exact StartExecution input), then one `started` or `failed` record per submission outcome. Every
write is flushed and fsync'ed before the call returns. A job without a `started` record may or may not exist in
Step Functions; resuming submits it again under the same name and input, and Step Functions' own idempotency
(or ExecutionAlreadyExists) makes that safe. The ledger holds no secret: inputs, ARNs and error messages only.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from cryoet_release.errors import OperationFailed, UsageError

BATCH_NAME = re.compile(r"[0-9A-Za-z_-]{1,40}")
SUFFIX = ".jsonl"


def ledger_dir(override: Path | None = None) -> Path:
    """--ledger-dir, else $XDG_STATE_HOME/cryoet-release/batches, else ~/.local/state/cryoet-release/batches."""
    if override is not None:
        return override
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cryoet-release" / "batches"


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


@dataclass
class Ledger:
    path: Path
    header: Header
    entries: dict[str, Entry]
    truncated_tail: bool = False
    """The last line was cut short by a crash; it is ignored."""
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def batch(self) -> str:
        return self.header.batch

    def pending(self) -> list[Entry]:
        """Jobs not confirmed started, in plan order."""
        return [entry for entry in self.entries.values() if entry.status != "started"]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("planned", "started", "failed"), 0)
        for entry in self.entries.values():
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
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._write_lock, self.path.open("a", encoding="utf-8") as file:
            _durable_write(file, line)


def _durable_write(file: IO[str], text: str) -> None:
    file.write(text)
    file.flush()
    os.fsync(file.fileno())


def input_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def ledger_path(directory: Path, batch: str) -> Path:
    return directory / f"{batch}{SUFFIX}"


def create(directory: Path, header: Header, jobs: Iterable[tuple[str, str, str]]) -> Ledger:
    """Write a new ledger: the header and every planned (name, key, document), durably, before any submission.

    Raises UsageError if the batch already has a ledger.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = ledger_path(directory, header.batch)
    entries = {name: Entry(name, key, document, input_hash(document)) for name, key, document in jobs}
    lines = [json.dumps({"type": "batch", **asdict(header)}, separators=(",", ":"))]
    lines += [
        json.dumps(
            {"type": "planned", "name": e.name, "key": e.key, "input_sha256": e.input_sha256, "input": e.document},
            separators=(",", ":"),
        )
        for e in entries.values()
    ]
    try:
        with path.open("x", encoding="utf-8") as file:
            _durable_write(file, "\n".join(lines) + "\n")
    except FileExistsError:
        raise UsageError(
            f"batch {header.batch!r} already exists in {directory}",
            hint=f"Resume it with: cryoet-release enqueue resume {header.batch}",
        ) from None
    _fsync_directory(directory)
    return Ledger(path, header, entries)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load(directory: Path, batch: str) -> Ledger:
    """Read a ledger back. Raises UsageError for an unknown batch or a ledger that is not one."""
    path = ledger_path(directory, check_batch_name(batch))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no batch {batch!r} in {directory}", hint="List them with: cryoet-release batches") from None
    return _parse(path, text)


def _parse(path: Path, text: str) -> Ledger:
    lines = text.split("\n")
    truncated = bool(lines[-1])  # a complete ledger ends with a newline
    records = []
    for number, line in enumerate(lines[:-1] if not truncated else lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if truncated and number == len(lines):
                continue
            raise UsageError(f"{path}:{number}: not a ledger line") from None
    if not records or records[0].get("type") != "batch":
        raise UsageError(f"{path}: not a cryoet-release ledger (no batch record first)")
    header = Header(**{k: v for k, v in records[0].items() if k != "type"})
    entries: dict[str, Entry] = {}
    for record in records[1:]:
        kind, name = record.get("type"), record.get("name")
        if kind == "planned":
            entries[name] = Entry(name, record["key"], record["input"], record["input_sha256"])
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
    return Ledger(path, header, entries, truncated_tail=truncated)


def list_ledgers(directory: Path) -> list[Ledger]:
    """Every readable ledger in the folder, newest first."""
    ledgers = []
    for path in directory.glob(f"*{SUFFIX}") if directory.is_dir() else ():
        try:
            ledgers.append(_parse(path, path.read_text(encoding="utf-8")))
        except (UsageError, OSError, TypeError, KeyError):
            continue
    return sorted(ledgers, key=lambda ledger: (ledger.header.created, ledger.batch), reverse=True)


@contextmanager
def locked(directory: Path, batch: str) -> Iterator[None]:
    """Hold the batch's lock (flock on `<batch>.lock`). Raises UsageError if another process holds it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
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
