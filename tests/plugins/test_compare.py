"""`compare trees` against the real emulator (moto server): two seeded trees holding every kind of difference, a
multipart pair with equal bytes (read, since their ETags cannot tell), and what is read and what is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import invoke
from tests.faults import count_object_reads

REGION = "us-west-2"
MIB = 1 << 20


def mrc(voxel: float, shape: tuple[int, int, int] = (4, 4, 4)) -> bytes:
    """An MRC volume, written by the mrcfile library itself."""
    import tempfile

    import mrcfile
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.mrc"
        with mrcfile.new(path) as volume:
            volume.set_data(np.zeros(shape, dtype=np.float32))
            volume.voxel_size = voxel
        return path.read_bytes()


def multipart(s3: Any, bucket: str, key: str, body: bytes, part: int) -> str:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(body), part), start=1):
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body[start : start + part]
        )
        parts.append({"PartNumber": number, "ETag": etag["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    return str(done["ETag"]).strip('"')


CHUNKS = [f"run1/tomo.zarr/0/0.{y}.{x}" for y in range(2) for x in range(4)]
ZARRAY = {"shape": [4, 4, 8], "chunks": [4, 2, 2], "dtype": "<f4", "compressor": None, "zarr_format": 2}


def put_tree(s3: Any, bucket: str, prefix: str, side: str) -> None:
    b = side == "b"
    files: dict[str, bytes] = {
        "dataset_metadata.json": b'{"dataset_identifier": 10000, "authors": ["A"]}',
        "run1/run_metadata.json": json.dumps(
            {
                "run_name": "TS_1",
                "voxel_spacing": 13.48 if b else 13.5,
                "nested": {"frames": 41},
                **({"new": 1} if b else {}),
            }
        ).encode(),
        "run1/annotation.yaml": b"object: ribosome\ncount: 12\n" if b else b"object: ribosome\ncount: 11\n",
        "run1/tiltseries.mdoc": b"[ZValue = 0]\nTiltAngle = -60\nExposure = 2.5\n"
        + (b"Dose = 3.1\n" if b else b"Dose = 3.0\n"),
        "run1/tomo.mrc": mrc(13.48 if b else 13.5),
        "run1/tomo.zarr/.zgroup": b'{"zarr_format": 2}',
        "run1/tomo.zarr/0/.zarray": json.dumps(ZARRAY).encode(),
        "run1/tomo.zarr/0/.zattrs": b'{"scale": 1}',
        "run1/keyphoto.png": b"\x89PNG" + (b"x" * (120 if b else 100)),
        "logs/job.log": f"ran at {side}\n".encode(),
        f"only_{side}.txt": b"here\n",
    }
    for n, chunk in enumerate(CHUNKS):
        files[chunk] = bytes([n]) * 64 if not (b and n in (1, 5, 6)) else bytes([n + 100]) * 64
    if b:
        files["run1/tomo.zarr/0/1.0.0"] = b"\x01" * 64  # a chunk only b has
    for key, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)


@pytest.fixture
def trees(aws: str) -> tuple[str, str]:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in ("cmp-branch", "cmp-staging"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    put_tree(s3, "cmp-staging", "10000/", "a")
    put_tree(s3, "cmp-branch", "out/10000/", "b")
    same = bytes(range(256)) * (12 * MIB // 256)
    assert multipart(s3, "cmp-staging", "10000/run1/frames.bin", same, 5 * MIB) != multipart(
        s3, "cmp-branch", "out/10000/run1/frames.bin", same, 6 * MIB
    )  # the same bytes, ETags that differ
    other = bytearray(same)
    other[-1] ^= 0xFF
    multipart(s3, "cmp-staging", "10000/run1/gains.bin", same, 5 * MIB)
    multipart(s3, "cmp-branch", "out/10000/run1/gains.bin", bytes(other), 6 * MIB)
    return "s3://cmp-staging/10000", "s3://cmp-branch/out/10000/"


def test_every_kind_of_difference_is_said_in_its_own_terms(
    trees: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_object_reads(monkeypatch)
    result = invoke("--json", "compare", "trees", *trees, "--exclude", "logs/*")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert (document["a"], document["b"], document["identical"]) == (
        "s3://cmp-staging/10000/", "s3://cmp-branch/out/10000/", False,
    )  # fmt: skip
    assert document["only_a"] == ["only_a.txt"]
    assert document["only_b"] == ["only_b.txt"]  # the chunk only b has is counted in its array, not listed
    changed = {item["key"]: item for item in document["changed"]}
    assert set(changed) == {
        "run1/run_metadata.json", "run1/annotation.yaml", "run1/tiltseries.mdoc", "run1/tomo.mrc",
        "run1/tomo.zarr/0", "run1/keyphoto.png", "run1/gains.bin",
    }  # fmt: skip
    assert changed["run1/run_metadata.json"]["kind"] == "json"
    assert changed["run1/run_metadata.json"]["diff"] == [
        {"field": "['new']", "a": None, "b": 1, "absent": "a"},
        {"field": "['voxel_spacing']", "a": 13.5, "b": 13.48},
    ]
    assert changed["run1/annotation.yaml"]["diff"] == [{"field": "['count']", "a": 11, "b": 12}]
    assert changed["run1/tiltseries.mdoc"]["kind"] == "text"
    assert "-Dose = 3.0" in changed["run1/tiltseries.mdoc"]["diff"]
    assert "+Dose = 3.1" in changed["run1/tiltseries.mdoc"]["diff"]
    header = changed["run1/tomo.mrc"]["diff"]["header"]
    assert header["voxel_size"] == [[13.5, 13.5, 13.5], [13.48, 13.48, 13.48]]
    assert "cella" in header
    assert "nx" not in header  # the shape is the same
    assert changed["run1/tomo.zarr/0"] == {
        "key": "run1/tomo.zarr/0", "size_a": None, "size_b": None, "kind": "zarr array",
        "diff": {"chunks": 9, "chunks_differ": 4},
    }  # fmt: skip
    assert changed["run1/keyphoto.png"]["diff"] == {"size": [104, 124]}
    assert changed["run1/gains.bin"] == {
        "key": "run1/gains.bin", "size_a": 12 * MIB, "size_b": 12 * MIB, "kind": "binary",
        "diff": {"size": [12 * MIB, 12 * MIB]},
    }  # fmt: skip
    # The same: the dataset's metadata, the zarr group's and array's metadata, 5 chunks, the multipart pair.
    assert document["counts"] == {"same": 10, "changed": 9, "only_a": 1, "only_b": 2}
    assert "logs/job.log" not in result.stdout  # excluded

    # What was read: the multipart pairs (their ETags cannot tell), the documents and text that differ, the MRC
    # headers (a ranged read); never an object whose size and ETag settle it, never a zarr chunk.
    read = {path.split("/", 2)[2].removeprefix("10000/") for path in reads}
    assert "run1/frames.bin" in read
    assert "run1/tomo.mrc" in read
    assert not any("tomo.zarr/0/0." in path for path in read)
    assert "dataset_metadata.json" not in read


def test_the_multipart_pair_with_the_same_bytes_is_the_same(trees: tuple[str, str]) -> None:
    document = json.loads(invoke("--json", "compare", "trees", *trees).stdout)
    assert "run1/frames.bin" not in {item["key"] for item in document["changed"]}


def test_a_person_reads_the_verdict_first_then_each_change(trees: tuple[str, str]) -> None:
    result = invoke("compare", "trees", *trees, "--exclude", "logs/*")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "a: s3://cmp-staging/10000/",
        "b: s3://cmp-branch/out/10000/",
        "they differ: 9 objects changed, 1 only in a, 2 only in b, 10 the same",
    ]
    text = result.stdout
    assert "  run1/tomo.zarr/0 (zarr array)\n    4 of 9 chunks differ" in text
    assert "    ['voxel_spacing']: 13.5 -> 13.48" in text
    assert "    voxel_size: [13.5, 13.5, 13.5] -> [13.48, 13.48, 13.48]" in text
    assert "    size: 104 -> 124 bytes" in text


def test_identical_trees_are_exit_0(aws: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="cmp-one", CreateBucketConfiguration={"LocationConstraint": REGION})
    for prefix in ("a/", "b/"):
        put_tree(s3, "cmp-one", prefix, "a")
    result = invoke("compare", "trees", "s3://cmp-one/a", "s3://cmp-one/b", "--exclude", "only_a.txt")
    assert result.exit_code == 0, result.output
    assert "identical: 18 objects, the same bytes" in result.stdout


def test_a_prefix_that_holds_nothing_is_said_and_two_are_an_error(aws: str) -> None:
    """Two mistyped prefixes are not 'identical': a regression check in CI must not pass on them."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="cmp-one", CreateBucketConfiguration={"LocationConstraint": REGION})
    put_tree(s3, "cmp-one", "a/", "a")
    neither = invoke("compare", "trees", "s3://cmp-one/typo", "s3://cmp-one/typo2")
    assert neither.exit_code == 2, neither.output
    assert neither.stderr == "error: nothing to compare: no object under s3://cmp-one/typo/ nor s3://cmp-one/typo2/\n"
    one = invoke("compare", "trees", "s3://cmp-one/a", "s3://cmp-one/typo")
    assert one.exit_code == 1, one.output
    assert one.stderr.splitlines()[0] == "warning: no object under s3://cmp-one/typo/: is the prefix right?"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("s3://Bad_Bucket/x", "s3://cmp-one/b"), "A: 'Bad_Bucket' is not valid"),
        (("s3://cmp-one/a", "s3://cmp-one/a/b"), "overlap"),
        (("s3://cmp-one/a", "s3://no-such-bucket-here/b"), "'no-such-bucket-here' does not exist"),
    ],
    ids=["bad-bucket", "overlap", "missing-bucket"],
)
def test_bad_trees_are_one_line(aws: str, args: tuple[str, str], says: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="cmp-one", CreateBucketConfiguration={"LocationConstraint": REGION})
    result = invoke("compare", "trees", *args)
    assert result.exit_code in {2, 3}, result.output
    assert says in result.stderr.splitlines()[0]


