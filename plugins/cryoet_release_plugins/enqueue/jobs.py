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
from cryoet_release_plugins.options import MAX_PARALLELISM

# Step Functions' limit on the size of an execution input, in bytes (UTF-8).
MAX_INPUT_BYTES = 262_144
NAME_LIMIT = 80
_NOT_IN_NAME = re.compile(r"[^0-9A-Za-z_-]+")

# The importer's own --import-* flags (db_import.py), in declaration order.
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
    """What every enqueue subcommand takes, validated; defaults are resolved by the command, not here."""

    environment: Environment
    ecr_repo: RepositoryName
    ecr_tag: ImageTag
    tag_defaulted: bool = False
    """No --ecr-tag was given: the jobs run `main`, whatever branch the user is on."""
    memory: int = Field(ge=128, le=786_432, description="MB per job")
    parallelism: int = Field(ge=1, le=MAX_PARALLELISM)
    swipe_wdl_key: str = Field(min_length=1, max_length=1024)
    pin_digest: bool
    skip_image_check: bool
    dry_run: bool
    yes: bool
    batch: str | None
    ledger_dir: Path | None


class DatasetSelection(_Options):
    """Which datasets of a bucket, as the old script selects them."""

    s3_prefix: str = ""
    include_dataset: list[DatasetId] = []
    filter_datasets: list[Pattern[str]] = []
    exclude_dataset: list[Pattern[str]] = []

    def keeps(self, dataset_id: str) -> bool:
        """Regexes match at the start of the id (Python's re.match), as the old script's do."""
        if self.filter_datasets and not any(p.match(dataset_id) for p in self.filter_datasets):
            return False
        return not any(p.match(dataset_id) for p in self.exclude_dataset)


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
    found_at: str | None = None
    """Where discovery found what the job is for (shown by --dry-run)."""


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


# --- job arguments per subcommand -----------------------------------------------------------------------------


def importer_flags(given: Sequence[tuple[str, Any]]) -> list[str]:
    """The importer's options as the old script's `to_args` writes them: in command-line order, a flag as
    `--name`, each value of a repeatable option as `--name value`; false and empty ones left out."""
    flags: list[str] = []
    for name, value in given:
        option = f"--{name.replace('_', '-')}"
        if value is True:
            flags.append(option)
        elif isinstance(value, list | tuple):
            flags += [f"{option} {item}" for item in value]
        elif value:
            flags.append(f"{option} {value}")
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


def shell_quote(text: str) -> str:
    """Single-quoted for the shell, an embedded ' written '"'"' (the sync WDL runs its flags through a shell)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def sync_flags(filters: Sequence[tuple[str, str]], *, delete: bool, dryrun: bool) -> str:
    """`--delete`, `--dryrun`, then the filters: ('include' | 'exclude', pattern) in command-line order, the order
    in which aws s3 sync applies them."""
    parts = [*(["--delete"] if delete else []), *(["--dryrun"] if dryrun else [])]
    parts += [f"--{kind} {shell_quote(pattern)}" for kind, pattern in filters]
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
    test_entity: str,
    config_file: str = "",
    flags: str = "",
) -> dict[str, Any]:
    """validate (a dataset, test_entity `standardized`) and source-validate (a config file, `source`)."""
    return {
        "dataset": dataset,
        "input_bucket": input_bucket,
        "output_bucket": output_bucket,
        "output_dir": output_dir,
        "extra_args": "",
        "config_file": config_file,
        "flags": flags,
        "test_entity": test_entity,
    }
