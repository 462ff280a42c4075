"""Run discovery of `enqueue queue` against the old command's pattern, on one moto server started here (a separate
process on 127.0.0.1).

Run from the repository root as a module (a script named queue.py would shadow the standard library's `queue`):

    .venv/bin/python -m benchmarks.queue [--datasets 40] [--runs 50] [--files 4] [--latency-ms 20]

One deposition of --datasets datasets x --runs runs x --files files per run, found as deposition_10301 finds them:
datasets by `source_glob: *`, runs by `source_glob: {dataset_name}/*`. Two contenders, interleaved, each timed
--repetitions times from the config file to the list of runs:
- cryoet-release: `finders.discover_runs` over `S3Storage` (a level-by-level delimiter walk, each listing once,
  the datasets and the directories of a level concurrently, --parallelism 20);
- the old pattern (enqueue_runs.py queue, SPEC §6-§8): one dataset after the other, and per source what s3fs's glob
  does for a pattern without `**` (fsspec `_glob` -> `_find(maxdepth)` -> `_isdir`/`_info`/`_walk` -> `_ls` per
  directory, ListObjectsV2 with Delimiter '/', the directory cache of that one call only); reproduced with boto3,
  which costs less per call than s3fs's aiobotocore, so the old pattern is if anything favoured. (Checked once
  against s3fs 2025.12.0 itself on this data: the same 41 delimiter listings, in 430-500 ms.)
Prints the medians (wall time, the client's CPU time, the moto server's CPU time), the ratio (target >= 10x) and
each contender's S3 calls against the minimum: one listing per prefix discovery needs, one call per page. Three
tables: moto as it is (no network latency, and a server that scans every key of the bucket for each listing, one
request at a time under its interpreter lock); moto with --latency-ms of modelled round trip per request (a sleep
before each send); and the same requests answered from memory (each response recorded from moto once, untimed) with
that latency, i.e. without the server's work, as against S3, which lists in parallel and not in time proportional to
the bucket. --latency-ms 0 skips the last two.
"""

from __future__ import annotations

import argparse
import math
import os
import posixpath
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.httpsession import URLLib3Session
from tests.components import start_moto_process as start_moto

from cryoet_release.aws import Aws
from cryoet_release.lookup import S3Storage as AwsStorage
from cryoet_release_plugins.enqueue.dataset_configs.config import DatasetConfig, LiteralNames, SourceGlob, load_config
from cryoet_release_plugins.enqueue.dataset_configs.finders import discover_runs
from cryoet_release_plugins.enqueue.dataset_configs.glob import glob_regex

REGION: Final = "us-west-2"
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
PAGE = 1000  # entries (keys and common prefixes) per ListObjectsV2 page
PARALLELISM = 20

Found = list[tuple[str, str]]


@dataclass
class Outcome:
    found: Found
    calls: int


# --- the moto server, in its own process so that it does not share the client's interpreter lock --------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


@dataclass(frozen=True)
class Network:
    """How S3 answers a contender: `latency` seconds of round trip per request (a sleep, which releases the GIL),
    and with a `replay`, from memory instead of from the server."""

    latency: float = 0.0
    replay: Replay | None = None

    def apply(self, client: Any) -> Any:
        if self.replay is not None:
            client.meta.events.register("before-send.s3", self.replay.answer(self.latency))
        elif self.latency > 0:
            client.meta.events.register("before-send.s3", lambda **_: time.sleep(self.latency))
        return client


class Replay:
    """S3 responses recorded from the moto server on first use, then answered from memory (same method and URL)."""

    def __init__(self) -> None:
        self.http = URLLib3Session()
        self.responses: dict[tuple[str, str], tuple[int, HTTPHeaders, bytes]] = {}
        self.misses = 0

    def answer(self, latency: float) -> Callable[..., AWSResponse]:
        def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            key = (request.method, request.url)
            if key not in self.responses:  # the warm-up run records them
                self.misses += 1
                real = self.http.send(request)
                self.responses[key] = (real.status_code, HTTPHeaders.from_dict(dict(real.headers)), real.content)
            status, headers, body = self.responses[key]
            time.sleep(latency)
            return AWSResponse(request.url, status, headers, _Body(body))

        return send


@dataclass(frozen=True)
class _Body:
    data: bytes

    def stream(self, **_: Any) -> list[bytes]:
        return [self.data]


# --- the contenders -------------------------------------------------------------------------------------------------


