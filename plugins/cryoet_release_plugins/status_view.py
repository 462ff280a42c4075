"""`status` and `batches`: what became of a batch's jobs, as a summary, a live view, lines for a log, or one JSON
document.

A person at a terminal gets a summary at any size: the counts, the failed jobs (the first ones, one block each), the
jobs running longest. `--all` lists every job; `--json` has every job, always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryoet_release import batches
from cryoet_release.console import Output, fitted, plural
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import AwsError, Interrupted, OperationFailed, UsageError
from cryoet_release.executions import CLOSED_WITH_ERROR, JobState, Tracker, counts, failed
from cryoet_release_plugins.batch.ledgers import batch_command, folder, pick_ledger, readable_ledgers, sandbox_gone
from cryoet_release_plugins.verdict.reports import TestReport

SHOWN_FAILURES = 20
SHOWN_RUNNING = 5
HEARTBEAT = 120.0
"""Seconds between two lines of a watch that is not on a terminal, when nothing changes (CI kills a job that
prints nothing for ten minutes)."""


@dataclass(frozen=True)
class StatusRequest:
    batch: str | None
    latest: bool = False
    watch: bool = False
    interval: float = 10
    parallelism: int = 20
    ledger_dir: Path | None = None
    exit_status: bool = False
    refresh: bool = False
    show_all: bool = False


def show_status(opts: GlobalOptions, request: StatusRequest) -> None:
    """Raises OperationFailed with `exit_status` when a job's latest attempt failed (as `gh run watch`), and
    Interrupted when a watch with `exit_status` is stopped while jobs still run."""
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    ledger = pick_ledger(opts, request.batch, latest=request.latest, ledger_dir=request.ledger_dir)
    aws = opts.aws(region=ledger.header.region, max_pool_connections=request.parallelism)
    tracker = Tracker(aws, ledger, parallelism=request.parallelism)
    try:  # a sandbox that stops before or during the watch is named as such
        states = tracker.states(refresh=request.refresh)
        interrupted = False
        if request.watch and _running(states):
            states, interrupted = _watch(output, ledger, tracker, states, request.interval)
            ledger = tracker.ledger  # as the watch last read it: a resume or retry meanwhile is in it
        reports = _reports(opts, aws, ledger, states, request.parallelism)
    except AwsError as error:
        raise sandbox_gone(ledger, error) from None
    output.result(
        _document(ledger, states, reports),
        lambda: output.stdout.print(
            _render(output, ledger, states, show_all=request.show_all, reports=reports), soft_wrap=True
        ),
    )
    if interrupted and request.exit_status:
        raise Interrupted(f"interrupted: {plural(sum(s.state == 'RUNNING' for s in states), 'job')} still running")
    broken = failed(states)
    failing = [name for name, report in reports.items() if report.failing]
    retry = f"Retry them with: {batch_command(opts, 'enqueue retry', ledger)}"
    if request.exit_status and (broken or failing):
        problems = [f"{len(broken)} of {plural(len(states), 'job')} failed"] if broken else []
        problems += [f"tests failed or broke in {plural(len(failing), 'job')}'s report"] if failing else []
        raise OperationFailed("; ".join(problems), hint=retry if broken else "The reports are linked above")
    if broken:
        output.info(f"{len(broken)} of {plural(len(states), 'job')} failed. {retry}")


def _running(states: Sequence[JobState]) -> bool:
    return any(state.state == "RUNNING" for state in states)


def _watch(
    output: Output, ledger: batches.Ledger, tracker: Tracker, states: list[JobState], interval: float
) -> tuple[list[JobState], bool]:
    """Refresh every `interval` seconds until no job runs. On a terminal, a live summary on stderr; elsewhere (a
    pipe, a file, a CI log), one line per change of the counts, and one at least every HEARTBEAT seconds. Returns the
    last states, and whether Ctrl-C stopped the watch."""
    if output.stderr.is_terminal and not output.json_mode:
        from rich.live import Live

        live = Live(_render(output, ledger, states), console=output.stderr, refresh_per_second=1, transient=True)
        show: Callable[[list[JobState]], None] = lambda now: live.update(_render(output, ledger, now))  # noqa: E731
    else:
        live = None
        last: dict[str, Any] = {"line": None, "at": 0.0}

        def show(now: list[JobState]) -> None:
            line = _count_line(ledger, now)
            if line != last["line"] or time.monotonic() - last["at"] >= HEARTBEAT:
                stamp = datetime.now(UTC).strftime("%H:%M:%SZ")
                output.info(f"{stamp} {line}")
                last.update(line=line, at=time.monotonic())

        show(states)
    current = [states]
    try:
        if live is not None:
            live.start()
        while _running(current[0]):
            _sleep(interval, lambda: show(current[0]) if live is None else None)
            current[0] = tracker.states()
            show(current[0])
    except KeyboardInterrupt:
        return current[0], True
    finally:
        if live is not None:
            live.stop()
    return current[0], False


def _sleep(seconds: float, beat: Callable[[], None]) -> None:
    """Sleep, calling `beat` every HEARTBEAT seconds of it (a long interval still shows life in a log)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, HEARTBEAT))
        if end - time.monotonic() > 0:
            beat()


