"""A comparison as a person reads it: the counts and the verdict first, then what is only on one side, then each
change in its own terms (fields, lines, header fields, chunks, sizes)."""

from __future__ import annotations

import json
from typing import Any

from cryoet_release.console import Output, plural
from cryoet_release_plugins.verdict.differ import Comparison

SHOWN_KEYS = 20
SHOWN_FIELDS = 10


def _value(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def verdict_line(comparison: Comparison, names: tuple[str, str] = ("a", "b")) -> str:
    counts = comparison.counts
    if comparison.identical:
        return f"identical: {plural(counts['same'], 'object')}, the same bytes"
    return (
        f"they differ: {plural(counts['changed'], 'object')} changed, {counts['only_a']} only in {names[0]},"
        f" {counts['only_b']} only in {names[1]}, {counts['same']} the same"
    )


def render(
    output: Output, comparison: Comparison, *, title: str | None = None, names: tuple[str, str] = ("a", "b")
) -> None:
    """`names`: what the two trees are called (a and b; base and head for a regression test)."""
    info = output.plain
    if title:
        info(title)
    info(f"{names[0]}: {comparison.a}")
    info(f"{names[1]}: {comparison.b}")
    info(verdict_line(comparison, names))
    for side, keys in ((names[0], comparison.only_a), (names[1], comparison.only_b)):
        if keys:
            info(f"only in {side} ({len(keys)}):")
            for key in keys[:SHOWN_KEYS]:
                info(f"  {key}")
            if len(keys) > SHOWN_KEYS:
                info(f"  and {len(keys) - SHOWN_KEYS} more (--json lists them all)")
    document = comparison.document()
    if document["changed"]:
        info(f"changed ({plural(comparison.counts['changed'], 'object')}; a zarr array's chunks on one line):")
    for item in document["changed"]:
        info(f"  {item['key']} ({item['kind']})")
        for line in change_lines(item, names):
            info(f"    {line}")


def change_lines(item: dict[str, Any], names: tuple[str, str] = ("a", "b")) -> list[str]:
    """What changed in one object, a line each."""
    kind, what = item["kind"], item["diff"]
    if kind == "zarr array":
        return [f"{what['chunks_differ']} of {plural(what['chunks'], 'chunk')} differ"]
    if kind in {"json", "yaml", "zarr metadata"}:
        lines = [
            f"{entry['field'] or '(the document)'}: "
            + (f"only in {names[1] if entry['absent'] == 'a' else names[0]}: " if "absent" in entry else "")
            + f"{_value(entry['a'])} -> {_value(entry['b'])}"
            for entry in what[:SHOWN_FIELDS]
        ] or ["the same fields and values: only the formatting differs"]
        return lines + ([f"and {len(what) - SHOWN_FIELDS} more fields"] if len(what) > SHOWN_FIELDS else [])
    if kind == "text":
        return list(what)
    if kind == "mrc":
        header = what.get("header")
        if isinstance(header, str):
            return [f"header {header}"]
        lines = [f"{name}: {_value(a)} -> {_value(b)}" for name, (a, b) in header.items()]
        return lines or [f"data {what.get('data', 'differs')}"]
    size_a, size_b = what["size"]
    return [f"size: {size_a} -> {size_b} bytes" if size_a != size_b else "same size, other bytes"]
