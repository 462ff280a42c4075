"""Scale: `compare trees` of two 100,000-object trees, against listing the two one after the other.

The emulator: moto's S3 server in a process of its own on 127.0.0.1 (it does not share the benchmark's interpreter
lock), its WSGI app behind a small door that sleeps --latency ms before each S3 request (in the request's thread, so
requests overlap as they do over a network) and counts the requests by operation. The trees are seeded from inside
that process, through moto's backend (`s3_backends["123456789012"]["global"].put_object`, moto's default account,
which dummy credentials map to), not over HTTP.

moto lists a bucket by scanning and sorting every key in it, and renders each page through its generic serializer:
a page of 1,000 keys of a 100,000-key bucket costs it about 200 ms of CPU, under its one interpreter lock, so moto as
it is measures moto, not S3 (whose listing time does not grow with the bucket, and which answers requests in
parallel). So the door answers ListObjectsV2 on the seeded buckets itself, from a sorted index of their keys made
from moto's objects (their ETag, size, LastModified, storage class), in moto's XML: at start, its answers to a dozen
listings of every kind (with and without a delimiter, continued pages, start-after, an empty one) are checked
against moto's own, byte for byte, and the result is printed. Everything else (GetObject) is moto's.
`--moto-as-is` lets moto answer every request itself (slow: use --objects 10000).

The trees: --objects objects each (default 100,000), in the portal's layout (datasets, runs, metadata JSON, a tilt
series, an annotation, a tomogram as an MRC file and as a multiscale OME-Zarr of ~600 chunk objects per run), in two
buckets, `s3://bench-a-N/portal/` and `s3://bench-b-N/portal/`. Bodies are a few bytes; the trees are the same but
for a handful of keys: 3 chunks and 1 JSON document changed (same size, another ETag), 2 keys only in A, 2 only in B.
The comparison so lists everything and reads two objects (the JSON document on each side, to say which fields differ).

- Baseline, measured in the same run: tree A, then tree B, listed with boto3's `list_objects_v2` paginator (a plain
  client, the same endpoint), every key kept with its ETag and size.
- Contender: the tool's compare, called as `compare trees` calls it (`compare_trees` in
  plugins/cryoet_release_plugins/compare/runs.py): an `Aws` from `GlobalOptions().aws(max_pool_connections=4 * 20)`,
  `Tree.parse` of both URLs, `differ.compare(..., workers=20, skip=excluded([]))` (the default --parallelism),
  ending with the Comparison, whose counts, changed document and zarr arrays are checked against what the seeding
  implies ("correct").

a. Wall time: medians of --rounds (interleaved, the order alternating each round; one untimed run of each first, on
   the smallest trees), with this process's CPU time, the emulator's CPU time and the requests the emulator counted;
   the ratio compare / baseline against the target (<= 0.6).
b. Memory: each contender once at 10,000, 50,000 and --objects objects per side, each run in a new process (none
   inherits another's heap): how much the process's peak resident set (VmHWM, reset before the run) grew during the
   run, and with --tracemalloc also the peak of the Python allocations traced (several times slower). The
   contender's should stay flat; the baseline keeps every key, and grows with them.

Timings are printed, never asserted. Run from the repository root:
`python -m benchmarks.compare [--objects 100000] [--latency 20] [--rounds 3] [--tracemalloc] [--moto-as-is]`.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-west-2"
PREFIX = "portal/"
PARALLELISM = 20
"""`compare trees`' default --parallelism (cryoet_release_plugins.options.DEFAULT_PARALLELISM)."""
TARGET = 0.6
MEMORY_SIZES = (10_000, 50_000)
"""Objects per side of the memory readings, besides --objects."""
DATASETS = 10
VOXELS = "Reconstructions/VoxelSpacing13.480"
SCALES = ((0, 8), (1, 4), (2, 2))
"""The tomogram's OME-Zarr: (scale, chunks per axis)."""
CONTROL = "/_bench/"
"""The emulator's own endpoints (no bucket name starts with '_')."""


# --- the two trees ------------------------------------------------------------------------------------------------


