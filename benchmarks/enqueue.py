"""Submission throughput and planning cost, against one moto server started here (a separate process).

Three contenders submit the same 1,000 jobs, each to a freshly reset emulator:
- cryoet-release: its own submission path (the ledger written first, one shared client, a thread pool of
  --parallelism, botocore retries, each outcome fsync'ed to the ledger);
- the anchor's pattern: ProcessPoolExecutor(20) with a new boto3 Session and client per job (the baseline);
- raw threaded boto3: one client, 16 threads (the ceiling).
Then planning: 10,000 dataset prefixes, counting S3 calls and the client's CPU seconds.
Targets: >= 5x the anchor's pattern, >= 0.8x the ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.components import start_moto_process as start_moto

from cryoet_release import batches
from cryoet_release.aws import Aws
from cryoet_release.console import Output
from cryoet_release.contract import Job, Target, make_jobs
from cryoet_release.kinds import JobSpec
from cryoet_release.lookup import DatasetSelection, Lookup
from cryoet_release.submission import Submission, recorder

REGION = "us-west-2"
MACHINE = "bench-default-wdl"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def reset(endpoint: str) -> str:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/swipe"
    return str(sfn.create_state_machine(name=MACHINE, definition=PASS, roleArn=role)["stateMachineArn"])


def jobs_for(batch: str, count: int, arn: str) -> list[Job]:
    target = Target(region=REGION, state_machine_arn=arn, comms_bucket="comms", wdl_bucket="wdl")
    specs = [JobSpec(str(10000 + n), {"flags": f"--s3-prefix {10000 + n} --debug"}) for n in range(count)]
    return make_jobs(specs, target, batch=batch, kind="db-import", image="img:main", wdl_key="w.wdl", memory=4000)


def anchor_start(job: tuple[str, str, str]) -> str:
    """The anchor's per-job work: a new session and client in a worker process, then StartExecution."""
    arn, name, document = job
    client = boto3.Session().client("stepfunctions", region_name=REGION)
    return str(client.start_execution(stateMachineArn=arn, name=name, input=document)["executionArn"])


def timed(run: Any) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--datasets", type=int, default=10_000)
    args = parser.parse_args()

    process, endpoint = start_moto()
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION
    )
    try:
        results: dict[str, float] = {}

        arn = reset(endpoint)
        jobs = jobs_for("tool", args.jobs, arn)
        aws = Aws(region=REGION, max_pool_connections=20)
        with tempfile.TemporaryDirectory(prefix="bench-ledger-") as ledgers:
            header = batches.Header("tool", "db-import", "staging", REGION, aws.account, arn, "now", {}, {})

            def submit_with_ledger() -> None:
                # The whole path: the ledger written (fsync'ed) before, and each outcome recorded after.
                ledger = batches.create(Path(ledgers), header, ((job.name, job.key, job.document) for job in jobs))
                submission = Submission(aws, arn, parallelism=20, record=recorder(ledger))
                assert all(outcome.started for outcome in submission.run(jobs, Output()))

            results["cryoet-release"] = timed(submit_with_ledger)

        arn = reset(endpoint)
        work = [(arn, job.name, job.document) for job in jobs_for("anchor", args.jobs, arn)]
        with ProcessPoolExecutor(max_workers=20) as pool:
            results["anchor pattern"] = timed(lambda: list(pool.map(anchor_start, work)))

        arn = reset(endpoint)
        work = [(arn, job.name, job.document) for job in jobs_for("raw", args.jobs, arn)]
        client = boto3.client("stepfunctions", region_name=REGION, config=Config(max_pool_connections=16))

        def raw(job: tuple[str, str, str]) -> None:
            client.start_execution(stateMachineArn=job[0], name=job[1], input=job[2])

        with ThreadPoolExecutor(max_workers=16) as pool:
            results["raw boto3 ceiling"] = timed(lambda: list(pool.map(raw, work)))

        rate = {name: args.jobs / seconds for name, seconds in results.items()}
        print(f"submitting {args.jobs} executions (one moto server, reset between contenders)")
        for name, per_second in rate.items():
            print(f"  {name:18}: {per_second:7.1f} executions/s ({results[name]:.2f} s)")
        print(
            f"  cryoet-release / anchor pattern : {rate['cryoet-release'] / rate['anchor pattern']:.2f}x (target >= 5)"
        )
        print(f"  cryoet-release / raw ceiling    : {rate['cryoet-release'] / rate['raw boto3 ceiling']:.2f}x (>= 0.8)")

        reset(endpoint)
        s3 = boto3.client("s3", region_name=REGION, config=Config(max_pool_connections=32))
        s3.create_bucket(Bucket="plan", CreateBucketConfiguration={"LocationConstraint": REGION})
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(
                pool.map(
                    lambda n: s3.put_object(Bucket="plan", Key=f"{n}/dataset_metadata.json", Body=b"{}"),
                    range(args.datasets),
                )
            )
        cpu, wall = time.process_time(), time.perf_counter()
        finder = Lookup(Aws(region=REGION, max_pool_connections=20), parallelism=20, warn=print)
        found = finder.datasets("plan", DatasetSelection())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert len(found) == args.datasets
        # One paginated listing (1,000 prefixes a page), then one HEAD per candidate.
        calls = -(-args.datasets // 1000) + len(found)
        print(f"planning {args.datasets} datasets: {calls} S3 calls, {cpu:.2f} CPU s, {wall:.2f} s wall")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
