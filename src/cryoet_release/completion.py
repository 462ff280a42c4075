"""Values for shell completion (TAB). Each reads the disk only, never AWS, and imports nothing heavy: a TAB must stay
well under the time of `import boto3` (benchmarks/startup.py). Each is a typer autocompletion: (ctx, incomplete)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

YAML = (".yaml", ".yml")


def regions(ctx: Any, incomplete: str) -> list[str]:
    """The AWS regions botocore knows, read from its endpoints file (botocore itself is not imported)."""
    import json
    from importlib.util import find_spec

    spec = find_spec("botocore")
    if spec is None or spec.origin is None:
        return []
    try:
        endpoints = json.loads((Path(spec.origin).parent / "data" / "endpoints.json").read_text())
    except (OSError, ValueError):
        return []
    found = {region for partition in endpoints.get("partitions", []) for region in partition.get("regions", {})}
    return sorted(region for region in found if region.startswith(incomplete))


def image_keys(ctx: Any, incomplete: str) -> list[str]:
    """The config's image keys (ingestor, apiv2, and those its file adds)."""
    from cryoet_release.config_files import image_keys as keys

    explicit = ctx.find_root().params.get("config")
    return [key for key in keys(Path.cwd(), os.environ, explicit) if key.startswith(incomplete)]


def yaml_paths(ctx: Any, incomplete: str) -> list[str]:
    """Folders (to go into) and YAML files under what was typed: dataset configs."""
    folder, _, start = incomplete.rpartition("/")
    where = Path(folder or ".") if not incomplete.startswith("/") or folder else Path("/")
    prefix = f"{folder}/" if folder or incomplete.startswith("/") else ""
    try:
        entries = sorted(where.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name.startswith(".") and not start.startswith(".")):
            continue
        if entry.is_dir():
            found.append(f"{prefix}{entry.name}/")
        elif entry.name.endswith(YAML):
            found.append(f"{prefix}{entry.name}")
    return found