def run_keys(run: int) -> Iterator[str]:
    """One run's keys, as the portal lays them out (the first run of a dataset also gives the dataset's file)."""
    dataset = f"{10000 + run % DATASETS}"
    name = f"TS_{run:04}"
    if run < DATASETS:
        yield f"{dataset}/dataset_metadata.json"
    folder = f"{dataset}/{name}"
    yield f"{folder}/run_metadata.json"
    yield f"{folder}/TiltSeries/100/{name}.mdoc"
    yield f"{folder}/TiltSeries/100/tiltseries_metadata.json"
    yield f"{folder}/{VOXELS}/Annotations/100/ribosome-1.0_metadata.json"
    yield f"{folder}/{VOXELS}/Tomograms/100/tomogram_metadata.json"
    yield f"{folder}/{VOXELS}/Tomograms/100/{name}.mrc"
    zarr = f"{folder}/{VOXELS}/Tomograms/100/{name}.zarr"
    yield f"{zarr}/.zattrs"
    yield f"{zarr}/.zgroup"
    for scale, count in SCALES:
        yield f"{zarr}/{scale}/.zarray"
        for z in range(count):
            for y in range(count):
                for x in range(count):
                    yield f"{zarr}/{scale}/{z}.{y}.{x}"


def tree_keys(objects: int) -> list[str]:
    """Tree A's `objects` keys (relative to the tree), in key order: whole runs, the last one cut short."""
    runs = (key for run in range(objects) for key in run_keys(run))
    return sorted(islice(runs, objects))


def body(key: str) -> bytes:
    if key.endswith(".json") or "/." in key:
        return b'{"voxel_spacing": 13.48}\n'
    return b"\x00" * 16


@dataclass(frozen=True)
class Differences:
    """How tree B differs from tree A."""

    changed: dict[str, bytes]
    """Keys with other bytes in B (of the same size: only the ETag tells)."""
    only_a: list[str]
    only_b: dict[str, bytes]

    @classmethod
    def of(cls, keys: Sequence[str]) -> Differences:
        def first(suffix: str, at: float) -> str:
            start = int(len(keys) * at)
            return next(k for k in [*keys[start:], *keys] if k.endswith(suffix))

        chunks = [first(".0.1", at) for at in (0.25, 0.5, 0.75)]
        document = first("tomogram_metadata.json", 0.5)
        changed = dict.fromkeys(chunks, b"\x01" * 16) | {document: b'{"voxel_spacing": 13.49}\n'}
        only_a = [first(".1.0", 1 / 3), first("run_metadata.json", 2 / 3)]
        run = first("run_metadata.json", 0.4).removesuffix("/run_metadata.json")
        zarr = next(k for k in keys if k.startswith(f"{run}/") and ".zarr/0/" in k).rpartition("/0/")[0]
        only_b = {f"{zarr}/0/9.9.9": b"\x00" * 16, f"{run}/extra_metadata.json": b'{"extra": true}\n'}
        return cls(changed, only_a, only_b)

    def expected(self, objects: int) -> dict[str, int]:
        """The Comparison's counts."""
        changed, only_a = len(self.changed), len(self.only_a)
        return {"same": objects - changed - only_a, "changed": changed, "only_a": only_a, "only_b": len(self.only_b)}

    def check(self, comparison: Any, objects: int) -> bool:
        """The Comparison says what the seeding did: its counts, the changed document, the chunks' arrays."""
        documents = sorted(key for key in self.changed if "/." not in key and key.endswith(".json"))
        chunks_differ = sum(array.differ for array in comparison.arrays.values())
        in_arrays = sum(".zarr/" in key and "/." not in key for key in [*self.changed, *self.only_a, *self.only_b])
        return (
            comparison.counts == self.expected(objects)
            and sorted(item.key for item in comparison.changed) == documents
            and chunks_differ == in_arrays
        )


def buckets(objects: int) -> tuple[str, str]:
    return f"bench-a-{objects}", f"bench-b-{objects}"


def trees(objects: int) -> tuple[str, str]:
    a, b = buckets(objects)
    return f"s3://{a}/{PREFIX}", f"s3://{b}/{PREFIX}"


# --- the emulator (its own process) -------------------------------------------------------------------------------


