"""Scale: enqueue 10,000 jobs within Step Functions' StartExecution quota, losing none and starting none twice.

The tool's real submission path (a ledger made with `batches.create`, then `Submission` with `recorder(ledger)`,
--parallelism 20, one shared client, botocore's retries, each outcome fsync'ed to the ledger) with the default
client-side limiters ON (`quotas.default_limit`: StartExecution takes 95% of the documented bucket and refill),
against the fake of the Step Functions API (benchmarks/sfn_fake.py, its own process on 127.0.0.1) started with
`--quota`: it enforces the documented StartExecution token bucket (1,300, refilled at 300/s, us-west-2) and answers
400 ThrottlingException when it is empty; --latency ms are added to every request (a network's round trip).

Reported: jobs submitted; executions in the fake; duplicates (a name StartExecution accepted twice: must be 0);
jobs lost (the ledger, read back from disk, without a started record: must be 0; if throttling failed any, the
resume path, `Submission` again over `ledger.pending()`, is run, up to 5 times, and reported); throttled answers;
elapsed time and throughput against the quota's ceiling for --jobs (the bucket spent at once, then the refill:
jobs / ((jobs - 1,300) / 300 s)). Target: throughput >= 0.9x that ceiling. Then where the time went: the client's
pace, its CPU and the fake's, the time threads waited for the limiter's tokens, and the ledger's fsync'ed appends.
`--lift-limiter` checks the fake and the resume path instead: the client's StartExecution limiter lifted, the fake's
quota throttles it.

Run from the repository root: `python -m benchmarks.quota [--jobs 10000] [--latency 20] [--parallelism 20]`.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import sfn_fake
from benchmarks.status import ACCOUNT, REGION, plan
from cryoet_release import aws as cloud
from cryoet_release import batches, quotas
from cryoet_release.console import Output
from cryoet_release.contract import Job
from cryoet_release.quotas import Quota
from cryoet_release.submission import Outcome, Submission, recorder

MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:bench-quota"
ACTION = "StartExecution"
LIFT = 10**6


@dataclass
class Run:
    """One submission: its outcomes, when each was recorded, and what it cost."""

    outcomes: list[Outcome]
    began: float
    stamps: list[float]
    wall: float
    cpu: float
    recording: float
    """Thread-seconds spent recording outcomes (each append flushed and fsync'ed under the ledger's lock)."""
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def started(self) -> int:
        return sum(outcome.started for outcome in self.outcomes)


def submit(aws: cloud.Aws, ledger: batches.Ledger, jobs: Sequence[Job], parallelism: int) -> Run:
    """The tool's submission path, each outcome's time of recording noted."""
    stamps: list[float] = []
    spent: list[float] = []
    write = recorder(ledger)

    def record(outcome: Outcome) -> None:
        began = time.perf_counter()
        write(outcome)
        now = time.perf_counter()
        spent.append(now - began)
        stamps.append(now)

    submission = Submission(aws, ledger.header.state_machine, parallelism, record=record)
    quiet = Output(stdout=io.StringIO(), stderr=io.StringIO())
    began, cpu = time.perf_counter(), time.process_time()
    outcomes = submission.run(jobs, quiet)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    errors = Counter(outcome.error_code or "" for outcome in outcomes if not outcome.started)
    return Run(outcomes, began, sorted(stamps), wall, cpu, sum(spent), errors)


def session(parallelism: int, *, lifted: bool) -> cloud.Aws:
    """A new Aws, with the process's limiters made anew: the default ones, or StartExecution's times LIFT."""
    quotas._LIMITERS.clear()
    default = quotas.default_limit(ACTION, REGION)
    limits = {ACTION: Quota(default.bucket * LIFT, default.refill * LIFT)} if lifted else {}
    return cloud.Aws(region=REGION, max_pool_connections=parallelism, rate_limits=limits)


def resume(aws: cloud.Aws, ledger: batches.Ledger, parallelism: int, times: int = 5) -> list[Run]:
    """`enqueue resume` while the ledger has jobs not confirmed started (at most `times` times): the ledger read
    back from disk as a new process reads it, then `Submission` over `ledger.pending()`."""
    runs: list[Run] = []
    while len(runs) < times:
        again = batches.load(ledger.path.parent, ledger.batch)
        if not again.pending():
            break
        runs.append(submit(aws, again, pending_jobs(again), parallelism))
    return runs


def pending_jobs(ledger: batches.Ledger) -> list[Job]:
    """What resume submits: every job the ledger has not seen started, same name and same input."""
    return [Job(key=entry.key, name=entry.name, document=entry.document) for entry in ledger.pending()]


def ceiling(jobs: int, quota: quotas.Quota) -> float:
    """Jobs per second a token bucket allows for `jobs` submissions: the bucket at once, then the refill."""
    return jobs / (max(0.0, jobs - quota.bucket) / quota.refill) if jobs > quota.bucket else float("inf")


def pace(run: Run, first: int) -> tuple[float, float]:
    """(jobs/s over the first `first` jobs recorded, jobs/s over the last half of them)."""
    stamps = run.stamps
    if len(stamps) < max(first, 4):
        return 0.0, 0.0
    half = len(stamps) // 2
    return first / (stamps[first - 1] - run.began), (len(stamps) - half) / max(stamps[-1] - stamps[half - 1], 1e-9)


def report_outcomes(first: Run, resumed: Sequence[Run], ledger: batches.Ledger, counters: dict[str, Any]) -> None:
    lost = len(batches.load(ledger.path.parent, ledger.batch).pending())  # the ledger as a new process reads it
    duplicates = counters["accepted_twice"]
    limiter = quotas._LIMITERS[(ACTION, REGION)]
    print(f"jobs submitted          {len(first.outcomes):,} ({first.started:,} started; failed: {dict(first.errors)})")
    for number, again in enumerate(resumed, start=1):
        print(
            f"resume {number} (pending)  {len(again.outcomes):,} submitted again, {again.started:,} started"
            f" in {again.wall:.1f} s (failed: {dict(again.errors)})"
        )
    print(f"executions in the fake  {counters['executions']:,}")
    print(
        f"duplicates              {len(duplicates)} (names StartExecution accepted twice; target 0:"
        f" {'meets' if not duplicates else 'MISSES: ' + ', '.join(duplicates[:5])})"
    )
    print(
        f"jobs lost               {lost} (the ledger on disk without a started record; target 0:"
        f" {'meets' if lost == 0 else 'MISSES'})"
    )
    print(
        f"throttled answers       {counters['throttled'].get(ACTION, 0)} (seen by the client's limiter:"
        f" {limiter.throttles})"
    )


def report_throughput(jobs: int, first: Run, resumed: Sequence[Run], *, lifted: bool) -> None:
    limiter = quotas._LIMITERS[(ACTION, REGION)]
    documented = quotas.documented(ACTION, REGION)
    top = ceiling(jobs, documented)
    throughput = jobs / (first.wall + sum(again.wall for again in resumed))
    print(f"elapsed                 {jobs / throughput:.2f} s; throughput {throughput:.1f} jobs/s")
    print(
        f"quota's ceiling         {top:.1f} jobs/s for {jobs:,} jobs (bucket {documented.bucket:,.0f} at once,"
        f" then {documented.refill:.0f}/s: {jobs / top:.1f} s)"
    )
    verdict = "meets" if throughput >= 0.9 * top else "MISSES"
    print(f"throughput / ceiling    {throughput / top:.3f} (target >= 0.9: {verdict})")
    if not lifted:
        mine = ceiling(jobs, limiter.limit)
        print(
            f"  the default limiter's own ceiling: {mine:.1f} jobs/s, {mine / top:.3f} of the quota's (bucket"
            f" {limiter.limit.bucket:,.0f}, refill {limiter.limit.refill:.0f}/s); reached: {throughput / mine:.3f}"
        )


def report_time(first: Run, fake_cpu: float, *, lifted: bool) -> None:
    limiter = quotas._LIMITERS[(ACTION, REGION)]
    print(f"where the time went (first run, {first.wall:.2f} s):")
    if not lifted:
        early, late = pace(first, int(limiter.limit.bucket))
        print(
            f"  the first {limiter.limit.bucket:,.0f} jobs (the limiter's bucket) at {early:.0f} jobs/s, the client's"
            f" own pace with tokens to spare; the last half at {late:.0f} jobs/s (the limiter's refill:"
            f" {limiter.limit.refill:.0f}/s)"
        )
    print(
        f"  client CPU {first.cpu:.2f} s ({first.cpu / first.wall:.0%} of one core), fake CPU {fake_cpu:.2f} s;"
        f" threads waited {limiter.waited:.0f} thread-seconds for the limiter's tokens"
    )
    per_job = first.recording / max(len(first.outcomes), 1) * 1000
    print(
        f"  recording outcomes: {first.recording:.1f} thread-seconds, {per_job:.2f} ms a job (one append each,"
        " written one at a time under the ledger's lock and fsync'ed outside it, the waits included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=20.0, metavar="MS")
    parser.add_argument("--parallelism", type=int, default=20)
    parser.add_argument(
        "--lift-limiter", action="store_true",
        help=f"a check of the fake and of the resume path: the client's {ACTION} limiter lifted, the fake throttles",
    )  # fmt: skip
    args = parser.parse_args()
    began = time.perf_counter()
    with (
        sfn_fake.running(latency_ms=args.latency, quota=(ACTION,)) as fake,
        tempfile.TemporaryDirectory(prefix="bench-quota-") as folder,
    ):
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(fake.environ(REGION))
        aws = session(args.parallelism, lifted=args.lift_limiter)
        ledger, jobs = plan(Path(folder), "quota", args.jobs, MACHINE)
        limits = f"the client's {ACTION} limiter LIFTED (x {LIFT:,})" if args.lift_limiter else "default limiters ON"
        print(
            f"{args.jobs:,} jobs, --parallelism {args.parallelism}, {limits}; the fake at {fake.endpoint} enforces"
            f" the documented {ACTION} bucket, {args.latency:g} ms added to each request\n"
        )
        cpu = fake.cpu_seconds()
        first = submit(aws, ledger, jobs, args.parallelism)
        fake_cpu = fake.cpu_seconds() - cpu
        resumed = resume(aws, ledger, args.parallelism)
        report_outcomes(first, resumed, ledger, fake.counters())
        report_throughput(args.jobs, first, resumed, lifted=args.lift_limiter)
        report_time(first, fake_cpu, lifted=args.lift_limiter)
    print(f"\n(the benchmark took {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
