"""Two S3 trees, listed concurrently and walked together: every key relative to its tree's prefix falls in one of four
groups, only in A, only in B, changed, or the same.

Listing: each tree is split by its common prefixes (level by level, until there are enough folders to list side by
side), the folders are listed concurrently, and the listings are read back in key order, as one sorted stream per
tree; the two streams are merged as they come. A bounded number of pages is held at any time: memory does not grow
with the number of keys.

Two objects are the same when their bytes are. Size and ETag decide it when they can; both objects are read only when
they cannot (ETags of multipart uploads made with other part sizes).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from fnmatch import fnmatchcase
from itertools import zip_longest
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release.aws import Aws, S3Object
from cryoet_release.errors import UsageError

SPLIT_TARGET = 64
"""Folders to list side by side, at least, when a tree has them."""
SPLIT_DEPTH = 4
PAGES_AHEAD = 4
"""Pages a folder's listing may run ahead of the reader."""


@dataclass(frozen=True)
class Tree:
    """An S3 prefix, read with one session (signed, or anonymously for a public bucket)."""

    bucket: str
    prefix: str
    """Empty, or ending in '/': keys are compared relative to it."""
    aws: Aws
    unsigned: bool = False

    @classmethod
    def parse(cls, text: str, aws: Aws, *, unsigned: bool = False, name: str = "tree") -> Tree:
        """`s3://bucket/prefix` (or `bucket/prefix`); the prefix is taken as a folder. Raises UsageError."""
        from cryoet_release.models import BucketName, validate_option

        path = text.removeprefix("s3://")
        bucket, _, prefix = path.partition("/")
        validate_option(BucketName, bucket, name)
        prefix = prefix.strip("/")
        return cls(bucket, f"{prefix}/" if prefix else "", aws, unsigned)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def objects(self, pool: Executor, *, workers: int) -> Generator[S3Object]:
        """Every object of the tree, keys relative to its prefix, in key order."""
        with closing(_ordered(_split(self, pool), pool, self, workers)) as groups:  # stops its listings when closed
            for group in groups:
                for item in group:
                    yield S3Object(item.key[len(self.prefix) :], item.size, item.etag)


@dataclass(frozen=True)
class _Group:
    """A folder to list whole, or objects already listed (the files of a level)."""

    start: str
    folder: str | None = None
    listed: tuple[S3Object, ...] = ()


def _split(tree: Tree, pool: Executor) -> list[_Group]:
    """The tree as folders and files, level by level, until there are SPLIT_TARGET folders (or no deeper ones)."""
    groups: list[_Group] = []
    folders = [tree.prefix]
    for _ in range(SPLIT_DEPTH):
        if len(folders) >= SPLIT_TARGET or not folders:
            break
        levels = list(pool.map(lambda folder: _level(tree, folder), folders))
        folders = []
        for subfolders, files in levels:
            groups += [_Group(item.key, listed=(item,)) for item in files]
            folders += subfolders
    groups += [_Group(folder, folder=folder) for folder in folders]
    return sorted(groups, key=lambda group: group.start)


def _level(tree: Tree, folder: str) -> tuple[list[str], list[S3Object]]:
    return cloud.list_objects_level(tree.aws, tree.bucket, folder, unsigned=tree.unsigned)


def _ordered(groups: Sequence[_Group], pool: Executor, tree: Tree, workers: int) -> Generator[Sequence[S3Object]]:
    """The groups' objects in order; the folders' listings run up to `workers` folders ahead of the reader."""
    started: dict[int, queue.Queue[Any]] = {}
    stop = threading.Event()

    def start(index: int) -> None:
        group = groups[index]
        if group.folder is None or index in started:
            return
        pages: queue.Queue[Any] = queue.Queue(maxsize=PAGES_AHEAD)
        started[index] = pages
        pool.submit(_list_into, tree, group.folder, pages, stop)

    try:
        for index, group in enumerate(groups):
            for ahead in range(index, min(len(groups), index + workers)):
                start(ahead)
            if group.folder is None:
                yield group.listed
                continue
            pages = started.pop(index)
            while (page := pages.get()) is not None:
                if isinstance(page, BaseException):
                    raise page
                yield page
    finally:
        stop.set()
        for pages in started.values():  # unblock the listings still running
            while not pages.empty():
                pages.get_nowait()


