"""What exists in S3 to queue jobs for, found as the old enqueue_runs.py finds it: datasets, depositions, folders,
and the listings a dataset config's finders walk. Kinds reach it through `Planning.lookup`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from re import Pattern
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from cryoet_release import aws as cloud
from cryoet_release.errors import AccessDenied
from cryoet_release.models import DatasetId

if TYPE_CHECKING:
    from cryoet_release.aws import Aws


class DatasetSelection(BaseModel):
    """Which datasets of a bucket, as the old script selects them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    s3_prefix: str = ""
    include_dataset: list[DatasetId] = []
    filter_datasets: list[Pattern[str]] = []
    exclude_dataset: list[Pattern[str]] = []

    def keeps(self, dataset_id: str) -> bool:
        """Regexes match at the start of the id (Python's re.match), as the old script's do."""
        if self.filter_datasets and not any(p.match(dataset_id) for p in self.filter_datasets):
            return False
        return not any(p.match(dataset_id) for p in self.exclude_dataset)


class Lookup:
    """Looks things up in S3 with `parallelism` concurrent requests; `warn` hears what the user should know."""

    def __init__(self, aws: Aws, parallelism: int, warn: Callable[[str], None]) -> None:
        self.aws = aws
        self.parallelism = parallelism
        self.warn = warn

    def _each(self, check: Callable[[str], bool], items: Sequence[str]) -> list[bool]:
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            return list(pool.map(check, items))

    def existing(self, bucket: str, keys: Sequence[str], *, unsigned: bool = False) -> list[bool]:
        """Whether each key exists (concurrent HEAD requests). Raises ResourceNotFound when it is the bucket that
        is missing: a HEAD's 404 does not say which (one listing does, asked only when a key is missing)."""
        try:
            found = self._each(lambda key: cloud.object_exists(self.aws, bucket, key, unsigned=unsigned), keys)
            if not all(found):
                cloud.folder_exists(self.aws, bucket, "", unsigned=unsigned)
        except AccessDenied as error:
            if unsigned:
                raise AccessDenied(
                    f"S3 bucket {bucket!r} refuses anonymous access, which --anonymous needs",
                    hint="Drop --anonymous, or import from a public bucket (--s3-bucket)",
                ) from None
            raise AccessDenied(f"S3 bucket {bucket!r}: {error.message}") from None
        return found

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

    def folders(self, bucket: str, names: Sequence[str]) -> list[str]:
        """The names (in order, once each) that are folders of the bucket, whatever they hold; a missing one is a
        warning."""
        wanted = list(dict.fromkeys(names))
        try:
            present = self._each(lambda name: cloud.folder_exists(self.aws, bucket, f"{name}/"), wanted)
        except AccessDenied as error:
            raise AccessDenied(f"S3 bucket {bucket!r}: {error.message}") from None
        missing = [name for name, ok in zip(wanted, present, strict=True) if not ok]
        if missing:
            self.warn(f"not queued: no folder {', '.join(missing)} in s3://{bucket}/")
        return [name for name, ok in zip(wanted, present, strict=True) if ok]

    def storage(self) -> S3Storage:
        """The listings and reads a dataset config's finders make."""
        return S3Storage(self.aws)


class S3Storage:
    """One level of listing, every key under a prefix, one object: over S3, counting the requests made."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.calls = 0
        self._lock = threading.Lock()

    def list_level(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        directories, keys, calls = cloud.list_level(self.aws, bucket, prefix)
        self._count(calls)
        return directories, keys

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys, calls = cloud.list_keys(self.aws, bucket, prefix)
        self._count(calls)
        return keys

    def read(self, bucket: str, key: str) -> bytes | None:
        self._count(1)
        return cloud.read_object(self.aws, bucket, key)

    def _count(self, calls: int) -> None:
        with self._lock:
            self.calls += calls
