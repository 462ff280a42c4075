"""Which runs `enqueue queue` queues, found from a portal dataset config as the portal's `enqueue_runs.py queue` does.

The rules are the old command's (shared/queue/SPEC.md, cited as §n), except where the queue rules Q1-Q5 differ: a
config, map file or found path the old command would crash on is refused up front (Q2), values forwarded in `flags`
are shell-quoted (Q4), and a run found twice is queued once (Q5). Pure: S3 is reached only through `Storage`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from cryoet_release.errors import UsageError
from cryoet_release_plugins.enqueue.dataset_configs.config import (
    LEVELS,
    DatasetConfig,
    DestinationGlob,
    LiteralNames,
    ParentFilters,
    Source,
    SourceGlob,
    SourceMultiGlob,
)
from cryoet_release_plugins.enqueue.dataset_configs.glob import Listings, Storage, glob
from cryoet_release_plugins.enqueue.dataset_configs.maps import check_map_files

# --- finders (§7) ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entity:
    """A found deposition, dataset or run; the name keeps its YAML type (deposition literals are integers)."""

    kind: str
    name: Any
    path: str | None
    parent: _Entity | None = None

    def variables(self) -> dict[str, Any]:
        """Its template variables and its ancestors' (§7.3)."""
        found = {f"{self.kind}_path": self.path, f"{self.kind}_name": self.name}
        with suppress(ValueError, TypeError):
            found[f"int_{self.kind}_name"] = int(self.name)
        return found | (self.parent.variables() if self.parent else {})

    def output_path(self, output_path: str) -> str:
        if self.kind == "deposition":
            return posixpath.join(output_path, f"depositions_metadata/{self.name}")
        return posixpath.join(output_path, str(self.name))


class _Finders:
    """The finders of one config, for one INPUT_BUCKET and OUTPUT_PATH, over shared listings."""

    def __init__(self, config: DatasetConfig, input_bucket: str, output_path: str, listings: Listings) -> None:
        self.config = config
        self.root = f"{input_bucket}/{config.settings.source_prefix}"
        self.output_path = output_path
        self.listings = listings

    def find(self, kind: str, parent: _Entity | None = None) -> list[_Entity]:
        """Entities of `kind`, entry by entry and source by source; `parent` is the one entity passed (§6)."""
        variables = {"output_path": self.output_path}
        if parent is not None:
            variables |= parent.variables() | {f"{parent.kind}_output_path": parent.output_path(self.output_path)}
        found = []
        for e, entry in enumerate(self.config.finders[kind]):
            for s, source in enumerate(entry.sources):
                where = f"{self.config.file}: {LEVELS[kind]}[{e}].sources[{s}]"
                if not _admits(source.parent_filters, parent):
                    continue
                for name, path in self._results(source, variables, where).items():
                    if any(re.match(pattern, str(name)) for pattern in source.exclude):
                        continue
                    if isinstance(path, str) and path.endswith("metadata.json"):
                        raise UsageError(
                            f"{where} found {path}: a metadata file cannot be a {kind}; exclude it in that source"
                        )
                    named = self._run_name_from(path, where) if kind == "run" and not name else name
                    found.append(_Entity(kind, named, path, parent))
        return found

    def _results(self, source: Source, variables: Mapping[str, Any], where: str) -> dict[Any, str | None]:
        finder = source.finder
        if isinstance(finder, LiteralNames):
            return dict(finder.value) if isinstance(finder.value, dict) else dict.fromkeys(finder.value)
        if isinstance(finder, SourceGlob):  # and DestinationGlob
            pattern = _expand(finder.list_glob, variables, where)
            if not isinstance(finder, DestinationGlob):
                pattern = posixpath.join(self.root, pattern)
            return self._named(self._glob(pattern, where), finder, where)
        if isinstance(finder, SourceMultiGlob):
            patterns = [posixpath.join(self.root, _expand(each, variables, where)) for each in finder.list_globs]
            return {path: path for pattern in patterns for path in self._glob(pattern, where)}
        raise UsageError(f"{where}: destination_filter finds metadata files, which cannot be depositions/datasets/runs")

    def _glob(self, pattern: str, where: str) -> list[str]:
        try:
            return glob(pattern, self.listings)
        except ValueError as error:
            raise UsageError(f"{where}: {error}") from None

    @staticmethod
    def _named(paths: list[str], finder: SourceGlob, where: str) -> dict[Any, str | None]:
        match, name_regex = re.compile(finder.match_regex or ".*"), re.compile(finder.name_regex or "(.*)")
        named: dict[Any, str | None] = {}
        for path in paths:
            if not match.search(path):
                continue
            found = name_regex.match(posixpath.basename(path))
            if found is None:
                raise UsageError(f"{where}: name_regex {name_regex.pattern!r} does not match {path}")
            named[found[1]] = path  # a later path of the same name keeps the first one's place
        return named

    def _run_name_from(self, path: str | None, where: str) -> str:
        regex = self.config.settings.run_name_regex
        found = re.match(regex, posixpath.basename(path)) if regex and path else None
        if regex is None or found is None or re.compile(regex).groups < 1 or found[1] is None:
            raise UsageError(
                f"{where}: a run found without a name ({path}) needs standardization_config.run_name_regex, "
                f"with a group, matching its basename (it is {regex!r})"
            )
        return found[1]


