"""The kinds of enqueue jobs: what each one looks up, and the WDL arguments of each of its jobs.

A command builds one of these from its validated options; the planner asks it for the jobs. Data flows one way:
nothing here calls back into a command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from cryoet_release_plugins.enqueue import jobs
from cryoet_release_plugins.enqueue.discover import Finder
from cryoet_release_plugins.enqueue.jobs import DatasetSelection, JobSpec


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

    def specs(self, finder: Finder, images: Mapping[str, str]) -> list[JobSpec]:
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
            for dataset in dict.fromkeys(self.datasets)
        ]

    def nothing_found(self) -> str:
        return "no dataset id given"


@dataclass(frozen=True)
class SourceValidate:
    config_file: str
    input_bucket: str
    output_bucket: str
    name: str = "source-validate"

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
