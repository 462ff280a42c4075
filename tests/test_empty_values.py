"""R6: an empty value is never "not given". Over every option of every command (the plugins' and the enqueue kinds'
included), an empty text or path is exit 2 naming the option, except where the old script gave "" a meaning of its
own: those are exactly the ones the migration guide lists under R6, and they keep that meaning."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cryoet_release.cli import build_app, command_tree
from cryoet_release.params import allows_empty
from tests.conftest import invoke
from tests.test_startup import command_paths

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "migration.md"


def command(path: tuple[str, ...]) -> Any:
    found = command_tree(build_app())
    for name in path:
        ctx = found.make_context(found.name, [], resilient_parsing=True)
        found = found.get_command(ctx, name)
    return found


def text_options() -> list[tuple[tuple[str, ...], str, bool]]:
    """(command path, option, whether "" has a meaning) for every text or path option of every command."""
    found = []
    for path in command_paths():
        for param in command(path).params:
            option = next((opt for opt in getattr(param, "opts", []) if opt.startswith("--")), None)
            kind = type(param.type).__name__
            if option is None or getattr(param, "is_flag", False) or option in {"--help"}:
                continue
            if kind == "FuncParamType" and param.type.func is allows_empty:
                found.append((path, option, True))
            elif kind in {"StringParamType", "TyperPath"}:
                found.append((path, option, False))
    return found


OPTIONS = text_options()


def test_every_command_is_covered() -> None:
    covered = {(path, option) for path, option, _ in OPTIONS}
    for expected in [
        (("enqueue", "db-import"), "--ecr-tag"),
        (("enqueue", "queue"), "--ecr-repo"),
        (("enqueue", "sync"), "--swipe-wdl-key"),
        (("enqueue", "validate"), "--batch"),
        (("enqueue", "resume"), "--ledger-dir"),
        (("build",), "--platform"),
        (("status",), "--ledger-dir"),
        ((), "--region"),
        ((), "--config"),
    ]:
        assert expected in covered, expected


@pytest.mark.parametrize(
    ("path", "option"),
    [pytest.param(path, option, id=" ".join([*path, option])) for path, option, meaning in OPTIONS if not meaning],
)
def test_an_empty_value_is_refused_naming_the_option(path: tuple[str, ...], option: str) -> None:
    result = invoke(*path, option, "")
    assert result.exit_code == 2, result.output
    first = result.stderr.splitlines()[0]
    assert first == (
        f"error: Invalid value for '{option}': it is empty: give a value, or leave the option out for its default"
    )


def guide_r6_options() -> set[tuple[str, str]]:
    """The (command, option) pairs the migration guide says keep the old meaning of an empty value."""
    section = GUIDE.read_text().split("### R6", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z -]+)` \| `(--[a-z0-9*-]+) ''` \|", section, re.MULTILINE)
    return {(f"enqueue {command}", option) for command, option in rows}


def test_the_options_that_keep_a_meaning_for_empty_are_the_ones_the_guide_lists() -> None:
    # queue's dozens of per-importer REGEX options are one row each for --filter-*-name and --exclude-*-name.
    # compare queue takes the queue kind's own options (the guide says so under the table).
    kept = {
        (
            " ".join(path).replace("compare queue", "enqueue queue"),
            re.sub(r"^--(filter|exclude)-.+-name$", r"--\1-*-name", option),
        )
        for path, option, meaning in OPTIONS
        if meaning
    }
    assert kept == guide_r6_options()
    assert "`compare queue` takes `queue`'s options, with the same meanings" in GUIDE.read_text()
