"""`--help` of every command stays light: it imports neither boto3, botocore nor python_on_whales.

Read from `python -X importtime` in a fresh interpreter: what is imported, never how long it took.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from cryoet_release.cli import build_app, command_tree

HEAVY = {"boto3", "botocore", "python_on_whales", "s3transfer", "moto"}


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand, those a plugin builds only when used (the enqueue kinds) included."""
    paths: list[tuple[str, ...]] = [()]
    root = command_tree(build_app())
    pending: list[tuple[tuple[str, ...], Any]] = [((), root)]
    while pending:
        path, command = pending.pop()
        if not hasattr(command, "list_commands"):
            continue
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        for name in sorted(command.list_commands(ctx)):
            paths.append((*path, name))
            pending.append(((*path, name), command.get_command(ctx, name)))
    return paths


def imported_modules(args: tuple[str, ...]) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cryoet_release", *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line and not line.endswith("| imported package")
    }


def test_every_installed_command_is_reached() -> None:
    assert {("plugins",), ("config", "show"), ("enqueue", "queue"), ("enqueue", "db-import")} <= set(command_paths())


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "root")
def test_help_imports_no_heavy_module(path: tuple[str, ...]) -> None:
    modules = imported_modules(path)
    assert "cryoet_release" in modules  # the reading itself works
    assert modules.isdisjoint(HEAVY), sorted(modules & HEAVY)
