"""`enqueue db-import`: import datasets into the portal's database, one job per dataset."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import typer

from cryoet_release.kinds import ExtraOption, JobSpec, Kind, Planning
from cryoet_release.params import allows_empty
from cryoet_release_plugins.enqueue.kinds.selection import DatasetOptions

# The importer's own --import-* flags (db_import.py), in its declaration order. Each one given is passed on.
IMPORTER_FLAGS = (
    "annotations", "annotation-authors", "annotation-method-links", "dataset-authors", "dataset-funding",
    "depositions", "runs", "alignments", "gains", "identified-objects", "frames", "frame-acquisition-files",
    "tiltseries", "tomograms", "tomogram-authors", "tomogram-voxel-spacing", "everything",
)  # fmt: skip


def _imports(flag: str) -> str:
    if flag == "everything":
        return "every kind of metadata"
    return flag.replace("-", " ").replace("tiltseries", "tilt series")


@dataclass(frozen=True)
class DbImport(DatasetOptions, Kind):
    """Import datasets into the portal's database. One job per dataset; the importer runs the ingestor image."""

    name: ClassVar[str] = "db-import"
    wdl_key: ClassVar[str] = "db_import-v0.0.3.wdl"
    memory: ClassVar[int] = 4000
    images: ClassVar[dict[str, str]] = {"docker_image_id": "ingestor", "v2_docker_image_id": "apiv2"}
    rank: ClassVar[int] = 10
    extra_options: ClassVar[Sequence[ExtraOption]] = tuple(
        ExtraOption(f"--import-{flag}", f"The importer imports {_imports(flag)} (its own flag).", panel="Import")
        for flag in IMPORTER_FLAGS
    )

    s3_bucket: Annotated[
        str | None,
        typer.Option(
            parser=allows_empty,
            metavar="BUCKET",
            help="Bucket to import from [default: the environment's bucket; empty: the default too, as before].",
        ),
    ] = None
    https_prefix: Annotated[
        str | None,
        typer.Option(
            parser=allows_empty,
            metavar="URL",
            help="HTTPS prefix of that bucket [default: the environment's; empty: the default too, as before].",
        ),
    ] = None
    debug: Annotated[bool, typer.Option(help="Pass --debug to the importer.")] = True
    deposition_id: Annotated[
        list[str] | None, typer.Option(metavar="ID", help="Import this deposition (repeatable).")
    ] = None
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="The importer reads the bucket anonymously (and so do the checks).")
    ] = False

    def __post_init__(self) -> None:
        from cryoet_release.models import DepositionId, validate_option

        super().__post_init__()
        for deposition in self.deposition_id or []:
            validate_option(DepositionId, deposition, "deposition-id")

    def bucket(self, planning: Planning) -> str:
        from cryoet_release.models import BucketName, validate_option

        if self.s3_bucket:
            return str(validate_option(BucketName, self.s3_bucket, "s3-bucket"))
        return planning.config.environments[planning.environment].bucket

    def jobs(self, planning: Planning) -> list[JobSpec]:
        bucket = self.bucket(planning)
        https_prefix = self.https_prefix or planning.config.environments[planning.environment].https_prefix
        # The importer's options as the old script's `to_args` wrote them: in the order of their first appearance
        # on the command line, a flag as `--name`, each deposition as `--deposition-id <id>`.
        forwarded = [*(f"import_{flag.replace('-', '_')}" for flag in IMPORTER_FLAGS), "deposition_id", "anonymous"]
        flags = []
        for name in planning.given_in_order(forwarded):
            if name == "deposition_id":
                flags += [f"--deposition-id {deposition}" for deposition in self.deposition_id or []]
            else:
                flags.append(f"--{name.replace('_', '-')}")
        datasets = planning.lookup.datasets(bucket, self.selection(), unsigned=self.anonymous)
        return [
            JobSpec(
                dataset,
                {
                    "s3_bucket": bucket,
                    "https_prefix": https_prefix,
                    "flags": " ".join([*flags, f"--s3-prefix {dataset}", *(["--debug"] if self.debug else [])]),
                    "environment": planning.environment,
                    "v2_docker_image_id": planning.images["v2_docker_image_id"],
                },
            )
            for dataset in datasets
        ]

    def nothing_found(self, planning: Planning) -> str:
        return f"no dataset matches the selection in s3://{self.bucket(planning)}/{self.s3_prefix}"
