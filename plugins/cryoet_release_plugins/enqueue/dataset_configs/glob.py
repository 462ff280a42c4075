"""The S3 listings a dataset config's finders walk, each made once, and glob as s3fs does it (SPEC §8), walked level
by level: only into the directories that can still match. Pure: S3 is reached only through `Storage`."""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from functools import lru_cache
from itertools import islice, takewhile
from typing import Protocol, TypeVar


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
    """What one name must match for one path component."""
    return glob_regex(part)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression a whole path must match: fsspec's own translation, the one s3fs's glob uses."""
    from fsspec.utils import glob_translate

    return re.compile(glob_translate(pattern))
