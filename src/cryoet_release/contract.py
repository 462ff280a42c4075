"""The Step Functions contract the running WDLs read (DESIGN.md): execution names and the exact input of each job.

Pure functions only: nothing here talks to AWS, so the contract can be read (and tested) in one place.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryoet_release.kinds import JobSpec

# Step Functions' limit on the size of an execution input, in bytes (UTF-8).
MAX_INPUT_BYTES = 262_144
NAME_LIMIT = 80
_NOT_IN_NAME = re.compile(r"[^0-9A-Za-z_-]+")


@dataclass(frozen=True)
class Target:
    """Where the jobs of one batch go, resolved against AWS before anything is submitted."""

    region: str
    state_machine_arn: str
    comms_bucket: str
    wdl_bucket: str


@dataclass(frozen=True)
class Job:
    key: str
    name: str
    document: str
    """The StartExecution input, serialised once so that size checks and submission see the same bytes."""
    found_at: str | None = None

    @property
    def size(self) -> int:
        return len(self.document.encode())


def new_batch_id(now: datetime | None = None) -> str:
    """UTC time plus a short random part: sortable, and unique even for two runs in one second."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def execution_name(batch: str, kind: str, key: str) -> str:
    """`<batch>-<kind>-<key>` as a valid, deterministic execution name of at most 80 characters.

    When the plain form would be changed (characters replaced, or truncated) a short hash of the plain form is
    appended, so that two different jobs never end up with the same name.
    """
    plain = f"{batch}-{kind}-{key}"
    cleaned = _NOT_IN_NAME.sub("-", plain)
    if cleaned == plain and len(plain) <= NAME_LIMIT:
        return plain
    digest = hashlib.sha256(plain.encode()).hexdigest()[:10]
    return f"{cleaned[: NAME_LIMIT - len(digest) - 1]}-{digest}"


def attempt_name(name: str, attempt: int) -> str:
    """The execution name of a job's later attempt: `<first name>-r<n>`, at most 80 characters (a short hash of
    the first name replaces its end when it is too long), deterministic."""
    suffix = f"-r{attempt}"
    if len(name) + len(suffix) <= NAME_LIMIT:
        return name + suffix
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: NAME_LIMIT - len(suffix) - len(digest) - 1]}-{digest}{suffix}"


def attempt_input(document: str, name: str, new_name: str) -> str:
    """The input of a later attempt: the same, but for the output prefix, which is the execution's own."""
    parsed = json.loads(document)
    parsed["OutputPrefix"] = parsed["OutputPrefix"].replace(f"/{name}/", f"/{new_name}/")
    return json.dumps(parsed)


def sfn_input(
    target: Target, *, image: str, arguments: Mapping[str, Any], name: str, wdl_key: str, memory: int
) -> dict[str, Any]:
    """The StartExecution input the running WDLs read. It must not drift: see DESIGN.md."""
    return {
        "Input": {"Run": {"aws_region": target.region, "docker_image_id": image, **arguments}},
        "OutputPrefix": f"s3://{target.comms_bucket}/swipe/swipe-job-output/{name}/results",
        "RUN_WDL_URI": f"s3://{target.wdl_bucket}/{wdl_key}",
        "RunEC2Memory": memory,
        "RunEC2Vcpu": 1,
        "RunSPOTMemory": memory,
        "RunSPOTVcpu": 1,
        "StateMachineArn": target.state_machine_arn,
    }


def make_jobs(
    specs: Sequence[JobSpec], target: Target, *, batch: str, kind: str, image: str, wdl_key: str, memory: int
) -> list[Job]:
    """Name each job and serialise its input as the old script did: `json.dumps` with its default separators."""
    jobs = []
    for spec in specs:
        name = execution_name(batch, kind, spec.key)
        document = sfn_input(target, image=image, arguments=spec.arguments, name=name, wdl_key=wdl_key, memory=memory)
        jobs.append(Job(key=spec.key, name=name, document=json.dumps(document), found_at=spec.found_at))
    return jobs


def oversized(jobs: Sequence[Job]) -> list[Job]:
    return [job for job in jobs if job.size > MAX_INPUT_BYTES]
