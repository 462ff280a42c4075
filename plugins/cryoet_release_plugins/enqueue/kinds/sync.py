"""`enqueue sync`: copy datasets and depositions between buckets, one `aws s3 sync` job per dataset and deposition."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import typer

from cryoet_release.kinds import JobSpec, Kind, Planning
from cryoet_release.names import Environment
from cryoet_release.params import allows_empty
from cryoet_release_plugins.enqueue.kinds.selection import DatasetOptions


def shell_quote(text: str) -> str:
    """Single-quoted for the shell, an embedded ' written '"'"' (the sync WDL runs its flags through a shell)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass(frozen=True)
class Sync(DatasetOptions, Kind):
    """Copy datasets and depositions between buckets. One aws s3 sync job per dataset and deposition."""

    name: ClassVar[str] = "sync"
    wdl_key: ClassVar[str] = "sync-v0.0.1.wdl"
    memory: ClassVar[int] = 4000
    rank: ClassVar[int] = 50

    input_bucket: Annotated[
        str | None, typer.Option(metavar="BUCKET", help="Bucket to sync from [default: the staging bucket].")
    ] = None
    output_bucket: Annotated[
        str | None, typer.Option(metavar="BUCKET", help="Bucket to sync to [default: the prod bucket].")
    ] = None
    include: Annotated[
        list[str] | None,
        typer.Option(parser=allows_empty, metavar="PATTERN", help="aws s3 sync --include pattern (order kept)."),
    ] = None
    exclude: Annotated[
        list[str] | None,
        typer.Option(parser=allows_empty, metavar="PATTERN", help="aws s3 sync --exclude pattern (order kept)."),
    ] = None
    delete_files: Annotated[
        bool, typer.Option("--delete-files", help="Pass --delete: remove files absent from the input.")
    ] = False
    dryrun: Annotated[
        bool, typer.Option("--dryrun", help="Each job runs `aws s3 sync --dryrun` (jobs ARE submitted).")
    ] = False
    include_deposition: Annotated[
        list[str] | None, typer.Option(metavar="ID", help="Also sync depositions_metadata/<ID> (repeatable).")
    ] = None
    sync_dataset: Annotated[bool, typer.Option(help="Sync the selected datasets (off: depositions only).")] = True

    def __post_init__(self) -> None:
        from cryoet_release.models import BucketName, DepositionId, validate_option

        super().__post_init__()
        for deposition in self.include_deposition or []:
            validate_option(DepositionId, deposition, "include-deposition")
        for option, bucket in (("input-bucket", self.input_bucket), ("output-bucket", self.output_bucket)):
            if bucket is not None:
                validate_option(BucketName, bucket, option)

    def buckets(self, planning: Planning) -> tuple[str, str]:
        environments = planning.config.environments
        return (
            self.input_bucket or environments[Environment.STAGING].bucket,
            self.output_bucket or environments[Environment.PROD].bucket,
        )

    def jobs(self, planning: Planning) -> Sequence[JobSpec]:
        if self.dryrun and not planning.dry_run:
            planning.warn(
                "--dryrun: the jobs ARE submitted, and each runs `aws s3 sync --dryrun` (copies nothing);"
                " --dry-run would submit nothing"
            )
        input_bucket, output_bucket = self.buckets(planning)
        # --delete and --dryrun first, then the filters in command-line order: aws s3 sync applies them so.
        flags = [*(["--delete"] if self.delete_files else []), *(["--dryrun"] if self.dryrun else [])]
        flags += [f"--{kind} {shell_quote(pattern)}" for kind, pattern in planning.occurrences(["include", "exclude"])]
        paths = planning.lookup.datasets(input_bucket, self.selection()) if self.sync_dataset else []
        if self.include_deposition:
            depositions = planning.lookup.depositions(input_bucket, self.include_deposition)
            paths += [f"depositions_metadata/{deposition}" for deposition in depositions]
        return [
            JobSpec(
                path,
                {
                    "input_bucket": input_bucket,
                    "input_path": path,
                    "output_bucket": output_bucket,
                    "output_path": path,
                    "flags": " ".join(flags),
                },
            )
            for path in paths
        ]

    def nothing_found(self, planning: Planning) -> str:
        prefix = self.s3_prefix if self.sync_dataset else "depositions_metadata/"
        return f"no dataset or deposition matches the selection in s3://{self.buckets(planning)[0]}/{prefix}"
