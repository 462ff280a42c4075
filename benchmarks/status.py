"""Scale: `status` of 10,000-job batches within Step Functions' quotas.

Against the fake of the Step Functions API (benchmarks/sfn_fake.py, its own process on 127.0.0.1, --latency ms
added to every request), seeded with the executions of a 10,000-job ledger made with `batches.create` (each job's
started record appended as a submission appends it). The contender is the real `cryoet_release.executions.Tracker`
over a real `cryoet_release.aws.Aws` (AWS_ENDPOINT_URL pointed at the fake). Step Functions calls are counted by the
fake (and cross-checked against `tracker.last.calls`). The client-side limiters are lifted for these runs: each
default limit times 10**6, so that their ratio, which the Tracker uses to choose how to read, is the default one;
the time the same calls would take at the default limiter rates (calls / refill rate) is printed beside them.

a. Calls per `status` (a new Tracker each): all running; half finished (5,000 SUCCEEDED or FAILED, a few FAILED,
   5,000 RUNNING); all finished, first read then second read (a new Tracker over the same ledger folder, which reads
   `<batch>.final.jsonl`); and a `--watch` refresh (the half-finished Tracker again, after 500 jobs finished).
   Targets: 0 calls on the second read of a finished batch; otherwise at most ceil(running / 1000) list pages plus
   one describe per job that changed (finished since it was last read, or never read). Beyond the brief, one more
   row: a watch refresh of a batch of which 100 jobs were never started (StartExecution throttled, not resumed).
b. Wall time of one refresh of the half-finished batch against today's way, measured in the same run, interleaved:
   one DescribeExecution per job on every refresh, 20 threads over one client (`cryoet_release.aws.describe_execution`
   in a ThreadPoolExecutor(20)). The Tracker's first read, and its steady refresh (the next refresh of a watch, the
   finished half recorded). Medians of --rounds. Target: at most 0.2x today's.
c. Loading the 10,000-job ledger (`batches.load`): median wall time, and its peak memory (tracemalloc).
   Target: well under a second (here: <= 0.25 s).

Run from the repository root: `python -m benchmarks.status [--jobs 10000] [--latency 20] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import sfn_fake
from cryoet_release import aws as cloud
from cryoet_release import batches, quotas
from cryoet_release.contract import Job, Target, make_jobs
from cryoet_release.executions import FINAL, PAGE, Tracker
from cryoet_release.kinds import JobSpec
from cryoet_release.quotas import Quota

REGION = "us-west-2"
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:bench-status"
PARALLELISM = 20
"""status' default --parallelism: its threads, and its client's connections."""
LIFT = 10**6
ACTIONS = ("ListExecutions", "DescribeExecution")
FAILURE = {"error": "ValidationError", "cause": "tests failed"}
UNSTARTED = 100
"""Jobs never started in the reading beyond the brief (a.*)."""


# --- the batch --------------------------------------------------------------------------------------------------


def plan(folder: Path, batch: str, count: int, machine: str = MACHINE) -> tuple[batches.Ledger, list[Job]]:
    """A ledger of `count` db-import jobs, written by `batches.create` as enqueue writes it."""
    target = Target(region=REGION, state_machine_arn=machine, comms_bucket="comms", wdl_bucket="wdl")
    specs = [JobSpec(str(10000 + n), {"flags": f"--s3-prefix {10000 + n} --debug"}) for n in range(count)]
    jobs = make_jobs(specs, target, batch=batch, kind="db-import", image="img:main", wdl_key="w.wdl", memory=4000)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    header = batches.Header(batch, "db-import", "staging", REGION, ACCOUNT, machine, created, {}, {})
    return batches.create(folder, header, ((job.name, job.key, job.document) for job in jobs)), jobs


def seed(fake: sfn_fake.Client, ledger: batches.Ledger, statuses: Sequence[str]) -> None:
    """The fake holds exactly the batch's executions, in these statuses (NOT_STARTED: none), started in plan order
    from now on."""
    began = time.time()
    fake.reset()
    fake.seed(
        MACHINE,
        [
            {"name": e.name, "input": e.document, "status": s, "start": began + n / 1000, **failure(s)}
            for n, (e, s) in enumerate(zip(ledger.entries.values(), statuses, strict=True))
            if s != "NOT_STARTED"
        ],
    )


def failure(status: str) -> dict[str, str]:
    return FAILURE if status == "FAILED" else {}


def record_outcomes(ledger: batches.Ledger, throttled: int = 0) -> None:
    """Each job's outcome, appended (and fsync'ed) one by one as the submission's recorder does: `started`, but for
    the last `throttled` jobs, whose StartExecution failed (ThrottlingException, not resumed)."""
    entries = list(ledger.entries.values())
    for entry in entries[: len(entries) - throttled]:
        ledger.record_started(entry.name, cloud.execution_arn(MACHINE, entry.name), datetime.now(UTC).isoformat())
    for entry in entries[len(entries) - throttled :]:
        ledger.record_failed(entry.name, "ThrottlingException", "Rate exceeded")


def finished(count: int, *, failed_every: int = 100) -> list[str]:
    return ["FAILED" if n % failed_every == 0 else "SUCCEEDED" for n in range(count)]


def half_finished(count: int) -> list[str]:
    return finished(count // 2) + ["RUNNING"] * (count - count // 2)


def forget_records(ledger: batches.Ledger) -> None:
    """No reading of the batch ever happened: its record of final states is removed."""
    ledger.path.with_name(f"{ledger.batch}.final.jsonl").unlink(missing_ok=True)


def aws_with_lifted_limits() -> cloud.Aws:
    """A new Aws whose limiters are the default ones times LIFT (the process's limiters are made anew)."""
    quotas._LIMITERS.clear()
    limits = {}
    for action in quotas.DOCUMENTED:
        default = quotas.default_limit(action, REGION)
        limits[action] = Quota(default.bucket * LIFT, default.refill * LIFT)
    return cloud.Aws(region=REGION, max_pool_connections=PARALLELISM, rate_limits=limits)


# --- a. calls ---------------------------------------------------------------------------------------------------


@dataclass
class Reading:
    label: str
    way: str
    calls: Counter[str]
    agrees: bool
    """The fake counted what the Tracker says it called."""
    target: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def read(fake: sfn_fake.Client, tracker: Tracker, label: str, statuses: Sequence[str]) -> Reading:
    """One `tracker.states()`, its calls counted by the fake; the states it answers checked against the fake's."""
    running = statuses.count("RUNNING")
    changed = sum(
        s in FINAL and e.name not in tracker.known for e, s in zip(tracker.ledger.latest(), statuses, strict=True)
    )
    fake.reset(executions=False)
    began = time.perf_counter()
    states = tracker.states()
    seconds = time.perf_counter() - began
    calls = Counter({action: count for action, count in fake.counters()["calls"].items() if count})
    assert [state.state for state in states] == list(statuses), f"{label}: states read are not the fake's"
    target = math.ceil(running / PAGE) + changed
    return Reading(label, tracker.last.way, calls, calls == +tracker.last.calls, target, seconds)


def calls_per_status(fake: sfn_fake.Client, ledger: batches.Ledger, aws: cloud.Aws) -> list[Reading]:
    count = len(ledger.entries)
    readings = []
    statuses = ["RUNNING"] * count
    seed(fake, ledger, statuses)
    forget_records(ledger)
    readings.append(read(fake, Tracker(aws, ledger, parallelism=PARALLELISM), "all running (first read)", statuses))

    statuses = half_finished(count)
    seed(fake, ledger, statuses)
    forget_records(ledger)
    watch = Tracker(aws, ledger, parallelism=PARALLELISM)
    readings.append(read(fake, watch, "half finished (first read)", statuses))
    entries = list(ledger.entries.values())
    changed = finish_oldest_running(statuses, 500)
    fake.set_statuses(
        MACHINE, [{"name": entries[n].name, "status": statuses[n], **failure(statuses[n])} for n in changed]
    )
    readings.append(read(fake, watch, "--watch refresh, 500 changed", statuses))
    readings.append(read(fake, watch, "--watch refresh, none changed", statuses))

    statuses = finished(count)
    seed(fake, ledger, statuses)
    forget_records(ledger)
    readings.append(read(fake, Tracker(aws, ledger, parallelism=PARALLELISM), "all finished, first read", statuses))
    second = read(fake, Tracker(aws, ledger, parallelism=PARALLELISM), "all finished, second read", statuses)
    readings.append(second)
    return readings


def never_started(
    fake: sfn_fake.Client, folder: Path, count: int, aws: cloud.Aws, throttled: int = UNSTARTED
) -> Reading:
    """Beyond the brief: a batch of which `throttled` jobs were never started (their StartExecution failed and the
    batch was not resumed), the rest RUNNING; the second refresh of a watch."""
    ledger, _ = plan(folder, "unstarted", count)
    record_outcomes(ledger, throttled)
    statuses = ["RUNNING"] * (count - throttled) + ["NOT_STARTED"] * throttled
    seed(fake, ledger, statuses)
    watch = Tracker(aws, ledger, parallelism=PARALLELISM)
    watch.states()
    return read(fake, watch, f"--watch refresh, {throttled} unstarted*", statuses)


def finish_oldest_running(statuses: list[str], count: int) -> range:
    """The oldest `count` running jobs finish (one in 50 FAILED), in `statuses`; their indices."""
    first = statuses.index("RUNNING")
    for n in range(first, first + count):
        statuses[n] = "FAILED" if n % 50 == 0 else "SUCCEEDED"
    return range(first, first + count)


def at_default_rates(calls: Counter[str]) -> tuple[float, float]:
    """Seconds the default limiters take for these calls: (calls / refill rate; the same from a full bucket)."""
    limits = {action: quotas.default_limit(action, REGION) for action in ACTIONS}
    rate = sum(calls[a] / limit.refill for a, limit in limits.items())
    bucket = sum(max(0.0, calls[a] - limit.bucket) / limit.refill for a, limit in limits.items())
    return rate, bucket


def print_calls(readings: Sequence[Reading], jobs: int) -> None:
    limits = ", ".join(f"{a} {quotas.default_limit(a, REGION).refill:.3g}/s" for a in ACTIONS)
    print(f"a. Step Functions calls per `status` of a {jobs:,}-job batch (counted by the fake)")
    print(f"   target: ceil(running / {PAGE}) list pages + a describe per job that changed; 0 on a second read")
    print(f"   at default limits: calls / refill rate ({limits}); in brackets, from a full bucket")
    print(
        f"   {'reading':32} {'way':27} {'List':>5} {'Describe':>8} {'total':>6} {'target':>7} {'meets':>5}"
        f" {'at default limits':>19} {'wall':>7}"
    )
    for r in readings:
        rate, bucket = at_default_rates(r.calls)
        meets = "yes" if r.total <= r.target and r.agrees else "NO"
        print(
            f"   {r.label:32} {r.way:27} {r.calls['ListExecutions']:5} {r.calls['DescribeExecution']:8} {r.total:6}"
            f" {'<= ' + str(r.target):>7} {meets:>5} {rate:8.1f} s ({bucket:6.1f} s) {r.seconds:6.2f}s"
        )
    print(
        f"   * beyond the brief: {UNSTARTED} jobs were never started (StartExecution throttled, the batch not resumed),"
    )
    print(
        "     the others RUNNING: the first read describes each once; a refresh asks again only when the ledger changes"
    )
    agree = all(r.agrees for r in readings)
    print(f"   the fake's counts equal tracker.last.calls in every reading: {'yes' if agree else 'NO'}")


# --- b. wall time -----------------------------------------------------------------------------------------------


@dataclass
class Timed:
    wall: float
    cpu: float
    """This process's CPU seconds (boto3, the Tracker)."""
    fake_cpu: float
    calls: int


def timed(fake: sfn_fake.Client, run: Callable[[], object]) -> Timed:
    fake.reset(executions=False)
    wall, cpu, fake_cpu = time.perf_counter(), time.process_time(), fake.cpu_seconds()
    run()
    wall, cpu, fake_cpu = time.perf_counter() - wall, time.process_time() - cpu, fake.cpu_seconds() - fake_cpu
    return Timed(wall, cpu, fake_cpu, sum(fake.counters()["calls"].values()))


def todays_way(aws: cloud.Aws, ledger: batches.Ledger) -> list[cloud.Execution | None]:
    """What the tool did before: one DescribeExecution per job, on every refresh, 20 threads over one client."""
    arns = [cloud.execution_arn(MACHINE, entry.name) for entry in ledger.latest()]
    with ThreadPoolExecutor(max_workers=PARALLELISM) as pool:
        return list(pool.map(lambda arn: cloud.describe_execution(aws, arn), arns))


def refresh_times(fake: sfn_fake.Client, ledger: batches.Ledger, aws: cloud.Aws, rounds: int) -> dict[str, list[Timed]]:
    seed(fake, ledger, half_finished(len(ledger.entries)))
    times: dict[str, list[Timed]] = {"today's way": [], "Tracker, first read": [], "Tracker, steady refresh": []}
    for _ in range(rounds):
        times["today's way"].append(timed(fake, lambda: todays_way(aws, ledger)))
        forget_records(ledger)
        tracker = Tracker(aws, ledger, parallelism=PARALLELISM)
        times["Tracker, first read"].append(timed(fake, tracker.states))
        times["Tracker, steady refresh"].append(timed(fake, tracker.states))
    return times


def print_times(times: dict[str, list[Timed]], jobs: int, latency: float, rounds: int) -> None:
    print(
        f"\nb. one refresh of {jobs:,} jobs, half finished, {latency:g} ms added to each request; medians of {rounds}"
    )
    print("   target: the Tracker <= 0.2x today's way")
    baseline = statistics.median(t.wall for t in times["today's way"])
    for name, runs in times.items():
        wall = statistics.median(t.wall for t in runs)
        cpu = statistics.median(t.cpu for t in runs)
        fake_cpu = statistics.median(t.fake_cpu for t in runs)
        calls = runs[-1].calls
        verdict = "meets" if wall <= 0.2 * baseline else "MISSES"
        ratio = "" if name == "today's way" else f"  {wall / baseline:.3f}x today's ({verdict})"
        print(
            f"   {name:24} {calls:6} calls {wall:7.2f} s wall, client CPU {cpu:5.2f} s, fake CPU {fake_cpu:5.2f} s"
            f"{ratio}"
        )
    rate = quotas.default_limit("DescribeExecution", REGION).refill
    print(f"   today's way at the default DescribeExecution limit ({rate:.3g}/s): {jobs / rate:,.0f} s per refresh")


# --- c. loading the ledger --------------------------------------------------------------------------------------


def load_cost(ledger: batches.Ledger, runs: int = 5) -> tuple[float, int]:
    """Median seconds of `batches.load`, and the peak bytes allocated while loading (tracemalloc, a run of its own)."""
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        batches.load(ledger.path.parent, ledger.batch)
        seconds.append(time.perf_counter() - began)
    tracemalloc.start()
    batches.load(ledger.path.parent, ledger.batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(seconds), peak


def print_load(ledger: batches.Ledger, seconds: float, peak: int) -> None:
    lines = ledger.path.read_bytes().count(b"\n")
    size = ledger.path.stat().st_size / 2**20
    print(f"\nc. loading the ledger ({len(ledger.entries):,} jobs, {lines:,} lines, {size:.1f} MiB)")
    verdict = "meets" if seconds <= 0.25 else "MISSES"
    print(
        f"   batches.load: {seconds * 1000:.0f} ms (median of 5; target <= 250 ms: {verdict}),"
        f" peak memory {peak / 2**20:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=20.0, metavar="MS")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    began = time.perf_counter()
    with sfn_fake.running(latency_ms=args.latency) as fake, tempfile.TemporaryDirectory(prefix="bench-status-") as d:
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(fake.environ(REGION))
        ledger, _ = plan(Path(d), "bench", args.jobs)
        record_outcomes(ledger)
        aws = aws_with_lifted_limits()
        print(
            f"{args.jobs:,} jobs; the fake at {fake.endpoint}, {args.latency:g} ms added to each request;"
            f" client-side limiters LIFTED (default limits x {LIFT:,}), --parallelism {PARALLELISM}\n"
        )
        print_calls([*calls_per_status(fake, ledger, aws), never_started(fake, Path(d), args.jobs, aws)], args.jobs)
        print_times(refresh_times(fake, ledger, aws, args.rounds), args.jobs, args.latency, args.rounds)
        print_load(ledger, *load_cost(ledger))
    print(f"\n(the benchmark took {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
