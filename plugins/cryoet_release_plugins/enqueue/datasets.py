"""What exists in S3 to queue jobs for: datasets and depositions, found as the old enqueue_runs.py finds them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cryoet_release import aws as cloud
from cryoet_release.errors import AccessDenied
from cryoet_release_plugins.enqueue.jobs import DatasetSelection


@dataclass(frozen=True)
class Finder:
    """Looks things up in S3 with `parallelism` concurrent requests; `warn` hears what the user should know."""

    aws: cloud.Aws
    parallelism: int
    warn: Callable[[str], None]

    def existing(self, bucket: str, keys: Sequence[str], *, unsigned: bool = False) -> list[bool]:
        """Whether each key exists (concurrent HEAD requests)."""
        try:
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                return list(pool.map(lambda key: cloud.object_exists(self.aws, bucket, key, unsigned=unsigned), keys))
        except AccessDenied as error:
            if unsigned:
                raise AccessDenied(
                    f"S3 bucket {bucket!r} refuses anonymous access, which --anonymous needs",
                    hint="Drop --anonymous, or import from a public bucket (--s3-bucket)",
                ) from None
            raise AccessDenied(f"S3 bucket {bucket!r}: {error.message}") from None

    def datasets(self, bucket: str, selection: DatasetSelection, *, unsigned: bool = False) -> list[str]:
        """Dataset ids that hold a dataset_metadata.json.

        `--include-dataset` ids are exact (1052 never means 10521) and a missing one is a warning. Otherwise the
        bucket is listed with `--s3-prefix` as a plain string prefix and Delimiter '/', and a dataset id is the
        common prefix without its '/' (`--s3-prefix test/` finds `test/20000`).
        """
        if selection.include_dataset:
            candidates = {dataset: f"{dataset}/" for dataset in dict.fromkeys(selection.include_dataset)}
        else:
            prefixes, _ = cloud.list_subprefixes(self.aws, bucket, selection.s3_prefix, unsigned=unsigned)
            candidates = {prefix.strip("/"): prefix for prefix in prefixes}
        kept = {dataset: prefix for dataset, prefix in candidates.items() if selection.keeps(dataset)}
        present = self.existing(
            bucket, [f"{prefix}dataset_metadata.json" for prefix in kept.values()], unsigned=unsigned
        )
        found = [dataset for dataset, ok in zip(kept, present, strict=True) if ok]
        missing = [dataset for dataset in selection.include_dataset if dataset in kept and dataset not in found]
        if missing:
            self.warn(f"not queued: no dataset_metadata.json for {', '.join(missing)} in s3://{bucket}/")
        return found

    def depositions(self, bucket: str, ids: Sequence[str]) -> list[str]:
        """The deposition ids (exact) that hold depositions_metadata/<id>/deposition_metadata.json."""
        wanted = list(dict.fromkeys(ids))
        present = self.existing(bucket, [f"depositions_metadata/{d}/deposition_metadata.json" for d in wanted])
        missing = [d for d, ok in zip(wanted, present, strict=True) if not ok]
        if missing:
            where = f"s3://{bucket}/depositions_metadata/"
            self.warn(f"not queued: no deposition_metadata.json for {', '.join(missing)} in {where}")
        return [d for d, ok in zip(wanted, present, strict=True) if ok]
