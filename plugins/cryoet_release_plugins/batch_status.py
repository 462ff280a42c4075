"""Reading a batch back from Step Functions: every job's execution, looked up by its deterministic ARN."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release import batches
from cryoet_release.console import make_table
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import OperationFailed, UsageError
from cryoet_release.models import partition_of

STATES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "NOT_STARTED")
CLOSED_WITH_ERROR = {"FAILED", "TIMED_OUT", "ABORTED"}
_CONSOLE = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


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

    def console_url(self, region: str) -> str | None:
        if self.arn is None:
            return None
        domain = _CONSOLE[partition_of(region)]
        return f"https://{region}.{domain}/states/home?region={region}#/v2/executions/details/{self.arn}"


def collect(aws: cloud.Aws, ledger: batches.Ledger, *, parallelism: int) -> list[JobState]:
    """The state of every job's latest attempt.

    A job is looked up by the ARN its name gives, whatever the ledger says: a submission whose response was lost
    still shows as the execution it created.
    """
    machine = ledger.header.state_machine
    entries = ledger.latest()
    found: dict[str, cloud.Execution] = {}
    # One DescribeExecution per job, concurrently: the cost grows with the batch, never with the state machine's
    # history (ListExecutions cannot filter by name), and errors and causes come only from DescribeExecution.
    to_describe = [e.name for e in entries]
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        described = pool.map(
            lambda name: cloud.describe_execution(aws, cloud.execution_arn(machine, name)), to_describe
        )
        for name, execution in zip(to_describe, described, strict=True):
            if execution is not None:
                found[name] = execution
    states = []
    for entry in entries:
        execution = found.get(entry.name)
        if execution is None:
            states.append(
                JobState(entry.name, entry.key, "NOT_STARTED", None, entry.error_code, entry.error, entry.attempt)
            )
        else:
            states.append(
                JobState(
                    entry.name, entry.key, execution.status, execution.arn, execution.error, execution.cause,
                    entry.attempt,
                )
            )  # fmt: skip
    return states


def failed(states: list[JobState]) -> list[JobState]:
    """The jobs whose latest attempt closed with an error."""
    return [state for state in states if state.state in CLOSED_WITH_ERROR]


def counts(states: list[JobState]) -> dict[str, int]:
    tally = Counter(state.state for state in states)
    return {state: tally.get(state, 0) for state in (*STATES, *sorted(set(tally) - set(STATES)))}


LIST_HINT = "List them with: cryoet-release batches"


def load_batch(directory: Path, batch: str) -> batches.Ledger:
    """The batch's ledger; an unknown batch says how to list them."""
    try:
        return batches.load(directory, batch)
    except batches.UnknownBatch as error:
        raise UsageError(error.message, hint=LIST_HINT) from None


def readable_ledgers(opts: GlobalOptions, directory: Path) -> list[batches.Ledger]:
    """Every ledger of the folder, newest first; a file that is not one is a warning, not the end of the list."""
    ledgers, problems = batches.list_ledgers(directory)
    for problem in problems:
        opts.output.warn(f"skipped: {problem}")
    return ledgers


def pick_ledger(opts: GlobalOptions, batch: str | None, *, latest: bool, ledger_dir: Path | None) -> batches.Ledger:
    directory = batches.ledger_dir(ledger_dir, opts.environ)
    if latest == (batch is not None):
        raise UsageError("give a BATCH or --latest (one of them)")
    if batch is not None:
        return load_batch(directory, batch)
    newest = readable_ledgers(opts, directory)
    if not newest:
        raise UsageError(f"no batches in {directory}")
    return newest[0]


