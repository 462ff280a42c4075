"""`enqueue queue`: standardize the runs a portal dataset config finds, one job per run (shared/queue/SPEC.md)."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer

from cryoet_release.completion import yaml_paths
from cryoet_release.kinds import ExtraOption, JobSpec, Kind, Planning
from cryoet_release.params import allows_empty
from cryoet_release_plugins.enqueue.dataset_configs.ingest import INGEST_OPTIONS, PANEL

# Options that also choose the runs (a match at the start of the name); each job gets exact ones for its own run.
FILTERS = ("filter_dataset_name", "exclude_dataset_name", "filter_run_name", "exclude_run_name")


def job_config_path(typed: str, cwd: Path) -> tuple[str, str | None]:
    """The config path the job gets (relative to ingestion_tools/scripts, where it runs in the image), and a
    warning when that cannot be worked out.

    In a portal checkout any path the user types is translated (run from ingestion_tools/scripts,
    `../dataset_configs/10000.yaml` stays as it is); elsewhere the path is sent as typed.
    """
    from cryoet_release.config_files import find_git_root

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


def _option_name(parameter: str) -> str:
    return "--" + parameter.replace("_", "-")


@dataclass(frozen=True)
class Queue(Kind):
    """Standardize the runs a dataset config finds. One job per run found in the input bucket."""

    name: ClassVar[str] = "queue"
    wdl_key: ClassVar[str] = "standardize_dirs.wdl-v0.0.1.wdl"
    memory: ClassVar[int] = 24000
    found_nothing_is_fine: ClassVar[bool] = True
    extra_options: ClassVar[Sequence[ExtraOption]] = INGEST_OPTIONS
    rank: ClassVar[int] = 20

    config_file: Annotated[
        str,
        typer.Argument(
            metavar="CONFIG_FILE",
            help="The dataset config (ingestion_tools/dataset_configs/*.yaml).",
            autocompletion=yaml_paths,
        ),
    ]
    input_bucket: Annotated[
        str, typer.Argument(metavar="INPUT_BUCKET", help="Bucket (and key prefix) holding the source data.")
    ]
    output_path: Annotated[
        str, typer.Argument(metavar="OUTPUT_PATH", help="Bucket (and key prefix) the standardized data goes to.")
    ]
    https_prefix: Annotated[
        str | None,
        typer.Option(
            parser=allows_empty,
            metavar="URL",
            help="HTTPS prefix the jobs write into metadata [default: the prod one; empty: the prod one, as before].",
        ),
    ] = None
    write_mrc: Annotated[bool, typer.Option(help="The jobs write MRC volumes.")] = True
    write_zarr: Annotated[bool, typer.Option(help="The jobs write Zarr volumes.")] = True
    force_overwrite: Annotated[bool, typer.Option("--force-overwrite", help="The jobs overwrite existing output.")] = (
        False
    )
    skip_until_run_name: Annotated[
        str | None,
        typer.Option(
            parser=allows_empty,
            metavar="REGEX",
            help="Skip runs until one whose name starts with a match, across datasets (empty: skip none, as before).",
        ),
    ] = None
    import_everything: Annotated[
        bool, typer.Option("--import-everything", help="Import everything.", rich_help_panel=PANEL)
    ] = False
    import_all_metadata: Annotated[
        bool,
        typer.Option("--import-all-metadata", help="Import the metadata of everything.", rich_help_panel=PANEL),
    ] = False

    def __post_init__(self) -> None:
        from cryoet_release.models import BucketPath, validate_option

        validate_option(BucketPath, self.input_bucket, "INPUT_BUCKET")
        validate_option(BucketPath, self.output_path, "OUTPUT_PATH")

    def reads_from_image(self, cwd: Path) -> Path | None:
        """In a portal checkout, the config the jobs read from their image is the user's file."""
        _, warning = job_config_path(self.config_file, cwd)
        return Path(os.path.abspath(cwd / self.config_file)) if warning is None else None

    def ingest_options(self, planning: Planning) -> dict[str, Any]:
        """The ingest options given, in the order of their first occurrence: option -> True, or its values."""
        names = {option.name.removeprefix("--").replace("-", "_"): option for option in INGEST_OPTIONS}
        given: dict[str, Any] = {}
        for parameter, value in planning.occurrences(list(names)):
            option = names[parameter]
            if option.takes_value:
                given.setdefault(option.name, []).append(value)
            else:
                given[option.name] = True
        return given

    def jobs(self, planning: Planning) -> Sequence[JobSpec]:
        from cryoet_release_plugins.enqueue.dataset_configs.config import load_config
        from cryoet_release_plugins.enqueue.dataset_configs.finders import discover_runs
        from cryoet_release_plugins.enqueue.dataset_configs.ingest import run_flags

        sent, warning = job_config_path(self.config_file, planning.cwd)
        if warning:
            planning.warn(warning)
        config = load_config(planning.cwd / self.config_file, name=self.config_file)
        given = self.ingest_options(planning)
        runs = discover_runs(
            config,
            self.input_bucket,
            self.output_path,
            planning.lookup.storage(),
            skip_until_run_name=self.skip_until_run_name,
            parallelism=planning.lookup.parallelism,
            **{name: given.get(_option_name(name), []) for name in FILTERS},
        )
        fixed = {"config_file": sent, "input_bucket": self.input_bucket, "output_path": self.output_path}
        return [
            JobSpec(
                f"{run.deposition}/{run.dataset}/{run.run}",
                {
                    **fixed,
                    "flags": run_flags(
                        https_prefix=self.https_prefix,
                        import_everything=self.import_everything,
                        import_all_metadata=self.import_all_metadata,
                        write_mrc=self.write_mrc,
                        write_zarr=self.write_zarr,
                        force_overwrite=self.force_overwrite,
                        options=list(given.items()),
                        dataset=run.dataset,
                        run=run.run,
                    ),
                },
                found_at=run.path,
            )
            for run in runs
        ]

    def nothing_found(self, planning: Planning) -> str:
        return f"no run found by {self.config_file} in s3://{self.input_bucket} with these filters"
