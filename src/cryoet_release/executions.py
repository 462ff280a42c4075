"""Reading a batch back from Step Functions: the state of every job's latest attempt, found by its deterministic ARN.

What `status`, `retry` and `compare` all need, below each of them.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cryoet_release import aws as cloud
from cryoet_release import batches
from cryoet_release.models import partition_of
from cryoet_release.submission import NAME_TAKEN

STATES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "NOT_STARTED")
CLOSED_WITH_ERROR = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
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
    start_date: str | None = None
    stop_date: str | None = None

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
    # A name that another input holds is never this job's execution (see submission.NAME_TAKEN).
    to_describe = [e.name for e in entries if not (e.status == "failed" and e.error_code == NAME_TAKEN)]
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
                    entry.attempt, execution.start_date, execution.stop_date,
                )
            )  # fmt: skip
    return states


def failed(states: list[JobState]) -> list[JobState]:
    """The jobs whose latest attempt closed with an error."""
    return [state for state in states if state.state in CLOSED_WITH_ERROR]


def counts(states: list[JobState]) -> dict[str, int]:
    tally = Counter(state.state for state in states)
    return {state: tally.get(state, 0) for state in (*STATES, *sorted(set(tally) - set(STATES)))}
