"""Which runs `enqueue queue` queues, found from a portal dataset config as the portal's `enqueue_runs.py queue` does.

The rules are the old command's (shared/queue/SPEC.md, cited as §n), except where the queue rules Q1-Q5 differ: a
config, map file or found path the old command would crash on is refused up front (Q2), values forwarded in `flags`
are shell-quoted (Q4), and a run found twice is queued once (Q5). Pure: S3 is reached only through `Storage`.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice, takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from cryoet_release.errors import UsageError
from cryoet_release.models import validation_problems

if TYPE_CHECKING:
    from cryoet_release.aws import Aws

# --- the dataset config (§4) --------------------------------------------------------------------------------------


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
    return pattern


def _names_with_a_group(pattern: str) -> str:
    if pattern and re.compile(pattern).groups < 1:
        raise ValueError(f"{pattern!r} has no group: the name is what its first (...) matches")
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
NameRegex = Annotated[str, AfterValidator(_compiles), AfterValidator(_names_with_a_group)]
Name = str | int | float


class _Strict(BaseModel):
    # The finder keys are passed to the portal's finders as keyword arguments: an unknown one was a TypeError.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceGlob(_Strict):
    list_glob: str
    match_regex: Regex | None = None
    name_regex: NameRegex | None = None


class DestinationGlob(SourceGlob):
    match_regex: Regex | None
    name_regex: NameRegex | None


class SourceMultiGlob(_Strict):
    list_globs: list[str]


class LiteralNames(_Strict):
    value: list[Name] | dict[Name, str | None]


class ParentFilters(_Strict):
    include: dict[str, list[Regex]] = {}
    exclude: dict[str, list[Regex]] = {}


FINDER_KEYS = ("source_glob", "source_multi_glob", "destination_glob", "literal", "destination_filter")


class Source(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None
    destination_glob: DestinationGlob | None = None
    literal: LiteralNames | None = None
    destination_filter: Any = None
    exclude: list[Regex] = []
    parent_filters: ParentFilters = ParentFilters()

    @model_validator(mode="before")
    @classmethod
    def _first_truthy_finder(cls, data: Any) -> Any:
        """The first finder key with a truthy value is the one used; the others are ignored, valid or not (§7.2)."""
        if not isinstance(data, dict):
            return data
        chosen = next((key for key in FINDER_KEYS if data.get(key)), None)
        if chosen is None:
            raise ValueError(f"no finder: a source needs one of {', '.join(FINDER_KEYS)}")
        return {key: value for key, value in data.items() if key not in FINDER_KEYS or key == chosen}

    @property
    def finder(self) -> object:
        return next(getattr(self, key) for key in FINDER_KEYS if getattr(self, key) is not None)


class Entry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sources: list[Source] = []


class StandardizationConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    source_prefix: str
    run_to_tomo_map_csv: str | None = None
    run_to_frame_map_csv: str | None = None
    run_to_ts_map_csv: str | None = None
    run_data_map_file: str | None = None
    run_name_regex: Regex | None = None

    @model_validator(mode="after")
    def _every_regex_compiles(self) -> StandardizationConfig:
        # The portal compiles every setting whose key contains "regex" when it loads the config.
        for key, value in (self.model_extra or {}).items():
            if "regex" in key:
                if not isinstance(value, str):
                    raise ValueError(f"{key}: a regular expression must be text")
                _compiles(value)
        return self


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    standardization_config: StandardizationConfig
    depositions: list[Entry] | None = None
    datasets: list[Entry] | None = None
    runs: list[Entry] | None = None

    @field_validator("depositions", "datasets", "runs", mode="before")
    @classmethod
    def _falsy_is_absent(cls, value: Any) -> Any:
        return value or None


LEVELS = {"deposition": "depositions", "dataset": "datasets", "run": "runs"}


@dataclass(frozen=True)
class DatasetConfig:
    """What discovery reads of a dataset config: its settings and the finders of the first three levels."""

    file: str
    settings: StandardizationConfig
    finders: Mapping[str, Sequence[Entry]]
    """deposition | dataset | run -> its entries (none: nothing is found at that level)."""


def load_config(path: str | Path) -> DatasetConfig:
    """Read and check a dataset config. Raises UsageError naming the file and the key at fault."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such dataset config") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read the dataset config: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise UsageError(f"{path}: not valid YAML{line}: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a dataset config (its top level is not a mapping)")
    try:
        parsed = _ConfigFile.model_validate(data)
    except ValidationError as error:
        problems = validation_problems(error)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UsageError(f"{path}: {problems[0][0]}: {problems[0][1]}{more}") from None
    finders = {level: tuple(getattr(parsed, plural) or ()) for level, plural in LEVELS.items()}
    return DatasetConfig(str(path), parsed.standardization_config, finders)