class Index:
    """The seeded buckets' keys, sorted, with what a listing shows of each: ListObjectsV2 answered in time that grows
    with the page, not with the bucket, as S3 answers it, in moto's own XML (checked against moto at start)."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.rows: dict[str, dict[str, tuple[str, str, int, str]]] = {}
        """Bucket -> key -> (LastModified, ETag, Size, StorageClass), as moto lists them."""
        self.tokens: dict[str, str] = {}
        """Continuation token -> the last entry of the page before (moto's tokens: the MD5 of that entry)."""

    def add(self, bucket: Any) -> None:
        rows = {
            name: (key.last_modified_ISO8601, key.etag, key.size, key.storage_class)
            for name, key in bucket.keys.items()
        }
        self.rows[bucket.name] = rows
        self.names[bucket.name] = sorted(rows)

    def page(
        self, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
    ) -> tuple[list[str], list[str], str | None]:
        """(keys, common prefixes, next token) of the page after `after` (a key or a common prefix; "" to begin)."""
        names = self.names[bucket]
        at = max(bisect.bisect_left(names, prefix), bisect.bisect_right(names, after) if after else 0)
        keys: list[str] = []
        folders: list[str] = []
        last = after
        while at < len(names) and names[at].startswith(prefix):
            name = names[at]
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                entry = name[: cut + len(delimiter)]
                at = bisect.bisect_left(names, entry + "\U0010ffff", at)  # past every key under it
                if entry == after:  # the page before ended with it
                    continue
            else:
                entry = name
                at += 1
            if len(keys) + len(folders) == max_keys:
                token = hashlib.md5(last.encode(), usedforsecurity=False).hexdigest()
                self.tokens[token] = last
                return keys, folders, token
            (folders if cut >= 0 else keys).append(entry)
            last = entry
        return keys, folders, None

    def answer(self, bucket: str, query: dict[str, str]) -> bytes:
        """ListObjectsV2's XML body, element for element as moto's server writes it."""
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        token, start_after = query.get("continuation-token"), query.get("start-after", "")
        max_keys = int(query.get("max-keys", 1000))
        encoding = query.get("encoding-type")
        after = self.tokens[token] if token else start_after
        keys, folders, next_token = self.page(bucket, prefix, delimiter, after, max_keys)

        def text(value: str) -> str:
            return xml_escape(urllib.parse.quote(value) if encoding == "url" else value)

        rows = self.rows[bucket]
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<IsTruncated>{'true' if next_token else 'false'}</IsTruncated>"
        ]
        for key in keys:
            modified, etag, size, storage = rows[key]
            parts.append(
                f"<Contents><Key>{text(key)}</Key><LastModified>{modified}</LastModified><ETag>{etag}</ETag>"
                f"<Size>{size}</Size><StorageClass>{storage}</StorageClass></Contents>"
            )
        parts.append(f"<Name>{bucket}</Name>" + (f"<Prefix>{text(prefix)}</Prefix>" if prefix else "<Prefix/>"))
        parts.append(f"<Delimiter>{xml_escape(delimiter)}</Delimiter>" if delimiter else "")
        parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
        parts += [f"<CommonPrefixes><Prefix>{text(folder)}</Prefix></CommonPrefixes>" for folder in folders]
        parts.append(f"<EncodingType>{encoding}</EncodingType>" if encoding else "")
        parts.append(f"<KeyCount>{len(keys) + len(folders)}</KeyCount>")
        parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>" if next_token else "")
        parts.append(f"<StartAfter>{text(start_after)}</StartAfter>" if start_after and not token else "")
        parts.append("</ListBucketResult>")
        return "".join(parts).encode()


