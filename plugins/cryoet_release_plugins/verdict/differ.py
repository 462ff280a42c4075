"""What changed between two objects of the same key, as a person wants to read it: the fields of a JSON or YAML
document (deepdiff), a unified diff of a small text, the header fields of an MRC volume (mrcfile's header layout, from
a ranged read), a zarr array as "N of M chunks differ" with its metadata's fields, and else the size."""

from __future__ import annotations

import difflib
import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release_plugins.verdict.trees import Tree

TEXT = (".txt", ".csv", ".tsv", ".mdoc", ".star", ".xf", ".tlt", ".rawtlt", ".xtilt", ".md", ".log", ".xml", ".html")
MRC = (".mrc", ".mrcs", ".rec", ".st", ".ali", ".map")
ZARR_METADATA = (".zarray", ".zattrs", ".zgroup", ".zmetadata")
SMALL = 1 << 20
"""Text and documents larger than this are compared by size only."""
DIFF_LINES = 40
MRC_HEADER = 1024
MRC_FIELDS = (
    "nx", "ny", "nz", "mode", "nxstart", "nystart", "nzstart", "mx", "my", "mz", "cella", "cellb", "mapc", "mapr",
    "maps", "dmin", "dmax", "dmean", "ispg", "nsymbt", "exttyp", "nversion", "origin", "rms", "nlabl",
)  # fmt: skip


SUFFIXES = ((".json",), (".yaml", ".yml"), TEXT, MRC)
KINDS = ("json", "yaml", "text", "mrc")


def kind_of(key: str) -> str:
    """zarr metadata, zarr chunk, json, yaml, text, mrc or binary."""
    name = posixpath.basename(key)
    if name in ZARR_METADATA:
        return "zarr metadata"
    if in_zarr(key):
        return "zarr chunk"
    lowered = name.lower()
    return next((kind for kind, suffixes in zip(KINDS, SUFFIXES, strict=True) if lowered.endswith(suffixes)), "binary")


def in_zarr(key: str) -> bool:
    return any(part.endswith(".zarr") for part in key.split("/")[:-1])


# --- one changed object ------------------------------------------------------------------------------------------


def diff(a: Tree, b: Tree, key: str, size_a: int, size_b: int) -> tuple[str, Any]:
    """(kind, what differs) of an object whose bytes differ between the trees."""
    kind = kind_of(key)
    if kind in {"json", "yaml", "zarr metadata"} and max(size_a, size_b) <= SMALL:
        documents = _read(a, key), _read(b, key)
        try:
            parsed = [_parse(kind, data) for data in documents]
        except ValueError:
            return "text", _text_diff(*documents)
        return kind, fields_diff(parsed[0], parsed[1])
    if kind == "text" and max(size_a, size_b) <= SMALL:
        return kind, _text_diff(_read(a, key), _read(b, key))
    if kind == "mrc":
        return kind, mrc_diff(a, b, key)
    return kind, {"size": [size_a, size_b]}


def _read(tree: Tree, key: str, first: int | None = None) -> bytes:
    return cloud.read_object(tree.aws, tree.bucket, tree.prefix + key, unsigned=tree.unsigned, first=first) or b""


def _parse(kind: str, data: bytes) -> Any:
    if kind == "yaml":
        import yaml

        try:
            return yaml.safe_load(data)
        except yaml.YAMLError as error:
            raise ValueError(str(error)) from None
    return json.loads(data)


def fields_diff(a: Any, b: Any) -> list[dict[str, Any]]:
    """Each field that differs, with both values (deepdiff's tree view; a missing side is `null` with `absent`)."""
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    found = []
    for levels in DeepDiff(a, b, view="tree", verbose_level=2).values():
        for level in levels:
            entry: dict[str, Any] = {"field": level.path(root="")}
            for side, value in (("a", level.t1), ("b", level.t2)):
                entry[side] = None if value is notpresent else value
                if value is notpresent:
                    entry["absent"] = side
            found.append(entry)
    return sorted(found, key=lambda entry: entry["field"])


def _text_diff(a: bytes, b: bytes) -> list[str]:
    """A unified diff, cut to DIFF_LINES lines."""
    lines = list(
        difflib.unified_diff(
            a.decode(errors="replace").splitlines(), b.decode(errors="replace").splitlines(), "a", "b", n=2,
            lineterm="",
        )
    )  # fmt: skip
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more lines"]
    return lines


def mrc_header(data: bytes) -> dict[str, Any]:
    """The header fields of an MRC file's first 1,024 bytes, in its own byte order (mrcfile's layout)."""
    import numpy as np
    from mrcfile.dtypes import HEADER_DTYPE
    from mrcfile.utils import byte_order_from_machine_stamp

    if len(data) < MRC_HEADER:
        raise ValueError(f"{len(data)} bytes: shorter than an MRC header")
    header = np.frombuffer(data[:MRC_HEADER], dtype=HEADER_DTYPE).reshape(())
    if bytes(header["map"])[:3] != b"MAP":
        raise ValueError("no MAP stamp: not an MRC header")
    header = header.view(header.dtype.newbyteorder(byte_order_from_machine_stamp(header["machst"])))
    found = {name: _plain(header[name]) for name in MRC_FIELDS}
    cella, counts = found["cella"], [found["mx"], found["my"], found["mz"]]
    found["voxel_size"] = [
        _readable(length / count) if count else None for length, count in zip(cella, counts, strict=True)
    ]
    return found