def show_status(
    opts: GlobalOptions,
    batch: str | None,
    *,
    latest: bool,
    watch: bool,
    interval: float,
    parallelism: int,
    ledger_dir: Path | None,
    exit_status: bool = False,
) -> None:
    """Raises OperationFailed with `exit_status` when a job's latest attempt failed (as `gh run watch`)."""
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    ledger = pick_ledger(opts, batch, latest=latest, ledger_dir=ledger_dir)
    aws = opts.aws(region=ledger.header.region, max_pool_connections=parallelism)
    states = collect(aws, ledger, parallelism=parallelism)
    if watch and not output.json_mode:
        from rich.live import Live

        # Ctrl-C is the normal way out of a watch: the last table stays, and the exit code is 0.
        with (
            suppress(KeyboardInterrupt),
            Live(_render(ledger, states), console=output.stderr, refresh_per_second=1, transient=True) as live,
        ):
            while any(state.state == "RUNNING" for state in states):
                time.sleep(interval)
                states = collect(aws, ledger, parallelism=parallelism)
                live.update(_render(ledger, states))
    elif watch:
        with suppress(KeyboardInterrupt):
            while any(state.state == "RUNNING" for state in states):
                time.sleep(interval)
                states = collect(aws, ledger, parallelism=parallelism)
    output.result(_document(ledger, states), lambda: output.stdout.print(_render(ledger, states)))
    broken = failed(states)
    if broken:
        retry = f"Retry them with: cryoet-release enqueue retry {ledger.batch}"
        if exit_status:
            raise OperationFailed(f"{len(broken)} of {len(states)} job(s) failed", hint=retry)
        output.info(f"{len(broken)} of {len(states)} job(s) failed. {retry}")


def _document(ledger: batches.Ledger, states: list[JobState]) -> dict[str, Any]:
    region = ledger.header.region
    attempts: dict[str, list[str]] = {}
    for entry in ledger.entries.values():
        attempts.setdefault(entry.job, []).append(entry.name)
    history = {names[-1]: names for names in attempts.values()}
    return {
        "batch": ledger.batch,
        "kind": ledger.header.kind,
        "environment": ledger.header.environment,
        "state_machine": ledger.header.state_machine,
        "images": dict(ledger.header.images),
        "counts": counts(states),
        "closed": not any(state.state == "RUNNING" for state in states),
        "executions": [
            {
                "name": s.name,
                "key": s.key,
                "attempt": s.attempt,
                "attempts": history.get(s.name, [s.name]),
                "state": s.state,
                "execution_arn": s.arn,
                "error": s.error,
                "cause": s.cause,
                "console_url": s.console_url(region),
            }
            for s in states
        ],
    }


def _render(ledger: batches.Ledger, states: list[JobState]) -> Any:
    from rich.console import Group
    from rich.text import Text

    tally = counts(states)
    summary = make_table(
        list(tally), [list(tally.values())], title=f"batch {ledger.batch}: {ledger.header.kind}, {len(states)} jobs"
    )
    images = Text("\n".join(f"{role}: {ref}" for role, ref in ledger.header.images.items()))
    failed = [s for s in states if s.state in CLOSED_WITH_ERROR or (s.state == "NOT_STARTED" and s.error)]
    if not failed:
        return Group(summary, images)
    region = ledger.header.region
    details = make_table(
        ["execution", "job", "state", "error", "cause", "console"],
        ([s.name, s.key, s.state, s.error, (s.cause or "")[:200], s.console_url(region)] for s in failed),
        title="failed",
    )
    return Group(summary, images, details)


def show_batches(opts: GlobalOptions, ledger_dir: Path | None) -> None:
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    directory = batches.ledger_dir(ledger_dir, opts.environ)
    rows = []
    for ledger in readable_ledgers(opts, directory):
        tally = ledger.counts()
        rows.append(
            {
                "batch": ledger.batch,
                "created": ledger.header.created,
                "kind": ledger.header.kind,
                "environment": ledger.header.environment,
                "jobs": len(ledger.entries),
                "started": tally["started"],
                "failed": tally["failed"],
                "unknown": tally["planned"],
                "ledger": str(ledger.path),
            }
        )
    output.result(
        {"ledger_dir": str(directory), "batches": rows},
        lambda: output.table(
            ["batch", "created", "kind", "environment", "jobs", "started", "failed", "unknown"],
            ([r["batch"], r["created"], r["kind"], r["environment"], r["jobs"], r["started"], r["failed"], r["unknown"]]
             for r in rows),
            title=f"batches in {directory}",
        ),
    )  # fmt: skip
