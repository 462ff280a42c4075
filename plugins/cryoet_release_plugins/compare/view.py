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


def verdict_line(comparison: Comparison) -> str:
    counts = comparison.counts
    if comparison.identical:
        return f"identical: {plural(counts['same'], 'object')}, the same bytes"
    return (
        f"they differ: {counts['changed']} changed, {counts['only_a']} only in a, {counts['only_b']} only in b,"
        f" {counts['same']} the same"
    )


def render(output: Output, comparison: Comparison, *, title: str | None = None) -> None:
    info = output.plain
    if title:
        info(title)
    info(f"a: {comparison.a}")
    info(f"b: {comparison.b}")
    info(verdict_line(comparison))
    for side, keys in (("a", comparison.only_a), ("b", comparison.only_b)):
        if keys:
            info(f"only in {side} ({len(keys)}):")
            for key in keys[:SHOWN_KEYS]:
                info(f"  {key}")
            if len(keys) > SHOWN_KEYS:
                info(f"  and {len(keys) - SHOWN_KEYS} more (--json lists them all)")
    document = comparison.document()
    if document["changed"]:
        info(f"changed ({len(document['changed'])}):")
    for item in document["changed"]:
        info(f"  {item['key']} ({item['kind']})")
        for line in change_lines(item):
            info(f"    {line}")


def change_lines(item: dict[str, Any]) -> list[str]:
    """What changed in one object, a line each."""
    kind, what = item["kind"], item["diff"]
    if kind == "zarr array":
        return [f"{what['chunks_differ']} of {plural(what['chunks'], 'chunk')} differ"]
    if kind in {"json", "yaml", "zarr metadata"}:
        lines = [
            f"{entry['field'] or '(the document)'}: "
            + (f"only in {'b' if entry['absent'] == 'a' else 'a'}: " if "absent" in entry else "")
            + f"{_value(entry['a'])} -> {_value(entry['b'])}"
            for entry in what[:SHOWN_FIELDS]
        ]
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
