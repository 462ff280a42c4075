"""Seed the AWS emulator like the portal's account (test-side boto3 only: the tool's own calls live in aws.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGION = "us-west-2"
STAGING_DATASETS = ("10000", "10001", "1052", "10521")  # hold dataset_metadata.json
NOT_A_DATASET = "20002"  # a prefix without dataset_metadata.json
DEPOSITIONS = ("10300", "10301")
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2},
    "layers": [],
}
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def seed(*, environments: tuple[str, ...] = ("staging", "prod"), tags: tuple[str, ...] = ("main",)) -> dict[str, str]:
    """Buckets, datasets, depositions, swipe buckets, state machines and images; returns digests by repository."""
    s3 = client("s3")
    region = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    for bucket in ("cryoet-data-portal-staging", "cryoet-data-portal-public", "cryoetportal-rawdatasets-dev"):
        s3.create_bucket(Bucket=bucket, **region)
    for dataset in STAGING_DATASETS:
        s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{dataset}/dataset_metadata.json", Body=b"{}")
        s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{dataset}/run1/run_metadata.json", Body=b"{}")
    s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{NOT_A_DATASET}/notes.txt", Body=b"")
    s3.put_object(Bucket="cryoet-data-portal-public", Key="10000/dataset_metadata.json", Body=b"{}")
    for deposition in DEPOSITIONS:
        key = f"depositions_metadata/{deposition}/deposition_metadata.json"
        s3.put_object(Bucket="cryoet-data-portal-staging", Key=key, Body=b"{}")

    sfn = client("stepfunctions")
    for environment in environments:
        s3.create_bucket(Bucket=f"cryoet-{environment}-swipe-comms", **region)
        s3.create_bucket(Bucket=f"cryoet-{environment}-swipe-wdl", **region)
        sfn.create_state_machine(
            name=f"cryoet-ingestion-{environment}-default-wdl",
            definition=PASS_MACHINE,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/swipe",
        )

    ecr = client("ecr")
    digests = {}
    for repository in ("cryoet-staging", "apiv2-x86"):
        ecr.create_repository(repositoryName=repository)
        for tag in tags:
            manifest = dict(MANIFEST, annotations={"repository": repository, "tag": tag})
            image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
            digests[f"{repository}:{tag}"] = image["image"]["imageId"]["imageDigest"]
    return digests


def state_machine_arn(environment: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:cryoet-ingestion-{environment}-default-wdl"


def started_inputs(environment: str = "staging") -> dict[str, dict[str, Any]]:
    """Every execution of the environment's state machine, read back: name -> parsed input."""
    sfn = client("stepfunctions")
    found = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn(environment)):
        for execution in page["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            found[described["name"]] = json.loads(described["input"])
    return found


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


def raw_inputs(world: dict[str, Any], *, with_machine: bool = False) -> Counter[str]:
    """Every execution's input as the exact text Step Functions holds, with its name and image account written
    as the recording writes them (and, `with_machine`, its state machine's name and a space before it)."""
    sfn = boto3.client("stepfunctions", region_name=world["region"])
    found: Counter[str] = Counter()
    for machine in sfn.list_state_machines()["stateMachines"]:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
            for execution in page["executions"]:
                text = sfn.describe_execution(executionArn=execution["executionArn"])["input"]
                text = text.replace(f"/{execution['name']}/", "/{name}/")
                text = text.replace(f"{world['account']}.dkr.ecr.", "{account}.dkr.ecr.")
                found[f"{machine['name']} {text}" if with_machine else text] += 1
    return found
