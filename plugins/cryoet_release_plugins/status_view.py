"""`status` and `batches`: what became of a batch's jobs, as a table, a live view or one JSON document."""

from __future__ import annotations

import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from cryoet_release import batches
from cryoet_release.console import make_table
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import OperationFailed
from cryoet_release.executions import CLOSED_WITH_ERROR, JobState, collect, counts, failed
from cryoet_release_plugins.batch.ledgers import folder, pick_ledger, readable_ledgers


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
    directory = folder(opts, ledger_dir)
    rows = []
    for ledger in readable_ledgers(output, directory):
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