class Door:
    """In front of moto's WSGI app: a sleep of `latency` seconds before each S3 request, each request counted, the
    seeded buckets' listings answered from the `index` (when there is one); the /_bench/ endpoints (GET counters,
    POST reset)."""

    def __init__(self, app: Any, latency: float, index: Index | None) -> None:
        self.app = app
        self.latency = latency
        self.index = index
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            with self.lock:
                if path == f"{CONTROL}reset":
                    self.calls.clear()
                payload = json.dumps({"calls": dict(self.calls)}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        name = operation(environ)
        with self.lock:
            self.calls[name] += 1
        if self.latency:
            time.sleep(self.latency)
        bucket = path.strip("/")
        if self.index is None or name != "ListObjectsV2" or bucket not in self.index.names:
            return self.app(environ, start_response)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        payload = self.index.answer(bucket, query)
        start_response("200 OK", [*HEADERS, ("Content-Length", str(len(payload)))])
        return [payload]

    def moto(self, environ: dict[str, Any]) -> tuple[str, bytes]:
        """moto's own answer: its status and body."""
        said: list[str] = []
        body = b"".join(self.app(environ, lambda status, headers, *_: said.append(status)))
        return said[0], body

    def check(self, bucket: str) -> tuple[int, list[str]]:
        """The index's answers against moto's own, byte for byte, for listings of every kind: (how many, those that
        differ)."""
        from werkzeug.test import EnvironBuilder

        first = [
            {"prefix": PREFIX},
            {"prefix": PREFIX, "delimiter": "/"},
            {"delimiter": "/"},
            {"prefix": f"{PREFIX}10000/", "delimiter": "/"},
            {"prefix": f"{PREFIX}10000/TS_0000/"},
            {"prefix": f"{PREFIX}10000/TS_0000/TiltSeries/", "delimiter": "/"},
            {"prefix": PREFIX, "delimiter": "/", "max-keys": "4"},
            {"prefix": f"{PREFIX}10001", "start-after": f"{PREFIX}10001/TS_0011/"},
            {"prefix": "nothing/"},
        ]
        differ: list[str] = []
        asked = 0
        for given in first:
            query = {**given, "list-type": "2", "encoding-type": "url"}
            for _ in range(3):  # the first pages, each after the token moto gave
                text = urllib.parse.urlencode(query)
                environ = EnvironBuilder(path=f"/{bucket}", query_string=text, headers=CHECK_AUTH).get_environ()
                status, moto = self.moto(environ)
                ours = self.index.answer(bucket, query) if self.index is not None else b""
                asked += 1
                if not status.startswith("200") or moto != ours:
                    differ.append(text)
                token = re.search(rb"<NextContinuationToken>(\w+)<", moto)
                if token is None:
                    break
                query["continuation-token"] = token[1].decode()
        return asked, differ


HEADERS = (("Content-Type", "application/xml"), ("server", "amazon.com"), ("x-amzn-requestid", "bench"))
CHECK_AUTH = [
    (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=bench/20260101/us-west-2/s3/aws4_request, SignedHeaders=host, Signature=0",
    )
]
"""What moto needs to take a request for S3's (it checks no signature)."""


def operation(environ: dict[str, Any]) -> str:
    method, query = str(environ.get("REQUEST_METHOD", "")), str(environ.get("QUERY_STRING", ""))
    if method == "GET" and "list-type=2" in query:
        return "ListObjectsV2"
    return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject"}.get(method, method)


def seed(backend: Any, objects: int) -> list[Any]:
    """Trees A and B of `objects` keys each, in buckets of their own, put through moto's backend; the buckets."""
    keys = tree_keys(objects)
    differences = Differences.of(keys)
    bucket_a, bucket_b = buckets(objects)
    contents = {
        bucket_a: {key: body(key) for key in keys},
        bucket_b: {key: body(key) for key in keys if key not in differences.only_a}
        | differences.changed
        | differences.only_b,
    }
    for bucket, tree in contents.items():
        backend.create_bucket(bucket, REGION)
        for key, data in tree.items():
            backend.put_object(bucket, PREFIX + key, data, disable_notification=True)
    return [backend.get_bucket(bucket) for bucket in contents]


def serve(latency_ms: float, sizes: Sequence[int], *, as_is: bool) -> None:
    """The emulator: seeded, checked, then listening on a free port of 127.0.0.1 (said on stdout) until terminated."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    class Quiet(MotoRequestHandler):
        def log_request(self, *args: Any) -> None:
            pass

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    seeded = [bucket for objects in sizes for bucket in seed(backend, objects)]
    index = None if as_is else Index()
    for bucket in seeded:
        if index is not None:
            index.add(bucket)
    door = Door(DomainDispatcherApplication(create_backend_app), latency_ms / 1000, index)
    asked, differ = door.check(seeded[0].name) if index is not None else (0, [])
    server = make_server("127.0.0.1", 0, door, threaded=True, request_handler=Quiet)
    said = {"address": f"127.0.0.1:{server.server_port}", "account": DEFAULT_ACCOUNT_ID, "checked": asked}
    print(f"listening {json.dumps(said | {'differ': differ})}", flush=True)
    threading.Thread(target=orphaned, args=(server,), daemon=True).start()
    with suppress(KeyboardInterrupt):
        server.serve_forever()


def orphaned(server: Any, parent: int | None = None) -> None:
    """Stop serving when the benchmark that started the emulator is gone, however it ended (kill -9 too)."""
    parent = parent or os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    server.shutdown()


@dataclass
class Emulator:
    """The running emulator, seen from the benchmark."""

    process: subprocess.Popen[str]
    endpoint: str
    account: str
    checked: int
    """Listings the index answered as moto does, byte for byte (at start, in the emulator)."""
    differ: list[str]
    """... and those it did not answer as moto does."""

    def control(self, path: str) -> dict[str, Any]:
        method = "POST" if path == "reset" else "GET"
        request = urllib.request.Request(f"{self.endpoint}{CONTROL}{path}", data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def reset(self) -> None:
        self.control("reset")

    def calls(self) -> Counter[str]:
        return Counter(self.control("counters")["calls"])

    def cpu_seconds(self) -> float:
        """The emulator's CPU time so far (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def environ(self) -> dict[str, str]:
        """What boto3 needs to call it: its endpoint, dummy credentials, a region, no config files."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }  # fmt: skip


@contextmanager
def running(latency_ms: float, sizes: Sequence[int], *, as_is: bool) -> Iterator[Emulator]:
    """The emulator in a process of its own, stopped on the way out (Ctrl-C too)."""
    argv = [sys.executable, "-m", "benchmarks.compare", "--serve", "--latency", str(latency_ms)]
    argv += ["--sizes", ",".join(map(str, sizes)), *(["--moto-as-is"] if as_is else [])]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        said = json.loads(line.removeprefix("listening "))
        yield Emulator(process, f"http://{said['address']}", said["account"], said["checked"], said["differ"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the two contenders -------------------------------------------------------------------------------------------


def baseline_client() -> Any:
    import boto3

    return boto3.session.Session().client("s3")


def baseline(s3: Any, objects: int) -> list[tuple[str, str, int]]:
    """Tree A, then tree B, with boto3's paginator: every key, its ETag and size."""
    listed = []
    for bucket in buckets(objects):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
            listed += [(item["Key"], item["ETag"], item["Size"]) for item in page.get("Contents", [])]
    return listed


def contender_session() -> Any:
    """What compare_trees builds: an Aws sized for 4 x --parallelism connections (its S3 client made now)."""
    from cryoet_release.context import GlobalOptions

    aws = GlobalOptions().aws(max_pool_connections=4 * PARALLELISM)
    aws.client("s3")
    return aws


def contender(aws: Any, objects: int) -> Any:
    """`compare trees A B`, as compare_trees calls it, to its Comparison."""
    from cryoet_release_plugins.verdict.differ import compare
    from cryoet_release_plugins.verdict.trees import Tree, excluded

    a, b = trees(objects)
    tree_a = Tree.parse(a, aws, name="A")
    tree_b = Tree.parse(b, aws, name="B")
    return compare(tree_a, tree_b, workers=PARALLELISM, skip=excluded([]))


@dataclass
class Timed:
    wall: float
    cpu: float
    """This process's CPU seconds."""
    emulator_cpu: float
    calls: Counter[str]
    correct: bool


@dataclass
class Runs:
    timed: list[Timed] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(t, attribute) for t in self.timed))