# --- storage ------------------------------------------------------------------------------------------------------


class Storage(Protocol):
    def list_level(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        """One level under `prefix` (ListObjectsV2 with Delimiter '/'): the directories (common prefixes, each ending
        in '/') and the object keys that have no '/' after `prefix`."""
        ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """Every object key under `prefix` (no delimiter)."""
        ...

    def read(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes; None when there is no such key."""
        ...


class AwsStorage:
    """`Storage` over S3, counting the S3 requests it makes (one per listing page or read)."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.calls = 0
        self._lock = threading.Lock()

    def list_level(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        from cryoet_release import aws as cloud

        directories, keys, calls = cloud.list_level(self.aws, bucket, prefix)
        self._count(calls)
        return directories, keys

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        from cryoet_release import aws as cloud

        keys, calls = cloud.list_keys(self.aws, bucket, prefix)
        self._count(calls)
        return keys

    def read(self, bucket: str, key: str) -> bytes | None:
        from cryoet_release import aws as cloud

        self._count(1)
        return cloud.read_object(self.aws, bucket, key)

    def _count(self, calls: int) -> None:
        with self._lock:
            self.calls += calls


Level = tuple[list[str], list[str]]
_T = TypeVar("_T")


class Listings:
    """The S3 listings of one discovery, each made once: by (bucket, prefix, delimiter), shared by every finder.

    Threads asking for the same listing at once wait for the one that makes it. With a `pool`, the listings asked
    for together (the directories of one level) are made concurrently in it; the pool only ever runs listings, so a
    finder thread waiting on them cannot starve it.
    """

    def __init__(self, storage: Storage, pool: Executor | None = None) -> None:
        self.storage = storage
        self.pool = pool
        self._lock = threading.Lock()
        self._levels: dict[tuple[str, str], Future[Level]] = {}
        self._keys: dict[tuple[str, str], Future[list[str]]] = {}

    def levels(self, bucket: str, prefixes: Sequence[str]) -> list[Level]:
        """The level under each prefix (delimiter '/'), in the order asked."""
        futures = [self._once(self._levels, (bucket, prefix), self._level) for prefix in prefixes]
        return [future.result() for future in futures]

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted (no delimiter); a listing of a shorter prefix answers it."""
        with self._lock:
            covering = next((p for (b, p) in self._keys if b == bucket and prefix.startswith(p)), None)
        future = self._once(self._keys, (bucket, prefix if covering is None else covering), self._all_keys)
        keys = future.result()
        below = islice(keys, bisect_left(keys, prefix), None)
        return list(takewhile(lambda key: key.startswith(prefix), below))

    def _level(self, bucket: str, prefix: str) -> Level:
        return self.storage.list_level(bucket, prefix)

    def _all_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(self.storage.list_keys(bucket, prefix))

    def _once(
        self, cache: dict[tuple[str, str], Future[_T]], key: tuple[str, str], make: Callable[[str, str], _T]
    ) -> Future[_T]:
        with self._lock:
            future = cache.get(key)
            if future is not None:
                return future
            future = cache[key] = Future()

        def run() -> None:
            try:
                future.set_result(make(*key))
            except BaseException as error:
                future.set_exception(error)  # for every thread waiting on it
                raise

        if self.pool is None:
            run()
            return future
        try:
            self.pool.submit(run)
        except RuntimeError as error:  # a pool shut down: nobody would ever set the result
            future.set_exception(error)
        return future


# --- glob (§8: s3fs/fsspec semantics, walked level by level) ---------------------------------------------------------

_MAGIC = re.compile(r"[*?\[]")


def glob(pattern: str, listings: Listings) -> list[str]:
    """The paths (`bucket/key`, no trailing `/`) that s3fs's glob returns for `pattern`, sorted.

    As s3fs does for a pattern without `**`, the tree is walked one level per component with delimiter listings, but
    only into the directories that can still match; a `**` pattern lists every key under its fixed leading part.
    Raises ValueError for a pattern s3fs refuses.
    """
    path = pattern.removeprefix("s3://")
    dirs_only = path.endswith("/")
    path = path.rstrip("/")
    bucket, _, key = path.partition("/")
    if "" in path.split("/"):
        return []  # s3fs never yields an empty path component
    magic = _MAGIC.search(path)
    if magic is None:  # the path itself, if it is an object or a non-empty directory
        ((directories, files),) = listings.levels(bucket, [key])
        exists = bool(directories or files) if not key else f"{key}/" in directories or key in files
        return [path] if exists else []
    if "/" not in path[: magic.start()]:
        raise ValueError(f"glob {pattern!r}: the bucket name cannot hold a wildcard")
    root = path[: path.rindex("/", 0, magic.start()) + 1]
    parts = path[len(root) :].split("/")
    if any("**" in part and part != "**" for part in parts):
        raise ValueError(f"glob {pattern!r}: '**' can only be a whole path component")
    if "**" in parts:
        return _glob_listing_everything(path, root, bucket, dirs_only, listings)
    return _walk(bucket, root[len(bucket) + 1 :], parts, dirs_only, listings)


def _walk(bucket: str, root: str, parts: list[str], dirs_only: bool, listings: Listings) -> list[str]:
    """The paths below the key prefix `root` whose components match `parts`, one level at a time."""
    found: set[str] = set()
    prefixes = [root]
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if _MAGIC.search(part) is None:
            if not last:  # a directory named exactly so: no need to list its parent
                prefixes = [f"{prefix}{part}/" for prefix in prefixes]
                continue
            # Only the names that start with it: the entry itself, as a directory or as an object.
            named = [f"{prefix}{part}" for prefix in prefixes]
            for name, (directories, files) in zip(named, listings.levels(bucket, named), strict=True):
                if f"{name}/" in directories or (not dirs_only and name in files):
                    found.add(f"{bucket}/{name}")
            break
        matches = _part_regex(part).fullmatch
        below = []
        for prefix, (directories, files) in zip(prefixes, listings.levels(bucket, prefixes), strict=True):
            # A folder placeholder `x/` is listed as the directory `x`; a key equal to the prefix is no child.
            below += [d for d in directories if (name := d[len(prefix) : -1]) and matches(name)]
            if last and not dirs_only:
                found.update(f"{bucket}/{f}" for f in files if (name := f[len(prefix) :]) and matches(name))
        if last:
            found.update(f"{bucket}/{d[:-1]}" for d in below)
        prefixes = below
        if not prefixes:
            break
    return sorted(found)


def _glob_listing_everything(path: str, root: str, bucket: str, dirs_only: bool, listings: Listings) -> list[str]:
    """A `**` pattern: every key under the root, and every directory they imply, matched as whole paths."""
    prefix = root[len(bucket) + 1 :]
    keys = listings.keys(bucket, prefix)
    regex = glob_regex(path + ("/" if dirs_only else ""))
    slash_dirs = dirs_only or path.endswith("/**")
    candidates: dict[str, bool] = {root.rstrip("/"): True} if keys else {}
    for found in keys:
        if not found.endswith("/"):  # a folder placeholder `x/` only makes `x` a directory
            candidates.setdefault(f"{bucket}/{found}", False)
        slash = found.find("/", len(prefix))
        while slash != -1:
            candidates[f"{bucket}/{found[:slash]}"] = True
            slash = found.find("/", slash + 1)
    return [
        name for name in sorted(candidates) if regex.fullmatch(name + "/" if slash_dirs and candidates[name] else name)
    ]


@lru_cache(maxsize=1024)
def _part_regex(part: str) -> re.Pattern[str]:
    """What one name must match for one path component (a component that is exactly `*` needs a character)."""
    return re.compile("[^/]+" if part == "*" else _component_regex(part), re.DOTALL)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression a whole path must match (fsspec's glob_translate, with `/` as the only separator)."""
    parts = pattern.split("/")
    regex = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if part == "*":
            regex.append("[^/]+" if last else "[^/]+/")
            continue
        if part == "**":
            regex.append(".*" if last else "(?:.+/)?")
            continue
        if "**" in part:
            raise ValueError(f"glob {pattern!r}: '**' can only be a whole path component")
        regex.append(_component_regex(part))
        if not last:
            regex.append("/")
    return re.compile("".join(regex), re.DOTALL)


def _component_regex(part: str) -> str:
    regex: list[str] = []
    i = 0
    while i < len(part):
        char = part[i]
        i += 1
        if char == "*":
            if not regex or regex[-1] != "[^/]*":
                regex.append("[^/]*")
        elif char == "?":
            regex.append("[^/]")
        elif char == "[":
            end = i + 1 if part[i : i + 1] == "!" else i
            end = end + 1 if part[end : end + 1] == "]" else end
            end = part.find("]", end)
            if end == -1:
                regex.append(r"\[")
            else:
                regex.append(_bracket_regex(part[i:end]))
                i = end + 1
        else:
            regex.append(re.escape(char))
    return "".join(regex)


def _bracket_regex(inside: str) -> str:
    """A `[...]` class as Python's glob translates it: `!` negates, ranges kept, reversed ranges dropped."""
    negate = inside.startswith("!")
    body = inside[1:] if negate else inside
    if "-" not in body:
        body = body.replace("\\", r"\\")
    else:
        chunks = []
        start, search = 0, 1
        while (hyphen := body.find("-", search)) >= 0:
            chunks.append(body[start:hyphen])
            start, search = hyphen + 1, hyphen + 3
        if body[start:]:
            chunks.append(body[start:])
        else:
            chunks[-1] += "-"
        for k in range(len(chunks) - 1, 0, -1):
            if chunks[k - 1][-1] > chunks[k][0]:  # a range like z-a is empty: merge its neighbours
                chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
                del chunks[k]
        body = "-".join(chunk.replace("\\", r"\\").replace("-", r"\-") for chunk in chunks)
    body = re.sub(r"([&~|])", r"\\\1", body)
    if not body:
        return "." if negate else "(?!)"
    if negate:
        return f"[^{body}]"
    return f"[\\{body}]" if body[0] in "^[" else f"[{body}]"


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


# --- map files (§5) -----------------------------------------------------------------------------------------------

MAP_FILES = ("run_to_tomo_map_csv", "run_to_frame_map_csv", "run_to_ts_map_csv", "run_data_map_file")


def check_map_files(config: DatasetConfig, input_bucket: str, storage: Storage) -> None:
    """Every configured map file exists and parses (Q2). Their contents do not change which runs are found."""
    for setting in MAP_FILES:
        name = getattr(config.settings, setting)
        if not name:
            continue
        path = posixpath.join(f"{input_bucket}/{config.settings.source_prefix}", name)
        bucket, _, key = path.partition("/")
        data = storage.read(bucket, key) if bucket and key else None
        where = f"{config.file}: standardization_config.{setting}"
        if data is None:
            raise UsageError(f"{where}: {path} does not exist")
        try:
            text = data.decode()
            problem = _table_problem(text, name) if setting == "run_data_map_file" else _pairs_problem(text)
        except (UnicodeDecodeError, csv.Error) as error:
            problem = str(error)
        if problem:
            raise UsageError(f"{where}: {path}: {problem}")


def _pairs_problem(text: str) -> str | None:
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        if len(row) < 2:
            return f"line {reader.line_num} has {len(row)} cell(s); every line maps a run name to a second cell"
    return None


def _table_problem(text: str, name: str) -> str | None:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith("tsv") else ",")
    if any("run_name" not in row for row in reader):
        return "it has rows but no run_name column"
    return None


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
