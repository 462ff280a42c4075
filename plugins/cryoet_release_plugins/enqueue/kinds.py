"""The kinds of enqueue jobs: what each one looks up, and the WDL arguments of each of its jobs.

A command builds one of these from its validated options; the planner asks it for the jobs. Data flows one way:
nothing here calls back into a command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from cryoet_release.config import find_git_root
from cryoet_release_plugins.enqueue import jobs
from cryoet_release_plugins.enqueue.datasets import Finder
from cryoet_release_plugins.enqueue.jobs import DatasetSelection, JobSpec
from cryoet_release_plugins.enqueue.runs import AwsStorage, DatasetConfig, discover_runs


class Kind(Protocol):
    @property
    def name(self) -> str:
        """The subcommand: part of execution names, and the key of its defaults."""
        ...

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
        """One spec per job; `images` are the resolved references by role (docker_image_id, ...)."""
        ...

    def nothing_found(self) -> str:
        """Why a selection found nothing, naming where it looked."""
        ...

    @property
    def reads_from_image(self) -> Path | None:
        """A file of the user's that the jobs read from their image instead (queue's dataset config), to compare
        with the revision the image was built from; None for the kinds that read nothing so."""
        ...

    @property
    def found_nothing_is_fine(self) -> bool:
        """True: finding nothing ends the command with a warning and exit 0 (as the old `queue` did); False: it
        is a usage error (exit 2)."""
        ...


def _where(bucket: str, prefix: str = "") -> str:
    return f"s3://{bucket}/{prefix}"


@dataclass(frozen=True)
class DbImport:
    bucket: str
    https_prefix: str
    environment: str
    selection: DatasetSelection
    flags: Sequence[str]
    """The importer's options before the per-dataset `--s3-prefix` (see jobs.importer_flags)."""
    debug: bool
    anonymous: bool
    name: str = "db-import"
    found_nothing_is_fine: bool = False
    reads_from_image: None = None

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
        datasets = finder.datasets(self.bucket, self.selection, unsigned=self.anonymous)
        return [
            JobSpec(
                dataset,
                jobs.db_import_arguments(
                    dataset,
                    s3_bucket=self.bucket,
                    https_prefix=self.https_prefix,
                    environment=self.environment,
                    flags=self.flags,
                    debug=self.debug,
                    v2_image=images["v2_docker_image_id"],
                ),
            )
            for dataset in datasets
        ]

    def nothing_found(self) -> str:
        return f"no dataset matches the selection in {_where(self.bucket, self.selection.s3_prefix)}"


@dataclass(frozen=True)
class Sync:
    input_bucket: str
    output_bucket: str
    selection: DatasetSelection | None
    """None: sync no dataset (--no-sync-dataset)."""
    depositions: Sequence[str]
    flags: str
    name: str = "sync"
    found_nothing_is_fine: bool = False
    reads_from_image: None = None

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
        paths = []
        if self.selection is not None:
            paths += finder.datasets(self.input_bucket, self.selection)
        if self.depositions:
            paths += [f"depositions_metadata/{d}" for d in finder.depositions(self.input_bucket, self.depositions)]
        arguments = {"input_bucket": self.input_bucket, "output_bucket": self.output_bucket, "flags": self.flags}
        return [JobSpec(path, jobs.sync_arguments(path, **arguments)) for path in paths]

    def nothing_found(self) -> str:
        prefix = self.selection.s3_prefix if self.selection else "depositions_metadata/"
        return f"no dataset or deposition matches the selection in {_where(self.input_bucket, prefix)}"


@dataclass(frozen=True)
class Validate:
    datasets: Sequence[str]
    input_bucket: str
    output_bucket: str
    output_dir: str
    name: str = "validate"
    found_nothing_is_fine: bool = False
    reads_from_image: None = None

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
        """Only ids that are datasets in the input bucket (a missing one is a warning), as db-import checks them."""
        found = finder.datasets(self.input_bucket, DatasetSelection(include_dataset=list(self.datasets)))
        return [
            JobSpec(
                dataset,
                jobs.validate_arguments(
                    dataset,
                    input_bucket=self.input_bucket,
                    output_bucket=self.output_bucket,
                    output_dir=self.output_dir,
                    test_entity="standardized",
                ),
            )
            for dataset in found
        ]

    def nothing_found(self) -> str:
        return f"none of {', '.join(self.datasets)} is a dataset in s3://{self.input_bucket}/"


@dataclass(frozen=True)
class SourceValidate:
    config_file: str
    input_bucket: str
    output_bucket: str
    name: str = "source-validate"
    found_nothing_is_fine: bool = False
    reads_from_image: None = None

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
        arguments = jobs.validate_arguments(
            "",
            input_bucket=self.input_bucket,
            output_bucket=self.output_bucket,
            output_dir="source_validation",
            config_file=self.config_file,
            flags="--no-multiprocessing",
            test_entity="source",
        )
        return [JobSpec(PurePosixPath(self.config_file).stem or self.config_file, arguments)]

    def nothing_found(self) -> str:
        return "no config file given"


@dataclass(frozen=True)
class Queue:
    """One standardization job per run that the dataset config's finders find (see runs.py)."""

    config: DatasetConfig
    config_file: str
    """As the job's image sees it: relative to ingestion_tools/scripts, where the job runs."""
    input_bucket: str
    output_path: str
    run_flags: Callable[[str, str], str]
    """(dataset, run) -> the job's `flags`."""
    filters: Mapping[str, Sequence[str]]
    """filter_dataset_name, exclude_dataset_name, filter_run_name, exclude_run_name -> regexes."""
    skip_until_run_name: str | None
    reads_from_image: Path | None = None
    name: str = "queue"
    found_nothing_is_fine: bool = True

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
        runs = discover_runs(
            self.config,
            self.input_bucket,
            self.output_path,
            AwsStorage(finder.aws),
            skip_until_run_name=self.skip_until_run_name,
            parallelism=finder.parallelism,
            **self.filters,
        )
        arguments = {
            "config_file": self.config_file,
            "input_bucket": self.input_bucket,
            "output_path": self.output_path,
        }
        return [
            JobSpec(
                f"{run.deposition}/{run.dataset}/{run.run}",
                {**arguments, "flags": self.run_flags(run.dataset, run.run)},
                found_at=run.path,
            )
            for run in runs
        ]

    def nothing_found(self) -> str:
        return f"no run found by {self.config_file} in s3://{self.input_bucket} with these filters"


def job_config_path(typed: str, cwd: Path) -> tuple[str, str | None]:
    """The config path the job gets (relative to ingestion_tools/scripts, where it runs in the image), and a
    warning when that cannot be worked out.

    In a portal checkout any path the user types is translated (run from ingestion_tools/scripts,
    `../dataset_configs/10000.yaml` stays as it is); elsewhere the path is sent as typed.
    """
    root = find_git_root(cwd)
    scripts = root / "ingestion_tools" / "scripts" if root else None
    if scripts is None or not scripts.is_dir():
        return typed, (
            f"not in a portal checkout: the jobs get {typed!r} as typed, and read it relative to"
            " ingestion_tools/scripts in the image"
        )
    sent = os.path.relpath(os.path.normpath(cwd / typed), scripts)
    if not os.path.normpath(scripts / sent).startswith(str(root) + os.sep):
        return sent, f"{typed} is outside the checkout at {root}: the image will not have it"
    return sent, None