def timed(emulator: Emulator, run: Callable[[], bool]) -> Timed:
    emulator.reset()
    wall, cpu, server = time.perf_counter(), time.process_time(), emulator.cpu_seconds()
    correct = run()
    wall, cpu, server = time.perf_counter() - wall, time.process_time() - cpu, emulator.cpu_seconds() - server
    return Timed(wall, cpu, server, emulator.calls(), correct)


def measure(emulator: Emulator, objects: int, rounds: int) -> dict[str, Runs]:
    differences = Differences.of(tree_keys(objects))
    expected_keys = 2 * objects

    def listing() -> Callable[[], bool]:
        s3 = baseline_client()
        return lambda: len(baseline(s3, objects)) == expected_keys

    def comparing() -> Callable[[], bool]:
        aws = contender_session()
        return lambda: differences.check(contender(aws, objects), objects)

    makers = {"baseline": listing, "compare": comparing}
    runs = {name: Runs() for name in makers}
    for n in range(rounds):
        for name in list(makers)[:: 1 if n % 2 == 0 else -1]:
            runs[name].timed.append(timed(emulator, makers[name]()))
    return runs


def warm_up(objects: int) -> None:
    """Each contender once, untimed, on the smallest trees: the first run of a process loads what later ones reuse."""
    baseline(baseline_client(), objects)
    contender(contender_session(), objects)


