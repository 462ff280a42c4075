"""`compare queue` and `compare show` from command line to verdict, against the real emulator (moto server).

moto runs no WDL: its executions stay RUNNING. The sandbox's simulated jobs (cryoet_release_plugins.sandbox.jobs)
finish them and write what a standardization job writes, on the emulator's own state, as in `sandbox serve`. The one
fake is at the outermost boundary, the image's content: which image changes which output is given here (`HEAD`), as
the sandbox reads it from an image's `/sandbox-outputs.json` when a registry is at hand.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cryoet_release_plugins.sandbox.emulator import DATASET_CONFIG
from cryoet_release_plugins.sandbox.jobs import Rules, Runner
from tests.conftest import MOTO_ACCOUNT, REGION, invoke
from tests.portal import client, seed, started_inputs

SCRATCH = "s3://cmp-scratch/runs"
HEAD = {"tomogram_metadata": {"reconstruction_method": "SART"}, "array_offset": 1}


def jobs(rules: Rules, write: Callable[[str, bytes], None] | None = None) -> Iterator[Runner]:
    from moto.stepfunctions.models import stepfunctions_backends

    def to_s3(path: str, data: bytes) -> None:
        bucket, _, key = path.partition("/")
        client("s3").put_object(Bucket=bucket, Key=key, Body=data)

    def variation(image: str) -> Mapping[str, Any]:
        return HEAD if image.endswith(":head") else {}

    runner = Runner(stepfunctions_backends[MOTO_ACCOUNT][REGION], rules, write or to_s3, variation)
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture
def world(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The portal's staging with `main` and `head` images, two raw runs of dataset 10000, a scratch bucket, and the
    dataset config that finds those runs; the working folder is where the config is."""
    seed(tags=("main", "head"))
    s3 = client("s3")
    for run in ("TS_001", "TS_002"):
        s3.put_object(Bucket="cryoetportal-rawdatasets-dev", Key=f"sandbox/10000/{run}/{run}.mrc", Body=b"raw")
    s3.create_bucket(Bucket="cmp-scratch", CreateBucketConfiguration={"LocationConstraint": REGION})
    (tmp_path / "sandbox.yaml").write_text(DATASET_CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def running_jobs(world: Path) -> Iterator[Runner]:
    yield from jobs(Rules(duration=0.2))


def compare_queue(*args: str) -> Any:
    return invoke(
        "compare", "queue", "sandbox.yaml", "cryoetportal-rawdatasets-dev", "--scratch", SCRATCH,
        "--head", "head", "--interval", "1", *args,
    )  # fmt: skip


def test_two_images_are_run_and_what_differs_is_said(running_jobs: Runner, world: Path) -> None:
    result = compare_queue()
    assert result.exit_code == 1, result.output  # they differ
    out = result.stdout
    assert "they differ: 18 objects changed, 0 only in base, 0 only in head, 11 the same" in out
    for run in ("TS_001", "TS_002"):
        tomogram = f"{run}/Reconstructions/VoxelSpacing13.480/Tomograms/100"
        assert f'  {tomogram}/tomogram_metadata.json (json)\n    [\'reconstruction_method\']: "WBP" -> "SART"' in out
        assert f"  {tomogram}/{run}.zarr/0 (zarr array)\n    8 of 8 chunks differ" in out
    assert out.rstrip().splitlines()[-1].startswith("verdict: differences (10000: they differ:")
    inputs = started_inputs()
    assert len(inputs) == 4  # two runs, each on both images
    images = {name.split("-queue-")[0][-4:]: run["Input"]["Run"]["docker_image_id"] for name, run in inputs.items()}
    assert images == {
        "base": f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cryoet-staging:main",
        "head": f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cryoet-staging:head",
    }
    outputs = {run["Input"]["Run"]["output_path"] for run in inputs.values()}
    assert len(outputs) == 2
    assert all(o.startswith("cmp-scratch/runs/cmp-") for o in outputs)


def test_the_same_image_on_both_sides_is_no_difference(running_jobs: Runner, world: Path) -> None:
    result = compare_queue("--head", "main", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["identical"], document["failures"]) == (True, {"base": [], "head": []})


def test_a_job_that_failed_is_a_failure_and_never_a_difference(world: Path) -> None:
    for _ in jobs(Rules(fail=("*-head-queue-*TS_002*",), duration=0.2)):
        result = compare_queue("--head", "main")
    assert result.exit_code == 1, result.output
    assert "head job " in result.stdout
    assert "TS_002 FAILED: SandboxFailure (not compared)" in result.stdout
    assert "TS_002/" not in result.stdout.split("(not compared)", 1)[1]  # its run is left out of the comparison
    assert result.stdout.rstrip().splitlines()[-1] == "verdict: failures (1 job failed)"
    compare_id = re.search(r"comparison (cmp-\S+):", result.stderr)
    assert compare_id is not None, result.stderr
    document = json.loads(invoke("--json", "compare", "show", compare_id.group(1)).stdout)
    assert (document["identical"], document["verdict"]) == (False, "failed")


def test_no_wait_then_show(world: Path) -> None:
    submitted = compare_queue("--no-wait", "--json")
    assert submitted.exit_code == 0, submitted.output
    compare_id = json.loads(submitted.stdout)["compare"]
    waiting = invoke("compare", "show", compare_id, "--no-wait")  # moto leaves them RUNNING until jobs run
    assert waiting.exit_code == 0, waiting.output
    assert f"comparison {compare_id}: still running (base: RUNNING 2 · head: RUNNING 2)" in waiting.stdout
    for _ in jobs(Rules(duration=0.2)):
        shown = invoke("compare", "show", compare_id, "--interval", "1")
    assert shown.exit_code == 1, shown.output
    assert "verdict: differences" in shown.stdout
    assert invoke("--json", "status", f"{compare_id}-head").exit_code == 0  # an ordinary batch


def test_base_tree_runs_only_the_head(running_jobs: Runner, world: Path) -> None:
    first = json.loads(compare_queue("--head", "main", "--json").stdout)
    staging_like = first["base"]["tree"]  # what main produced, as staging would hold it
    result = compare_queue("--base-tree", f"s3://{staging_like}", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["base"]["batch"] is None
    assert sorted(c["key"].rsplit("/", 1)[-1] for c in document["datasets"][0]["changed"]) == [
        "0", "0", "tomogram_metadata.json", "tomogram_metadata.json",
    ]  # fmt: skip
    assert len(started_inputs()) == 4 + 2  # the first comparison's four, then the head's two only


def test_a_dry_run_prints_both_plans_and_submits_nothing(world: Path, tmp_path: Path) -> None:
    result = compare_queue("--dry-run", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["dry_run"] is True
    outputs = {side: {e["input"]["Input"]["Run"]["output_path"] for e in document[side]["executions"]} for side in
               ("base", "head")}  # fmt: skip
    root = document["scratch"].removeprefix("s3://")
    assert outputs == {"base": {f"{root}base"}, "head": {f"{root}head"}}
    assert [len(document[side]["executions"]) for side in ("base", "head")] == [2, 2]
    assert started_inputs() == {}
    assert not (tmp_path / "state" / "cryoet-release" / "compares").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--environment", "prod"), "error: compare queue runs on staging only"),
        (("--scratch", "s3://cryoet-data-portal-staging/tmp"), "is inside the staging data bucket"),
        (("--scratch", "s3://Bad_Bucket/x"), "error: scratch: 'Bad_Bucket' is not valid"),
    ],
    ids=["prod", "data-bucket", "bad-bucket"],
)
def test_a_comparison_never_writes_where_data_lives(world: Path, args: tuple[str, ...], says: str) -> None:
    result = compare_queue(*args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr.splitlines()[0]
    assert started_inputs() == {}


def test_without_a_scratch_tree_it_says_where_to_set_one(world: Path) -> None:
    result = invoke("compare", "queue", "sandbox.yaml", "cryoetportal-rawdatasets-dev", "--head", "head")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: compare queue needs a scratch tree for the two outputs",
        "Pass --scratch s3://bucket/prefix, or set compare.scratch in cryoet-release.toml",
    ]


def test_a_head_tag_that_is_not_there_submits_neither_side(world: Path, tmp_path: Path) -> None:
    result = compare_queue("--head", "nosuchtag")
    assert result.exit_code == 3, result.output
    assert "error: image tag not found" in result.stderr
    assert "cryoet-staging:nosuchtag" in result.stderr
    assert started_inputs() == {}  # the base was planned, not submitted
    assert invoke("--json", "batches").stdout.count('"batch"') == 0


def test_a_simulated_job_that_cannot_write_its_outputs_fails_and_never_stays_running(world: Path) -> None:
    submitted = compare_queue("--no-wait", "--json")
    assert submitted.exit_code == 0, submitted.output
    head = json.loads(submitted.stdout)["head"]["batch"]

    def refused(path: str, data: bytes) -> None:
        raise OSError("the bucket said no")

    deadline = time.monotonic() + 30
    for _ in jobs(Rules(duration=0.1), write=refused):
        while (states := json.loads(invoke("--json", "status", head).stdout)["counts"]).get("RUNNING"):
            assert time.monotonic() < deadline, states
            time.sleep(0.2)
    assert {state: count for state, count in states.items() if count} == {"FAILED": 2}
    failed = json.loads(invoke("--json", "status", head).stdout)["executions"][0]
    assert failed["error"] == "SandboxOutputs"


def test_without_a_branch_it_says_to_pass_head(world: Path) -> None:
    """The working folder is not a git repository: the head's tag cannot be the branch's."""
    result = invoke("compare", "queue", "sandbox.yaml", "cryoetportal-rawdatasets-dev", "--scratch", SCRATCH)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0].endswith("(detached HEAD or not a repository): pass --head")
    assert started_inputs() == {}