def _admits(filters: ParentFilters, parent: _Entity | None) -> bool:
    """parent_filters (§7.1): searched anywhere in the parent's name; names are compared as text."""
    if parent is None:
        return True
    name = str(parent.name)
    if any(re.search(pattern, name) for pattern in filters.exclude.get(parent.kind, [])):
        return False
    include = filters.include.get(parent.kind)
    return not include or any(re.search(pattern, name) for pattern in include)


def _expand(template: str, variables: Mapping[str, Any], where: str) -> str:
    """`str.format` of a list_glob (§7.3)."""
    try:
        return template.format(**variables)
    except KeyError as error:
        raise UsageError(
            f"{where}: {template!r} uses {{{error.args[0]}}}, which is not available here "
            f"(available: {', '.join(sorted(variables))})"
        ) from None
    except (IndexError, ValueError, AttributeError, TypeError) as error:
        raise UsageError(f"{where}: cannot expand {template!r}: {error}") from None


# --- the main loop (§6) ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundRun:
    deposition: str
    dataset: str
    run: str
    path: str | None
    """Where the run was found; None for a name given literally."""


def discover_runs(
    config: DatasetConfig,
    input_bucket: str,
    output_path: str,
    storage: Storage,
    *,
    filter_dataset_name: Sequence[str] = (),
    exclude_dataset_name: Sequence[str] = (),
    filter_run_name: Sequence[str] = (),
    exclude_run_name: Sequence[str] = (),
    skip_until_run_name: str | None = None,
    parallelism: int = 20,
) -> list[FoundRun]:
    """The runs to queue, in the old command's order, each once (Q5). Raises UsageError before anything is queued.

    Every regex matches at the start of a name. The runs of different datasets are found concurrently; the filters
    (skip-until spans datasets) are then applied in order.
    """
    if parallelism < 1:
        raise UsageError("--parallelism must be at least 1")
    keep_dataset = _name_filter(filter_dataset_name, exclude_dataset_name, "dataset")
    keep_run = _name_filter(filter_run_name, exclude_run_name, "run")
    skip_until = None if skip_until_run_name is None else _compiled([skip_until_run_name], "--skip-until-run-name")[0]
    check_map_files(config, input_bucket, storage)

    # Two pools: the run finders of the datasets wait on listings, which only the listing pool makes.
    with (
        ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="listing") as listing_pool,
        ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="finder") as finder_pool,
    ):
        finders = _Finders(config, input_bucket, output_path, Listings(storage, listing_pool))
        datasets = [
            dataset
            for deposition in finders.find("deposition")
            for dataset in finders.find("dataset", deposition)
            if keep_dataset(str(dataset.name))
        ]
        # In dataset order: the first dataset whose discovery fails is the one reported, as the old loop would.
        runs_by_dataset = list(finder_pool.map(lambda dataset: finders.find("run", dataset), datasets))

    queued: dict[tuple[str, str, str], FoundRun] = {}
    for dataset, runs in zip(datasets, runs_by_dataset, strict=True):
        for run in runs:
            name = str(run.name)
            if skip_until is not None:
                if not skip_until.match(name):
                    continue
                skip_until = None  # for the rest of the command, not per dataset
            if keep_run(name):
                found = FoundRun(str(dataset.parent.name) if dataset.parent else "", str(dataset.name), name, run.path)
                queued.setdefault((found.deposition, found.dataset, found.run), found)
    return list(queued.values())


def _compiled(patterns: Sequence[str], option: str) -> list[re.Pattern[str]]:
    try:
        return [re.compile(pattern) for pattern in patterns]
    except re.error as error:
        raise UsageError(f"{option}: {error.pattern!r} is not a regular expression: {error}") from None


def _name_filter(filters: Sequence[str], excludes: Sequence[str], kind: str) -> Callable[[str], bool]:
    """Excluded if any exclude matches; else kept if no filter is given or one matches (§6)."""
    keep = _compiled(filters, f"--filter-{kind}-name")
    drop = _compiled(excludes, f"--exclude-{kind}-name")

    def keeps(name: str) -> bool:
        if any(pattern.match(name) for pattern in drop):
            return False
        return not keep or any(pattern.match(name) for pattern in keep)

    return keeps