def _count_line(ledger: batches.Ledger, states: Sequence[JobState]) -> str:
    shown = ", ".join(f"{state} {count}" for state, count in counts(states).items() if count)
    return f"batch {ledger.batch}: {shown} ({plural(len(states), 'job')})"


def _reports(
    opts: GlobalOptions, aws: Any, ledger: batches.Ledger, states: Sequence[JobState], parallelism: int
) -> dict[str, TestReport]:
    """The test reports of the batch's closed validation jobs (none for other kinds of job), with their links."""
    from cryoet_release_plugins.verdict.reports import read_reports, report_link

    closed = [
        (state.name, ledger.entries[state.name].document, state.start_date)
        for state in states
        if state.state in {"SUCCEEDED", "FAILED"}
    ]
    if not closed:
        return {}
    reports = read_reports(aws, closed, parallelism=parallelism)
    prefixes = {env.bucket: env.https_prefix for env in opts.config().config.environments.values()}
    for report in reports.values():
        report.link = report_link(report.place, prefixes, ledger.header.region)
    return reports


def _document(
    ledger: batches.Ledger, states: list[JobState], reports: Mapping[str, TestReport] | None = None
) -> dict[str, Any]:
    region = ledger.header.region
    attempts: dict[str, list[str]] = {}
    for entry in ledger.entries.values():
        attempts.setdefault(entry.job, []).append(entry.name)
    history = {names[-1]: names for names in attempts.values()}
    return {
        **ledger.summary(),
        "counts": counts(states),
        "closed": not _running(states),
        "executions": [
            {
                "name": s.name,
                "key": s.key,
                "attempt": s.attempt,
                "attempts": history.get(s.name, [s.name]),
                "state": s.state,
                "execution_arn": s.arn,
                "start_date": s.start_date,
                "stop_date": s.stop_date,
                "error": s.error,
                "cause": s.cause,
                "console_url": s.console_url(region),
                **_tests(ledger, s, reports or {}),
            }
            for s in states
        ],
    }


def _tests(ledger: batches.Ledger, state: JobState, reports: Mapping[str, TestReport]) -> dict[str, Any]:
    """`tests` of a validation job: its report, or null while there is none. Nothing for other jobs."""
    from cryoet_release_plugins.verdict.reports import report_place

    if report_place(ledger.entries[state.name].document) is None:
        return {}
    report = reports.get(state.name)
    return {"tests": report.as_json() if report else None}


