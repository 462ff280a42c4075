"""Submit a batch's jobs concurrently over one shared client, each exactly once, recording every outcome in the
ledger."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release import batches
from cryoet_release.console import Output
from cryoet_release.contract import Job
from cryoet_release.errors import ExitCode, OperationFailed

NAME_TAKEN = "ExecutionNameTaken"
"""The error code recorded for a job whose execution name another input holds: no execution is ever this job's."""


@dataclass
class Outcome:
    job: Job
    execution_arn: str | None = None
    start_date: str | None = None
    error_code: str | None = None
    error: str | None = None

    @property
    def started(self) -> bool:
        return self.execution_arn is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.job.name,
            "key": self.job.key,
            "status": "started" if self.started else "failed",
            "execution_arn": self.execution_arn,
            "start_date": self.start_date,
            "error_code": self.error_code,
            "error": self.error,
        }


def recorder(ledger: batches.Ledger) -> Callable[[Outcome], None]:
    """Write each outcome to the ledger (durably) as soon as it is known."""

    def record(outcome: Outcome) -> None:
        if outcome.execution_arn and outcome.start_date:
            ledger.record_started(outcome.job.name, outcome.execution_arn, outcome.start_date)
        else:
            ledger.record_failed(outcome.job.name, outcome.error_code or "Unknown", outcome.error or "")

    return record


@dataclass
class Submission:
    """Submits jobs with one shared client and a thread pool; `record` sees every outcome (for the ledger)."""

    aws: cloud.Aws
    state_machine: str
    parallelism: int
    record: Callable[[Outcome], None] = lambda outcome: None
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def start(self, job: Job) -> Outcome:
        try:
            arn, started = cloud.start_execution(
                self.aws, state_machine=self.state_machine, name=job.name, document=job.document
            )
            outcome = Outcome(job, execution_arn=arn, start_date=started)
        except cloud.ExecutionExists:
            outcome = self._adopt(job)
        except Exception as error:  # noqa: BLE001 - every failure is recorded and reported, none is lost
            outcome = Outcome(job, error_code=cloud.error_code(error), error=str(error))
        self.record(outcome)
        return outcome

    def _adopt(self, job: Job) -> Outcome:
        """An execution with this name exists. It is this job's (a response lost in flight, a resume) only when its
        input is this job's input: then it is recorded as started. Otherwise it is somebody else's (a reused
        --batch name, another person's batch in the same account) and the job is refused, naming both.

        A lookup that fails (after botocore's retries) leaves the job failed, to be resumed: never the batch.
        """
        try:
            existing = cloud.describe_execution(self.aws, cloud.execution_arn(self.state_machine, job.name))
        except Exception as error:  # noqa: BLE001 - recorded for this job like any failed call
            return Outcome(job, error_code=cloud.error_code(error), error=f"looking up the existing execution: {error}")
        if existing is None:  # gone between the two calls (it cannot be): submit it again on resume
            return Outcome(job, error_code="ExecutionAlreadyExists", error="the existing execution vanished")
        if existing.input is not None and json.loads(existing.input) == json.loads(job.document):
            return Outcome(job, execution_arn=existing.arn, start_date=existing.start_date)
        return Outcome(
            job,
            error_code=NAME_TAKEN,
            error=f"execution {existing.arn} (started {existing.start_date}) has this job's name but another input:"
            f" it is not job {job.key} of this batch; another batch of the same name? Enqueue again with another"
            " --batch",
        )

    def run(self, jobs: Iterable[Job], output: Output) -> list[Outcome]:
        """Every job's outcome; `interrupted` says whether Ctrl-C (or SIGTERM) cut the run short.

        On Ctrl-C nothing not yet sent is sent: the queued submissions are cancelled, the ones in flight are
        recorded as they resolve, and the outcomes so far are returned. A second Ctrl-C while those resolve exits
        at once (the ledger stays readable: resume repairs a line cut short). Raises OperationFailed, submitting
        nothing more, when an outcome cannot be recorded (a full disk): what the ledger lacks, resume submits
        again, and Step Functions' idempotency keeps that from making a second execution.
        """
        jobs = list(jobs)
        began = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=self.parallelism)
        futures = [pool.submit(self.start, job) for job in jobs]
        try:
            with output.progress() as progress:
                task = progress.add_task("submitting", total=len(jobs), rate="")
                for done, future in enumerate(as_completed(futures), start=1):
                    self.outcomes.append(self._result(future, futures))
                    rate = done / max(time.monotonic() - began, 1e-9)
                    progress.update(task, advance=1, rate=f"{rate:.1f}/s")
        except KeyboardInterrupt:
            self._stop(pool, futures, output)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return self.outcomes

    def _result(self, future: Future[Outcome], futures: Sequence[Future[Outcome]]) -> Outcome:
        try:
            return future.result()
        except OSError as error:
            for pending in futures:
                pending.cancel()
            raise OperationFailed(
                f"cannot record outcomes in the ledger: {error.strerror or error};"
                f" stopped after {len(self.outcomes)} of {len(futures)} submissions"
            ) from None

    def _stop(self, pool: ThreadPoolExecutor, futures: Sequence[Future[Outcome]], output: Output) -> None:
        self.interrupted = True
        cancelled = sum(future.cancel() for future in futures)
        in_flight = [future for future in futures if not future.done() and not future.cancelled()]
        output.info(f"stopping: {cancelled} not sent; waiting for {len(in_flight)} in flight (Ctrl-C again: quit now)")
        try:
            pool.shutdown(wait=True)
        except KeyboardInterrupt:
            output.info("quit: the ledger holds every outcome recorded so far; resume submits the rest")
            os._exit(ExitCode.INTERRUPTED)  # at once: the worker threads would otherwise be waited for
        recorded = {id(outcome.job) for outcome in self.outcomes}
        self.outcomes += [
            f.result() for f in futures if f.done() and not f.cancelled() and id(f.result().job) not in recorded
        ]
