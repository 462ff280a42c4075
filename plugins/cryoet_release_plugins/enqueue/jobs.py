"""What a batch of Step Functions jobs is: validated options, execution names, and the input contract.

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
from pathlib import Path
from re import Pattern
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cryoet_release.models import DatasetId, Environment, ImageTag, RepositoryName

# Step Functions' limit on the size of an execution input, in bytes (UTF-8).
MAX_INPUT_BYTES = 262_144
NAME_LIMIT = 80
_NOT_IN_NAME = re.compile(r"[^0-9A-Za-z_-]+")

# The importer's own --import-* flags, in the order they are written into `flags`.
IMPORT_FLAGS = (
    "annotations",
    "annotation-authors",
    "annotation-method-links",
    "dataset-authors",
    "dataset-funding",
    "depositions",
    "runs",
    "alignments",
    "gains",
    "identified-objects",
    "frames",
    "frame-acquisition-files",
    "tiltseries",
    "tomograms",
    "tomogram-authors",
    "tomogram-voxel-spacing",
    "everything",
)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommonOptions(_Options):
    environment: Environment = Environment.STAGING
    ecr_repo: RepositoryName = "cryoet-staging"
    ecr_tag: ImageTag = "main"
    memory: int = Field(default=4000, ge=128, le=786_432, description="MB per job")
    parallelism: int = Field(default=20, ge=1, le=256)
    swipe_wdl_key: str = Field(min_length=1, max_length=1024)
    pin_digest: bool = False
    skip_image_check: bool = False
    batch: str | None = None
    ledger_dir: Path | None = None


class DatasetSelection(_Options):
    s3_prefix: str = ""
    include_dataset: list[DatasetId] = []
    filter_datasets: list[Pattern[str]] = []
    exclude_dataset: list[Pattern[str]] = []

    def keeps(self, dataset_id: str) -> bool:
        """Include ids are exact (1052 is never 10521); regexes must match the whole id."""
        if self.include_dataset and dataset_id not in self.include_dataset:
            return False
        if self.filter_datasets and not any(p.fullmatch(dataset_id) for p in self.filter_datasets):
            return False
        return not any(p.fullmatch(dataset_id) for p in self.exclude_dataset)

    @property
    def prefix(self) -> str:
        """The S3 prefix under which datasets are listed: '' or ending in '/'."""
        stripped = self.s3_prefix.strip("/")
        return f"{stripped}/" if stripped else ""


@dataclass(frozen=True)
class Target:
    """Where the jobs of one batch go, resolved against AWS before anything is submitted."""

    region: str
    state_machine_arn: str
    comms_bucket: str
    wdl_bucket: str


@dataclass(frozen=True)
class JobSpec:
    """One job before its name and input are fixed: a key unique in the batch, and its WDL arguments."""

    key: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Job:
    key: str
    name: str
    document: str
    """The StartExecution input, serialised once so that size checks and submission see the same bytes."""

    @property
    def size(self) -> int:
        return len(self.document.encode())


def new_batch_id(now: datetime | None = None) -> str:
    """UTC time plus a short random part: sortable, and unique even for two runs in one second."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


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
    jobs = []
    for spec in specs:
        name = execution_name(batch, kind, spec.key)
        document = sfn_input(target, image=image, arguments=spec.arguments, name=name, wdl_key=wdl_key, memory=memory)
        jobs.append(Job(key=spec.key, name=name, document=json.dumps(document, separators=(",", ":"))))
    return jobs


def oversized(jobs: Sequence[Job]) -> list[Job]:
    return [job for job in jobs if job.size > MAX_INPUT_BYTES]


# --- job arguments per subcommand -----------------------------------------------------------------------------


def db_import_flags(imports: Sequence[str], deposition_ids: Sequence[str], *, anonymous: bool) -> list[str]:
    """The importer's command line up to (not including) the per-dataset `--s3-prefix` and `--debug`."""
    flags = [f"--import-{name}" for name in IMPORT_FLAGS if name in imports]
    flags += [f"--deposition-id {deposition}" for deposition in deposition_ids]
    if anonymous:
        flags.append("--anonymous")
    return flags


def db_import_arguments(
    dataset_id: str,
    *,
    s3_bucket: str,
    https_prefix: str,
    environment: str,
    flags: Sequence[str],
    debug: bool,
    v2_image: str,
) -> dict[str, Any]:
    command = [*flags, f"--s3-prefix {dataset_id}", *(["--debug"] if debug else [])]
    return {
        "s3_bucket": s3_bucket,
        "https_prefix": https_prefix,
        "flags": " ".join(command),
        "environment": environment,
        "v2_docker_image_id": v2_image,
    }


def quote(pattern: str) -> str:
    """Single-quote for the shell, as the sync WDL passes flags through one."""
    return "'" + pattern.replace("'", "'\"'\"'") + "'"


def sync_flags(filters: Sequence[tuple[str, str]], *, delete: bool, dryrun: bool) -> str:
    """`filters` are ('include' | 'exclude', pattern) in command-line order: aws s3 sync applies them in order."""
    parts = [f"--{kind} {quote(pattern)}" for kind, pattern in filters]
    if delete:
        parts.append("--delete")
    if dryrun:
        parts.append("--dryrun")
    return " ".join(parts)


def sync_arguments(path: str, *, input_bucket: str, output_bucket: str, flags: str) -> dict[str, Any]:
    return {
        "input_bucket": input_bucket,
        "input_path": path,
        "output_bucket": output_bucket,
        "output_path": path,
        "flags": flags,
    }


def validate_arguments(
    dataset: str,
    *,
    input_bucket: str,
    output_bucket: str,
    output_dir: str,
    extra_args: str,
    config_file: str,
    flags: str,
    test_entity: str,
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "input_bucket": input_bucket,
        "output_bucket": output_bucket,
        "output_dir": output_dir,
        "extra_args": extra_args,
        "config_file": config_file,
        "flags": flags,
        "test_entity": test_entity,
    }