@dataclass
class Memory:
    """One contender's run at one size, in a process of its own."""

    who: str
    objects: int
    rss: int
    """How much the peak resident set (VmHWM) grew during the run, bytes."""
    traced: int | None
    """The peak of the Python allocations tracemalloc traced during the run, bytes (with --tracemalloc)."""
    seconds: float
    correct: bool


def proc_status(field_name: str) -> int:
    """A size from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(field_name)


def measure_memory(who: str, objects: int, *, traced: bool) -> Memory:
    """Run in a process of its own (`--memory-of`): the session or client made and used once (what a first call
    loads is loaded), then one run, its memory read."""
    a, _ = buckets(objects)
    if who == "compare":
        from cryoet_release_plugins.verdict.differ import fields_diff

        differences = Differences.of(tree_keys(objects))
        aws = contender_session()
        s3 = aws.client("s3")
        fields_diff({"a": 1}, {"a": 2})  # deepdiff imported

        def run() -> bool:
            return differences.check(contender(aws, objects), objects)
    else:
        s3 = baseline_client()

        def run() -> bool:
            return len(baseline(s3, objects)) == 2 * objects

    s3.get_paginator("list_objects_v2")  # botocore's models loaded before, not during, the run
    s3.list_objects_v2(Bucket=a, Prefix=PREFIX, MaxKeys=1)
    with suppress(OSError):  # the peak starts again from here (Linux 4.0 and later)
        Path("/proc/self/clear_refs").write_text("5")
    before = proc_status("VmRSS")
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    correct = run()
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    return Memory(who, objects, proc_status("VmHWM") - before, peak, seconds, correct)


def memory(sizes: Sequence[int], *, traced: bool) -> list[Memory]:
    """Each contender once at each size, each run in a new process (none inherits another's heap)."""
    readings = []
    for objects in sizes:
        for who in ("compare", "baseline"):
            argv = [sys.executable, "-m", "benchmarks.compare", "--memory-of", who, "--objects", str(objects)]
            done = subprocess.run(
                [*argv, *(["--tracemalloc"] if traced else [])], cwd=ROOT, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv[1:])} failed:\n{done.stderr}")
            readings.append(Memory(**json.loads(done.stdout.splitlines()[-1])))
    return readings


# --- the report ---------------------------------------------------------------------------------------------------


def print_times(runs: dict[str, Runs], objects: int, latency: float, rounds: int) -> None:
    print(f"a. {objects:,} objects per side, {latency:g} ms added to each request; medians of {rounds}, interleaved")
    print(f"   {'':9} {'wall':>8} {'client CPU':>11} {'emulator CPU':>13} {'List':>5} {'Get':>4} {'other':>5}  correct")
    base = runs["baseline"].median("wall")
    for name, found in runs.items():
        calls = found.timed[-1].calls
        other = sum(calls.values()) - calls["ListObjectsV2"] - calls["GetObject"]
        correct = "yes" if all(t.correct for t in found.timed) else "NO"
        print(
            f"   {name:9} {found.median('wall'):7.2f}s {found.median('cpu'):10.2f}s"
            f" {found.median('emulator_cpu'):12.2f}s {calls['ListObjectsV2']:5} {calls['GetObject']:4} {other:5}"
            f"  {correct}"
        )
    ratio = runs["compare"].median("wall") / base
    verdict = "meets" if ratio <= TARGET else "MISSES"
    walls = ", ".join(f"{t.wall:.2f}" for t in runs["compare"].timed)
    bases = ", ".join(f"{t.wall:.2f}" for t in runs["baseline"].timed)
    print(f"   ratio compare / baseline: {ratio:.3f} (target <= {TARGET}: {verdict})")
    print(f"   each round, wall seconds: compare {walls}; baseline {bases}")
    pages = 2 * math.ceil(objects / 1000)
    listing, comparing = runs["baseline"], runs["compare"]
    each, cpu = listing.median("wall") / pages * 1000, listing.median("cpu") / pages * 1000
    print(
        f"   the baseline: {pages} pages of 1,000 keys one after the other, {each:.0f} ms each: {latency:g} ms added,"
        f" {cpu:.0f} ms of this process's CPU"
    )
    busy = comparing.median("cpu") / comparing.median("wall")
    print(f"   compare: this process's CPU busy {busy:.0%} of the wall time (one interpreter lock: near 100% is bound)")