def _elapsed(start: str | None, now: datetime) -> str:
    if start is None:
        return "-"
    seconds = int((now - datetime.fromisoformat(start)).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def _render(
    output: Output,
    ledger: batches.Ledger,
    states: list[JobState],
    *,
    show_all: bool = False,
    reports: Mapping[str, TestReport] | None = None,
) -> Any:
    """The summary a person reads: the batch on one line, its counts, its images, then the failed jobs and the jobs
    running longest (or, `show_all`, every job)."""
    from rich.console import Group
    from rich.text import Text

    console = output.stdout
    region = ledger.header.region
    header = ledger.header
    parts: list[Any] = [
        Text(f"batch {ledger.batch}", style="bold", no_wrap=True, overflow="ignore"),
        Text(f"{header.kind} on {header.environment} ({header.account}, {region}): {plural(len(states), 'job')}"),
        Text("  ".join(f"{state} {count}" for state, count in counts(states).items() if count)),
        Text("\n".join(f"{role}: {ref}" for role, ref in header.images.items()), no_wrap=True, overflow="ignore"),
    ]
    if show_all:
        parts.append(
            fitted(
                console,
                ["execution", "job", "state", "attempt", "error"],
                [[s.name, s.key, s.state, s.attempt, s.error] for s in states],
                title="every job",
            )
        )
        return Group(*parts)
    broken = [s for s in states if s.state in CLOSED_WITH_ERROR or (s.state == "NOT_STARTED" and s.error)]
    if broken:
        rows = [
            [s.name, s.key, s.state, s.error, (s.cause or "")[:200], s.console_url(region)]
            for s in broken[:SHOWN_FAILURES]
        ]
        parts.append(fitted(console, ["execution", "job", "state", "error", "cause", "console"], rows, title="failed"))
        if len(broken) > SHOWN_FAILURES:
            parts.append(Text(f"and {len(broken) - SHOWN_FAILURES} more failed: --all lists every job, --json all"))
    if reports:
        parts += _test_blocks(states, reports)
    running = sorted((s for s in states if s.state == "RUNNING"), key=lambda s: s.start_date or "")[:SHOWN_RUNNING]
    if running:
        now = datetime.now(UTC)
        parts.append(
            fitted(
                console,
                ["execution", "job", "running for"],
                [[s.name, s.key, _elapsed(s.start_date, now)] for s in running],
                title="running longest",
            )
        )
    return Group(*parts)


TESTS_SHOWN = 5


def _test_blocks(states: Sequence[JobState], reports: Mapping[str, TestReport]) -> list[Any]:
    """Per validation job: its counts, its failed and broken tests (the first ones), and its report's link."""
    from rich.text import Text

    blocks: list[Any] = [Text("tests", style="bold")]
    for state in states:
        report = reports.get(state.name)
        if report is None:
            continue
        counts = report.counts
        shown = ", ".join(
            f"{name} {counts[name]}" for name in ("passed", "failed", "broken", "skipped") if counts[name]
        )
        blocks.append(Text(f"{state.name}", style="bold", no_wrap=True, overflow="ignore"))
        if report.stale:
            when = report.started.isoformat(timespec="seconds") if report.started else "before it"
            blocks.append(Text(f"  an earlier run's report ({when}), not this job's: not counted"))
        else:
            blocks.append(Text(f"  {shown or 'no test'} (of {counts['total']})"))
        if report.failed_tests:
            names = ", ".join(report.failed_tests[:TESTS_SHOWN])
            more = len(report.failed_tests) - TESTS_SHOWN
            blocks.append(Text(f"  failed or broken: {names}{f', and {more} more' if more > 0 else ''}"))
        if report.link:
            blocks.append(Text.assemble("  report: ", Text(report.link, style=f"link {report.link}")))
    return blocks


def show_batches(opts: GlobalOptions, ledger_dir: Path | None) -> None:
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    directory = folder(opts, ledger_dir)
    if ledger_dir is not None and not directory.exists():  # a folder named on purpose: a typo is not "no batches"
        raise UsageError(f"ledger-dir: no such folder {directory}")
    rows = []
    for ledger in readable_ledgers(output, directory):
        tally = ledger.counts(latest=True)  # jobs, not attempts: a retried job counts once
        rows.append(
            {
                "batch": ledger.batch,
                "created": ledger.header.created,
                "kind": ledger.header.kind,
                "environment": ledger.header.environment,
                "jobs": sum(tally.values()),
                "attempts": len(ledger.entries),
                "started": tally["started"],
                "failed": tally["failed"],
                "unknown": tally["planned"],
                "ledger": str(ledger.path),
            }
        )
    if not rows:
        output.result(
            {"ledger_dir": str(directory), "batches": rows}, lambda: output.info(f"no batches in {directory}")
        )
        return
    output.result(
        {"ledger_dir": str(directory), "batches": rows},
        lambda: output.table(
            ["batch", "created", "kind", "environment", "jobs", "started", "failed", "unknown"],
            ([r["batch"], r["created"], r["kind"], r["environment"], r["jobs"], r["started"], r["failed"], r["unknown"]]
             for r in rows),
            title=f"batches in {directory}",
        ),
    )  # fmt: skip