def test_a_tree_that_cannot_be_listed_ends_the_comparison_at_once(aws: str) -> None:
    """B's bucket does not exist while A's listings run ahead with full queues (a folder of more pages than are
    read ahead): the error is said, and no listing thread is left waiting for a reader."""
    import threading

    from moto.s3.models import s3_backends

    from tests.conftest import MOTO_ACCOUNT

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="cmp-big", CreateBucketConfiguration={"LocationConstraint": REGION})
    backend = s3_backends[MOTO_ACCOUNT]["global"]  # seeded directly: 5,000 PUTs would take a minute
    for folder in range(64):  # as many folders as the listing splits a tree into: each listed on its own
        for key in range(5000 if folder == 0 else 2):
            backend.put_object("cmp-big", f"p/f{folder:02}/k{key:05}", b"x")
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(invoke("compare", "trees", "s3://cmp-big/p", "s3://no-such-bucket-here/p")),
        daemon=True,
    )
    thread.start()
    thread.join(60)
    assert outcome, "compare trees still running 60 s after B could not be listed"
    assert outcome[0].exit_code == 3
    assert "'no-such-bucket-here' does not exist" in outcome[0].stderr


def test_an_endpoint_that_does_not_answer_is_named_without_the_request(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing's URL (bucket, query) is not the endpoint's: a person compares the endpoint with what they set."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = invoke("compare", "trees", "s3://bucket-a/x", "s3://bucket-b/y")
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[0] == "error: cannot reach AWS at http://127.0.0.1:1/"


def test_a_document_that_differs_only_in_formatting_says_so(aws: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="cmp-fmt", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="cmp-fmt", Key="a/meta.json", Body=b'{"x": 1}')
    s3.put_object(Bucket="cmp-fmt", Key="b/meta.json", Body=b'{"x":1}')
    result = invoke("compare", "trees", "s3://cmp-fmt/a", "s3://cmp-fmt/b")
    assert result.exit_code == 1, result.output  # the bytes differ
    assert "  meta.json (json)\n    the same fields and values: only the formatting differs" in result.stdout
