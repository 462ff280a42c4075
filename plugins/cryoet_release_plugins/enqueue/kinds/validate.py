"""`enqueue validate`: validate standardized datasets, one job per dataset id, always on the staging state machine."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import typer

from cryoet_release.kinds import JobSpec, Kind, Planning
from cryoet_release.names import Environment


def validation_arguments(
    *, dataset: str, input_bucket: str, output_bucket: str, output_dir: str, test_entity: str, config_file: str = "",
    flags: str = "",
) -> dict[str, str]:  # fmt: skip
    """The validation WDL's arguments (validate: a dataset, test_entity `standardized`; source-validate: a config
    file, `source`)."""
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


@dataclass(frozen=True)
class Validate(Kind):
    """Validate standardized datasets. One job per id; reports go to <env>_validation in the staging bucket."""

    name: ClassVar[str] = "validate"
    wdl_key: ClassVar[str] = "validate_dataset-v0.0.2.wdl"
    memory: ClassVar[int] = 4000
    runs_on: ClassVar[Environment | None] = Environment.STAGING
    environment_help: ClassVar[str] = "Whose bucket's datasets to validate (the jobs always run on staging)."
    rank: ClassVar[int] = 30

    dataset_ids: Annotated[
        list[str], typer.Argument(metavar="DATASET_ID...", help="Dataset ids to validate.", show_default=False)
    ]

    def __post_init__(self) -> None:
        from cryoet_release.models import DatasetId, validate_option

        for dataset in self.dataset_ids:
            validate_option(DatasetId, dataset, "DATASET_ID")

    def bucket(self, planning: Planning) -> str:
        return planning.config.environments[planning.environment].bucket

    def jobs(self, planning: Planning) -> Sequence[JobSpec]:
        """One job per id whose folder is in the bucket, with or without a dataset_metadata.json: validating a
        malformed dataset is the point (a missing folder is a warning)."""
        bucket = self.bucket(planning)
        arguments = {
            "input_bucket": bucket,
            "output_bucket": planning.config.environments[Environment.STAGING].bucket,
            "output_dir": f"{planning.environment}_validation",
            "test_entity": "standardized",
        }
        found = planning.lookup.folders(bucket, self.dataset_ids)
        return [JobSpec(dataset, validation_arguments(dataset=dataset, **arguments)) for dataset in found]

    def nothing_found(self, planning: Planning) -> str:
        return f"none of {', '.join(self.dataset_ids)} is a folder in s3://{self.bucket(planning)}/"
