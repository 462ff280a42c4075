"""`enqueue source-validate`: validate the source data a dataset config describes, one job, on staging."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, ClassVar

import typer

from cryoet_release.completion import yaml_paths
from cryoet_release.kinds import JobSpec, Kind, Planning
from cryoet_release.names import Environment
from cryoet_release_plugins.enqueue.kinds.validate import validation_arguments

RAW_DATA_BUCKET = "cryoetportal-rawdatasets-dev"


@dataclass(frozen=True)
class SourceValidate(Kind):
    """Validate the source data of a dataset config. One job, on the staging state machine."""

    name: ClassVar[str] = "source-validate"
    wdl_key: ClassVar[str] = "validate_dataset-v0.0.2.wdl"
    memory: ClassVar[int] = 4000
    runs_on: ClassVar[Environment | None] = Environment.STAGING
    environment_help: ClassVar[str] = "Accepted as before, and changes nothing: source validation runs on staging."
    rank: ClassVar[int] = 40

    config_file: Annotated[
        str,
        typer.Argument(
            metavar="CONFIG_FILE", help="Dataset config file, as the job's image sees it.", autocompletion=yaml_paths
        ),
    ]
    input_bucket: Annotated[
        str, typer.Argument(metavar="INPUT_BUCKET", help="Bucket (and key prefix) holding the source data.")
    ] = RAW_DATA_BUCKET

    def __post_init__(self) -> None:
        from cryoet_release.models import BucketPath, validate_option

        validate_option(BucketPath, self.input_bucket, "INPUT_BUCKET")

    def jobs(self, planning: Planning) -> Sequence[JobSpec]:
        if planning.environment is not Environment.STAGING:
            planning.warn(
                f"source validation always runs on staging: --environment {planning.environment} changes nothing"
                " (as before)"
            )
        arguments = validation_arguments(
            dataset="",
            input_bucket=self.input_bucket,
            output_bucket=planning.config.environments[Environment.STAGING].bucket,
            output_dir="source_validation",
            config_file=self.config_file,
            flags="--no-multiprocessing",
            test_entity="source",
        )
        return [JobSpec(PurePosixPath(self.config_file).stem or self.config_file, arguments)]