def _list_into(tree: Tree, folder: str, pages: queue.Queue[Any], stop: threading.Event) -> None:
    """A folder's pages, then None (or the error), each as the reader has room, until the reader stops."""
    try:
        for page in cloud.list_objects(tree.aws, tree.bucket, folder, unsigned=tree.unsigned):
            if not _offer(pages, page, stop):
                return
        _offer(pages, None, stop)
    except BaseException as error:  # noqa: BLE001 - the reader raises it, in its own thread
        _offer(pages, error, stop)


def _offer(pages: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put `item` once there is room; False when the reader stopped first (it will never read it)."""
    while not stop.is_set():
        try:
            pages.put(item, timeout=0.5)
        except queue.Full:
            continue
        else:
            return True
    return False


# --- pairing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A relative key, and its object in each tree (None: not there)."""

    key: str
    a: S3Object | None
    b: S3Object | None


def paired(a: Iterator[S3Object], b: Iterator[S3Object]) -> Iterator[Pair]:
    """Two sorted streams merged by key."""
    left, right = next(a, None), next(b, None)
    while left is not None and right is not None:
        if left.key < right.key:
            yield Pair(left.key, left, None)
            left = next(a, None)
        elif right.key < left.key:
            yield Pair(right.key, None, right)
            right = next(b, None)
        else:
            yield Pair(left.key, left, right)
            left, right = next(a, None), next(b, None)
    while left is not None:
        yield Pair(left.key, left, None)
        left = next(a, None)
    while right is not None:
        yield Pair(right.key, None, right)
        right = next(b, None)


def same_by_metadata(a: S3Object, b: S3Object) -> bool | None:
    """Whether the bytes are the same, when size and ETag can tell; None when they cannot."""
    if a.size != b.size:
        return False
    if a.etag == b.etag:
        return True
    if "-" not in a.etag and "-" not in b.etag:  # both an MD5 of the bytes
        return False
    return None  # a multipart ETag depends on the part size too: only the bytes can tell


def same_bytes(a: Tree, b: Tree, key: str) -> bool:
    """Both objects read side by side, chunk by chunk, until they differ."""
    chunks_a = _rechunk(cloud.object_chunks(a.aws, a.bucket, a.prefix + key, unsigned=a.unsigned))
    chunks_b = _rechunk(cloud.object_chunks(b.aws, b.bucket, b.prefix + key, unsigned=b.unsigned))
    return all(x == y for x, y in zip_longest(chunks_a, chunks_b))


def _rechunk(chunks: Iterator[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The same bytes in pieces of exactly `size` (the last one shorter), whatever pieces the stream gave."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield buffer


def excluded(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a relative key is left out: it matches one of the glob patterns (`*` matches across folders too)."""
    return lambda key: any(fnmatchcase(key, pattern) for pattern in patterns)


def walk(a: Tree, b: Tree, *, workers: int, skip: Callable[[str], bool] = lambda key: False) -> Iterator[Pair]:
    """Every relative key of either tree with its two objects, in key order; the two trees listed concurrently."""
    if (
        a.bucket == b.bucket
        and (a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix))
        and a.prefix != b.prefix
    ):
        raise UsageError(f"{a.url} and {b.url} overlap: one is inside the other")
    with ThreadPoolExecutor(max_workers=2 * workers + 2, thread_name_prefix="listing") as pool:
        streams = a.objects(pool, workers=workers), b.objects(pool, workers=workers)
        try:
            for pair in paired(*streams):
                if not skip(pair.key):
                    yield pair
        finally:  # one tree failed, or the reader stopped: the other's listings stop before the pool waits for them
            for stream in streams:
                stream.close()