def _plain(value: Any) -> Any:
    """A numpy header value as JSON: numbers, lists, text."""
    if getattr(value, "dtype", None) is not None and value.dtype.names:
        return [_plain(value[name]) for name in value.dtype.names]
    if isinstance(value, bytes) or (getattr(value, "dtype", None) is not None and value.dtype.kind in "SV"):
        return bytes(value).rstrip(b"\0").decode(errors="replace")
    item = value.item() if hasattr(value, "item") else value
    return _readable(item) if isinstance(item, float) else item


def _readable(number: float) -> float:
    """A float32 header value as it was written: 13.48, not 13.479999542236328 (its 7 significant digits)."""
    return float(f"{number:.7g}")


def mrc_diff(a: Tree, b: Tree, key: str) -> dict[str, Any]:
    """The header fields that differ (a ranged read of the header, and of the extended header when there is one);
    else that the data differs."""
    head_a, head_b = _read(a, key, MRC_HEADER), _read(b, key, MRC_HEADER)
    try:
        header_a, header_b = mrc_header(head_a), mrc_header(head_b)
    except ValueError as error:
        return {"header": f"not read: {error}"}
    changed = {name: [header_a[name], header_b[name]] for name in header_a if header_a[name] != header_b[name]}
    extended = max(int(header_a["nsymbt"]), int(header_b["nsymbt"]))
    if extended:
        full_a = _read(a, key, MRC_HEADER + extended)[MRC_HEADER:]
        full_b = _read(b, key, MRC_HEADER + extended)[MRC_HEADER:]
        if full_a != full_b:
            changed["extended_header"] = [f"{len(full_a)} bytes", f"{len(full_b)} bytes, other content"]
    return {"header": changed} if changed else {"header": {}, "data": "differs (the headers are the same)"}


# --- the whole comparison ----------------------------------------------------------------------------------------


@dataclass
class Changed:
    key: str
    size_a: int | None
    size_b: int | None
    kind: str
    diff: Any

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "size_a": self.size_a, "size_b": self.size_b, "kind": self.kind, "diff": self.diff}


@dataclass
class Array:
    """A zarr array: its chunks counted, not listed."""

    path: str
    chunks: int = 0
    differ: int = 0


@dataclass
class Comparison:
    a: str
    b: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("same", "changed", "only_a", "only_b"), 0))
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    arrays: dict[str, Array] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return self.counts["changed"] == self.counts["only_a"] == self.counts["only_b"] == 0

    def held(self) -> tuple[int, int]:
        """How many objects each tree holds (of those compared)."""
        both = self.counts["same"] + self.counts["changed"]
        return both + self.counts["only_a"], both + self.counts["only_b"]

    def array_of(self, key: str) -> Array:
        """The zarr array a key belongs to: the deepest folder known to hold a .zarray, else the key's folder."""
        folder = posixpath.dirname(key)
        candidate = folder
        while candidate and candidate not in self.arrays and in_zarr(candidate + "/x"):
            candidate = posixpath.dirname(candidate)
        path = candidate if candidate in self.arrays else folder
        return self.arrays.setdefault(path, Array(path))

    def saw(self, key: str) -> None:
        """A key as the walk meets it (in key order): an array's .zarray comes before its chunks."""
        if posixpath.basename(key) == ".zarray":
            self.arrays.setdefault(posixpath.dirname(key), Array(posixpath.dirname(key)))

    def note(self, key: str, outcome: str, changed: Changed | None = None) -> None:
        """One key's outcome: same, changed (with what), only_a or only_b."""
        self.counts[outcome] += 1
        kind = kind_of(key)
        if kind == "zarr chunk":
            array = self.array_of(key)
            array.chunks += 1
            array.differ += outcome != "same"
            return
        if outcome == "only_a":
            self.only_a.append(key)
        elif outcome == "only_b":
            self.only_b.append(key)
        elif changed is not None:
            self.changed.append(changed)

    def document(self) -> dict[str, Any]:
        changed = [item.as_json() for item in self.changed]
        changed += [
            {"key": array.path, "size_a": None, "size_b": None, "kind": "zarr array",
             "diff": {"chunks": array.chunks, "chunks_differ": array.differ}}
            for array in self.arrays.values()
            if array.differ
        ]  # fmt: skip
        return {
            "a": self.a,
            "b": self.b,
            "identical": self.identical,
            "counts": dict(self.counts),
            "only_a": self.only_a,
            "only_b": self.only_b,
            "changed": sorted(changed, key=lambda item: item["key"]),
        }


def compare(a: Tree, b: Tree, *, workers: int, skip: Callable[[str], bool] = lambda key: False) -> Comparison:
    """Walk both trees together; read and diff what size and ETag cannot settle, concurrently."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from cryoet_release_plugins.verdict.trees import same_by_metadata, same_bytes, walk

    result = Comparison(a.url, b.url)
    pending: list[tuple[str, Future[Changed | None]]] = []

    def settle(key: str, size_a: int, size_b: int, known: bool | None) -> Changed | None:
        if known is None and same_bytes(a, b, key):
            return None
        kind, what = diff(a, b, key, size_a, size_b)
        return Changed(key, size_a, size_b, kind, what)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reading") as pool:
        for pair in walk(a, b, workers=workers, skip=skip):
            result.saw(pair.key)
            if pair.b is None:
                result.note(pair.key, "only_a")
            elif pair.a is None:
                result.note(pair.key, "only_b")
            else:
                known = same_by_metadata(pair.a, pair.b)
                if known is True:
                    result.note(pair.key, "same")
                elif kind_of(pair.key) == "zarr chunk" and known is False:
                    result.note(pair.key, "changed")  # counted in its array: no need to read it
                else:
                    pending.append((pair.key, pool.submit(settle, pair.key, pair.a.size, pair.b.size, known)))
        for key, future in pending:
            changed = future.result()
            result.note(key, "changed" if changed else "same", changed)
    return result