# Each contender is prepared (its S3 client made, which is not discovery) and then timed from the config file on.
Contender = Callable[[], Callable[[], Outcome]]


def ours(config: Path, network: Network) -> Callable[[], Outcome]:
    aws = Aws(region=REGION, max_pool_connections=PARALLELISM)
    network.apply(aws.client("s3"))

    def discover() -> Outcome:
        storage = AwsStorage(aws)
        runs = discover_runs(load_config(config), BUCKET, "bench-output", storage, parallelism=PARALLELISM)
        return Outcome([(run.dataset, run.run) for run in runs], storage.calls)

    return discover


class S3fsGlob:
    """What one `S3FileSystem.glob(pattern)` call lists for a pattern without `**` (s3fs 2025.12, fsspec 2025.12).

    fsspec `_glob`: root = the pattern up to the `/` before its first wildcard, depth = the components after it;
    s3fs `_find(root, maxdepth=depth)` hands over to fsspec `_find`: `_isdir(root)` lists the root with Delimiter '/'
    (neither it nor its parent is in the directory cache yet), `_info(root)` answers from that cache, then `_walk`
    lists (`_ls` -> `_lsdir`, Delimiter '/') every directory down to that depth, the root again from the cache. The
    candidates are matched against the pattern and sorted. The cache lives for this call only. (An empty root,
    which s3fs would list again with its parent, does not occur here.)
    """

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.calls = 0

    def __call__(self, pattern: str) -> list[str]:
        path = pattern.rstrip("/")
        magic = re.search(r"[*?\[]", path)
        if magic is None or "**" in path:
            raise NotImplementedError("the benchmark's configs glob with wildcards and without '**'")
        root = path[: path.rindex("/", 0, magic.start())]
        depth = path[len(root) + 1 :].count("/") + 1
        cache: dict[str, list[tuple[str, bool]]] = {}
        candidates: dict[str, bool] = {}
        if self._ls(root, cache):  # _isdir(root) -> _lsdir(root); _info(root) from the cache
            candidates[root] = True
        self._walk(root, depth, cache, candidates)
        regex = glob_regex(path)
        return [name for name in sorted(candidates) if regex.fullmatch(name)]

    def _walk(self, path: str, depth: int, cache: dict[str, list[tuple[str, bool]]], out: dict[str, bool]) -> None:
        entries = self._ls(path, cache)
        out.update(entries)
        if depth > 1:
            for name, directory in entries:
                if directory:
                    self._walk(name, depth - 1, cache, out)

    def _ls(self, path: str, cache: dict[str, list[tuple[str, bool]]]) -> list[tuple[str, bool]]:
        """(path, is a directory) of each entry right under `path` (`bucket/key`), listed once per call."""
        if path not in cache:
            bucket, _, key = path.partition("/")
            prefix = f"{key}/" if key else ""
            entries = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                self.calls += 1
                entries += [(f"{bucket}/{common['Prefix'][:-1]}", True) for common in page.get("CommonPrefixes", [])]
                entries += [(f"{bucket}/{item['Key']}", False) for item in page.get("Contents", [])]
            cache[path] = entries
        return cache[path]


def old_pattern(config_path: Path, network: Network) -> Callable[[], Outcome]:
    """The old command's discovery of this config: finder calls one after the other, datasets in order."""
    s3 = network.apply(boto3.Session().client("s3", region_name=REGION))

    def discover() -> Outcome:
        config = load_config(config_path)
        glob = S3fsGlob(s3)
        root = f"{BUCKET}/{config.settings.source_prefix}"
        found = [
            (str(dataset), str(run))
            for deposition in finder(config, "deposition", {}, glob, root)
            for dataset in finder(config, "dataset", {"deposition_name": deposition}, glob, root)
            for run in finder(config, "run", {"dataset_name": dataset}, glob, root)
        ]
        return Outcome(found, glob.calls)

    return discover


def finder(config: DatasetConfig, level: str, variables: dict[str, Any], glob: S3fsGlob, root: str) -> list[Any]:
    """The names one finder call yields (the literal and source_glob finders of SPEC §8, which this config uses)."""
    names: dict[Any, None] = {}
    for entry in config.finders[level]:
        for source in entry.sources:
            found = source.finder
            if isinstance(found, LiteralNames):
                names.update(dict.fromkeys(found.value))
            elif isinstance(found, SourceGlob):
                match, name = re.compile(found.match_regex or ".*"), re.compile(found.name_regex or "(.*)")
                for path in glob(posixpath.join(root, found.list_glob.format(**variables))):
                    named = name.match(posixpath.basename(path))
                    if match.search(path) and named:
                        names[named[1]] = None
    return list(names)


