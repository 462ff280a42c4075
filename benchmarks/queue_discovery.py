"""Run discovery of `enqueue queue` against the old command's pattern, on one moto server started here (127.0.0.1).

One deposition of --datasets datasets x --runs runs x --files files per run, found as deposition_10301 finds them:
datasets by `source_glob: *`, runs by `source_glob: {dataset_name}/*`. Two contenders, interleaved, each timed
--repetitions times from the config file to the list of runs:
- cryoet-release: `discovery.discover_runs` over `AwsStorage` (each prefix listed once, the datasets concurrently);
- the old pattern (enqueue_runs.py queue, SPEC §6-§8): sequential per dataset, one full listing of the glob's root
  per source per finder call, no caching; reproduced here with boto3.
And, for reference, a delimiter walk: the same sequential calls, each listing only the root's children
(ListObjectsV2 with Delimiter '/'), which is how s3fs's own glob walks a pattern without '**' to its depth.
Prints the medians, the ratio (target >= 10x) and each contender's S3 calls against the minimum: one listing per
prefix discovery needs, one call per page.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryoet_release.aws import Aws
from cryoet_release_plugins.enqueue.discovery import AwsStorage, discover_runs, load_config

REGION = "us-west-2"
BUCKET = "bench-rawdatasets"
SOURCE_PREFIX = "kiewisz_tardis_01_2024/"
CONFIG = f"""\
standardization_config:
  deposition_id: 10301
  source_prefix: {SOURCE_PREFIX}
depositions:
- sources:
  - literal: {{value: [10301]}}
datasets:
- sources:
  - source_glob: {{list_glob: '*', match_regex: '.*', name_regex: '(.*)'}}
runs:
- sources:
  - source_glob: {{list_glob: '{{dataset_name}}/*', match_regex: '.*', name_regex: '(.*)'}}
"""
# What a run's raw data looks like: a tilt series, its angles and mdoc, and movie frames.
RUN_FILES = ["{run}.mrc", "{run}.rawtlt", "{run}.mdoc", *(f"frames/{{run}}_{n:03}.tif" for n in range(61))]
PAGE = 1000  # keys per ListObjectsV2 page

Found = list[tuple[str, str]]


def seed(datasets: int, runs: int, files: int) -> int:
    s3 = boto3.client("s3", region_name=REGION, config=Config(max_pool_connections=32))
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    keys = [
        f"{SOURCE_PREFIX}{10010 + d}/TS_{r:03}/{name.format(run=f'TS_{r:03}')}"
        for d in range(datasets)
        for r in range(runs)
        for name in RUN_FILES[:files]
    ]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=b""), keys))
    return len(keys)


def ours(config: Path) -> tuple[Found, int]:
    storage = AwsStorage(Aws(region=REGION, max_pool_connections=20))
    runs = discover_runs(load_config(config), BUCKET, "bench-output", storage, parallelism=20)
    return [(run.dataset, run.run) for run in runs], storage.calls


def old_pattern(config: Path, *, delimiter: bool = False) -> tuple[Found, int]:
    """The old command's discovery of this config: no cache, one finder call after the other."""
    load_config(config)  # every contender reads the config
    s3 = boto3.client("s3", region_name=REGION)
    calls = 0

    def glob_star(root: str) -> list[str]:
        """What `<root>*` finds: the files and folders right under root, from a listing of root."""
        nonlocal calls
        names = set()
        listing = {"Delimiter": "/"} if delimiter else {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=root, **listing):
            calls += 1
            names.update(item["Key"][len(root) :].split("/", 1)[0] for item in page.get("Contents", []))
            names.update(common["Prefix"][len(root) :].rstrip("/") for common in page.get("CommonPrefixes", []))
        return sorted(names)

    found = [
        (dataset, run)
        for dataset in glob_star(SOURCE_PREFIX)  # the dataset finder, called once for the deposition
        for run in glob_star(f"{SOURCE_PREFIX}{dataset}/")  # the run finder, called once per dataset
    ]
    return found, calls


def timed(run: Callable[[], tuple[Found, int]]) -> tuple[float, Found, int]:
    start = time.perf_counter()
    found, calls = run()
    return time.perf_counter() - start, found, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--files", type=int, default=4, help=f"files per run, 1-{len(RUN_FILES)}")
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--max-seconds", type=float, default=300, help="stop repeating after this long")
    args = parser.parse_args()
    if not 1 <= args.files <= len(RUN_FILES):
        parser.error(f"--files must be 1-{len(RUN_FILES)}")

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
    )
    try:
        keys = seed(args.datasets, args.runs, args.files)
        with tempfile.TemporaryDirectory(prefix="bench-queue-") as folder:
            config = Path(folder) / "deposition_10301.yaml"
            config.write_text(CONFIG)
            contenders = {
                "cryoet-release": lambda: ours(config),
                "old pattern": lambda: old_pattern(config),
                "delimiter walk": lambda: old_pattern(config, delimiter=True),
            }
            seconds: dict[str, list[float]] = {name: [] for name in contenders}
            calls: dict[str, int] = {}
            deadline = time.monotonic() + args.max_seconds
            for repetition in range(args.repetitions):
                order = list(contenders) if repetition % 2 == 0 else list(reversed(contenders))
                for name in order:
                    took, found, calls[name] = timed(contenders[name])
                    assert len(found) == args.datasets * args.runs, (name, len(found))
                    seconds[name].append(took)
                if time.monotonic() > deadline:
                    break

        medians = {name: statistics.median(times) for name, times in seconds.items()}
        per_dataset = args.runs * args.files
        minimum = math.ceil(keys / PAGE)  # one listing of the source prefix answers every finder
        old_minimum = minimum + args.datasets * math.ceil(per_dataset / PAGE)
        print(
            f"discovering {args.datasets} datasets x {args.runs} runs ({keys} keys, {args.files} per run), "
            f"{len(seconds['old pattern'])} repetitions each, interleaved"
        )
        for name, median in medians.items():
            print(f"  {name:14}: median {median * 1000:8.1f} ms, {calls[name]:4} S3 calls")
        ratio = medians["old pattern"] / medians["cryoet-release"]
        print(f"  cryoet-release / old pattern : {ratio:.1f}x faster (target >= 10)")
        walk = medians["delimiter walk"] / medians["cryoet-release"]
        print(f"  cryoet-release / delimiter walk : {walk:.2f}x (above 1: faster)")
        ours_calls, old_calls = calls["cryoet-release"], calls["old pattern"]
        print(f"  S3 calls: cryoet-release {ours_calls}, minimum {minimum} (one listing, {PAGE} keys a page)")
        print(f"            old pattern {old_calls} (its own pattern needs {old_minimum})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
