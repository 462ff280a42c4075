"""The contract: the 45 command lines recorded by running the old enqueue_runs.py on a seeded emulator.

Each case is replayed against the real emulator seeded exactly as `world.json` says; the exit code and the multiset
of raw StartExecution inputs must equal the recording, byte for byte (the execution name written `{name}`, the
image account `{account}`). Where a case names a `rule`, it holds the deliberate difference (see
docs/migration.md).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import invoke

DATA = Path(__file__).parent.parent / "data" / "contract"
CASES = json.loads((DATA / "enqueue-cases.json").read_text())
WORLD = json.loads((DATA / "world.json").read_text())
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2},
    "layers": [],
}


def seed_world(world: dict[str, Any]) -> None:
    """Buckets and keys (public ones readable anonymously), ECR repositories and tags, state machines."""
    region = world["region"]
    s3 = boto3.client("s3", region_name=region)
    for bucket, objects in world["s3"].items():
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        acl = {"ACL": "public-read"} if bucket in world["public_read"] else {}
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), **acl)
    ecr = boto3.client("ecr", region_name=region)
    for repository, tags in world["ecr"].items():
        ecr.create_repository(repositoryName=repository)
        for tag in tags:
            manifest = dict(MANIFEST, annotations={"repository": repository, "tag": tag})
            ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    sfn = boto3.client("stepfunctions", region_name=region)
    for name, definition in world["state_machines"].items():
        role = f"arn:aws:iam::{world['account']}:role/swipe"
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)


def raw_inputs(world: dict[str, Any]) -> Counter[str]:
    """Every execution's input as the exact text Step Functions holds, with its name and image account written
    as the recording writes them."""
    sfn = boto3.client("stepfunctions", region_name=world["region"])
    found: Counter[str] = Counter()
    for machine in sfn.list_state_machines()["stateMachines"]:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
            for execution in page["executions"]:
                text = sfn.describe_execution(executionArn=execution["executionArn"])["input"]
                text = text.replace(f"/{execution['name']}/", "/{name}/")
                found[text.replace(f"{world['account']}.dkr.ecr.", "{account}.dkr.ecr.")] += 1
    return found


@pytest.fixture
def world(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seed_world(WORLD)
    config = tmp_path / "cryoet-release.toml"
    config.write_text(f'registry_account = "{WORLD["account"]}"\n')
    monkeypatch.setenv("CRYOET_RELEASE_CONFIG", str(config))
    return WORLD


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_the_same_command_line_queues_the_same_jobs(world: dict[str, Any], case: dict[str, Any]) -> None:
    args = list(case["args"])
    if "prod" in args:
        args.append("--yes")
    result = invoke("enqueue", *args)
    assert result.exit_code == case["exit"], result.output
    assert raw_inputs(world) == Counter(job["raw"] for job in case["jobs"])
    if case["exit"]:
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr  # the error and its hint, no traceback


def test_every_recorded_case_is_replayed() -> None:
    assert len(CASES) == 45
    assert len({case["case"] for case in CASES}) == 45