def print_memory(readings: Sequence[Memory], *, traced: bool) -> None:
    print("\nb. memory: each contender once per size, each run in a process of its own; the growth of the process's")
    print("   peak resident set (VmHWM) during the run" + (", and the peak traced by tracemalloc" if traced else ""))
    by = {(m.who, m.objects): m for m in readings}
    sizes = sorted({m.objects for m in readings})

    def shown(m: Memory) -> str:
        traced_part = f" ({m.traced / 2**20:5.1f} MiB traced)" if m.traced is not None else ""
        return f"{m.rss / 2**20:6.1f} MiB{traced_part}" + ("" if m.correct else " WRONG")

    width = max(len(shown(m)) for m in readings)
    print(f"   {'objects per side':>16}  {'compare':>{width}}  {'baseline':>{width}}")
    for objects in sizes:
        print(f"   {objects:16,}  {shown(by['compare', objects]):>{width}}  {shown(by['baseline', objects]):>{width}}")
    if len(sizes) > 1:
        small, large = sizes[-2], sizes[-1]
        for who in ("compare", "baseline"):
            grew = by[who, large].rss - by[who, small].rss
            traced_part = ""
            if traced:
                traced_grew = (by[who, large].traced or 0) - (by[who, small].traced or 0)
                traced_part = f"; traced {traced_grew / 2**20:+.1f} MiB, {traced_grew / (2 * (large - small)):+.0f} B"
            print(
                f"   {who}: from {small:,} to {large:,} objects per side, peak RSS {grew / 2**20:+.1f} MiB,"
                f" {grew / (2 * (large - small)):+.0f} B per object listed{traced_part}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000, help="objects per tree")
    parser.add_argument("--latency", type=float, default=20.0, metavar="MS", help="added to every S3 request")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--moto-as-is", action="store_true", help="moto answers every request itself, with its own listing"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace the memory runs' allocations (several times slower)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-of", choices=("compare", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, [int(size) for size in args.sizes.split(",")], as_is=args.moto_as_is)
        return
    if args.memory_of:
        print(json.dumps(asdict(measure_memory(args.memory_of, args.objects, traced=args.tracemalloc))))
        return
    if args.objects < 1_000:
        parser.error("--objects must be at least 1000")
    sizes = sorted({*(size for size in MEMORY_SIZES if size < args.objects), args.objects})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # the emulator stopped on the way out
    began = time.perf_counter()
    with running(args.latency, sizes, as_is=args.moto_as_is) as emulator:
        for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
            os.environ.pop(variable, None)
        os.environ.update(emulator.environ())
        print(
            f"the emulator: moto's S3 server at {emulator.endpoint} (account {emulator.account}), {args.latency:g} ms"
            f" added to each request; seeded with {' and '.join(f'{n:,}' for n in sizes)} objects per side in"
            f" {time.perf_counter() - began:.0f} s; {os.cpu_count()} cores; compare --parallelism {PARALLELISM}"
        )
        if args.moto_as_is:
            print("listings: moto's own (a scan and a sort of the bucket for each page)\n")
        else:
            same = "all the same, byte for byte" if not emulator.differ else f"{len(emulator.differ)} DIFFER"
            print(
                f"listings: from a sorted index of the keys; checked at start against moto's own answers to"
                f" {emulator.checked} listings: {same}\n"
            )
            for query in emulator.differ:
                print(f"   differs from moto: {query}")
        warm_up(min(sizes))
        print_times(measure(emulator, args.objects, args.rounds), args.objects, args.latency, args.rounds)
        print_memory(memory(sizes, traced=args.tracemalloc), traced=args.tracemalloc)
    print(f"\n(the benchmark took {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