# --- the measurement ------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    wall: list[float]
    client_cpu: list[float]
    server_cpu: list[float]
    calls: int = 0


def measure(
    contenders: dict[str, Contender], repetitions: int, deadline: float, server: int, expected: int
) -> dict[str, Timing]:
    timings = {name: Timing([], [], []) for name in contenders}
    reference: Found | None = None
    for contender in contenders.values():  # warm-up, not timed
        contender()()
    for repetition in range(repetitions):
        for name in list(contenders) if repetition % 2 == 0 else list(reversed(contenders)):
            discover = contenders[name]()
            server_before, client_before, start = cpu_seconds(server), time.process_time(), time.perf_counter()
            outcome = discover()
            timing = timings[name]
            timing.wall.append(time.perf_counter() - start)
            timing.client_cpu.append(time.process_time() - client_before)
            timing.server_cpu.append(cpu_seconds(server) - server_before)
            timing.calls = outcome.calls
            assert len(outcome.found) == expected, (name, len(outcome.found))
            reference = reference or outcome.found
            assert outcome.found == reference, f"{name} found other runs, or in another order"
        if time.monotonic() > deadline:
            break
    return timings


def report(title: str, timings: dict[str, Timing], minimum: int) -> None:
    print(title)
    for name, timing in timings.items():
        print(
            f"  {name:14}: median {statistics.median(timing.wall) * 1000:7.1f} ms wall, "
            f"client CPU {statistics.median(timing.client_cpu) * 1000:6.1f} ms, "
            f"server CPU {statistics.median(timing.server_cpu) * 1000:6.1f} ms, "
            f"{timing.calls:3} S3 calls (minimum {minimum}), {len(timing.wall)} runs"
        )
    ratio = statistics.median(timings["old pattern"].wall) / statistics.median(timings["cryoet-release"].wall)
    print(f"  old pattern / cryoet-release: {ratio:.1f}x faster (target >= 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--files", type=int, default=4, help=f"files per run, 1-{len(RUN_FILES)}")
    parser.add_argument("--repetitions", type=int, default=9)
    parser.add_argument("--latency-ms", type=float, default=20, help="modelled S3 round trip, for tables 2 and 3")
    parser.add_argument("--max-seconds", type=float, default=25, help="stop repeating a table after this long")
    args = parser.parse_args()
    if not 1 <= args.files <= len(RUN_FILES):
        parser.error(f"--files must be 1-{len(RUN_FILES)}")

    process, endpoint = start_moto()
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
    )
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(variable, None)
    try:
        keys = seed(args.datasets, args.runs, args.files)
        # One listing of the source prefix (its datasets), then one of each dataset (its runs), a call per page.
        minimum = math.ceil(args.datasets / PAGE) + args.datasets * math.ceil(args.runs / PAGE)
        print(
            f"discovering {args.datasets} datasets x {args.runs} runs ({keys} keys, {args.files} per run), "
            f"contenders interleaved, medians; the client and the moto server share {os.cpu_count()} cores"
        )
        with tempfile.TemporaryDirectory(prefix="bench-queue-") as folder:
            config = Path(folder) / "deposition_10301.yaml"
            config.write_text(CONFIG)
            latency = args.latency_ms / 1000
            replay = Replay()
            tables = {"moto on 127.0.0.1, no added latency": Network()}
            if latency > 0:
                tables[f"moto, {args.latency_ms:g} ms of modelled round trip per request"] = Network(latency)
                tables[f"answered from memory (no server work), {args.latency_ms:g} ms per request"] = Network(
                    latency, replay
                )
            for title, network in tables.items():
                contenders: dict[str, Contender] = {
                    "cryoet-release": partial(ours, config, network),
                    "old pattern": partial(old_pattern, config, network),
                }
                deadline = time.monotonic() + args.max_seconds
                timings = measure(contenders, args.repetitions, deadline, process.pid, args.datasets * args.runs)
                report(f"{title}:", timings, minimum)
            if latency > 0:
                misses = replay.misses - len(replay.responses)
                print(f"  ({len(replay.responses)} responses recorded; {misses} asked for again from the server)")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
