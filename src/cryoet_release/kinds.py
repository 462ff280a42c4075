"""Enqueue kinds: a plugin point of their own (entry-point group `cryoet_release.enqueue_kinds`).

A kind is one frozen dataclass in one module. Its fields are its own command-line options (typer annotations: the
help, the defaults), its class attributes say how its jobs run (WDL, memory, images), and `jobs()` says what it looks
up and the arguments of each job. The enqueue plugin makes `cryoet-release enqueue <name>` of every registered kind,
with the options every kind shares, batches, resume, retry, status, --dry-run, --json and the prod prompt:

    [project.entry-points."cryoet_release.enqueue_kinds"]
    reindex = "my_package.reindex:Reindex"

The first-party kinds are registered exactly so. Light on purpose (typer and the standard library only): `--help`
imports every kind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cryoet_release import plugins
from cryoet_release.names import Environment

if TYPE_CHECKING:
    from cryoet_release.config import ReleaseConfig
    from cryoet_release.lookup import Lookup


@dataclass(frozen=True)
class JobSpec:
    """One job before its name and input are fixed: a key unique in the batch, and its WDL arguments."""

    key: str
    arguments: Mapping[str, Any]
    found_at: str | None = None
    """Where discovery found what the job is for (shown by --dry-run)."""


@dataclass(frozen=True)
class ExtraOption:
    """An option declared from data rather than as a field (the dozens of the importers' flags): its occurrences
    reach the kind through `Planning.command_line`."""

    name: str
    """As typed: `--import-runs`."""
    help: str
    takes_value: bool = False
    """A repeatable option with a value (a REGEX); otherwise a flag."""
    panel: str | None = None
    allows_empty: bool = False
    """An empty value has a meaning of its own (see params.allows_empty)."""


@dataclass(frozen=True)
class Planning:
    """What a kind is given to make its jobs."""

    config: ReleaseConfig
    environment: Environment
    """The --environment given (a kind that always runs on one environment may still read it)."""
    images: Mapping[str, str]
    """Image role (docker_image_id, ...) -> the reference the jobs run."""
    lookup: Lookup
    """S3, as the old script looked things up (datasets, depositions, folders, a dataset config's runs)."""
    warn: Callable[[str], None]
    cwd: Path
    command_line: Sequence[tuple[str, Any]]
    """Every option as it occurred on the command line, in order: (parameter name, value of that occurrence)."""
    dry_run: bool = False
    """Only a plan is shown: nothing will be submitted."""

    def given_in_order(self, names: Sequence[str]) -> list[str]:
        """The names among `names` that were given, in the order of their first occurrence."""
        wanted = set(names)
        return list(dict.fromkeys(name for name, _ in self.command_line if name in wanted))

    def occurrences(self, names: Sequence[str]) -> list[tuple[str, Any]]:
        """Each occurrence of the options `names`, in command-line order."""
        wanted = set(names)
        return [(name, value) for name, value in self.command_line if name in wanted]


class Kind:
    """Subclass as a frozen dataclass whose fields are the kind's options; set the class attributes below."""

    name: ClassVar[str]
    """The subcommand: `cryoet-release enqueue <name>`, and part of every execution name."""
    wdl_key: ClassVar[str]
    """The default --swipe-wdl-key."""
    memory: ClassVar[int]
    """The default --memory, MB."""
    images: ClassVar[Mapping[str, str]] = {"docker_image_id": "ingestor"}
    """Image role in the job's input -> key of the config's images; --ecr-repo chooses docker_image_id's."""
    runs_on: ClassVar[Environment | None] = None
    """The environment whose state machine always runs the jobs; None: the one --environment names."""
    environment_help: ClassVar[str] = "Which state machine, buckets and defaults."
    found_nothing_is_fine: ClassVar[bool] = False
    """True: finding nothing ends with a warning and exit 0; False: it is a usage error (exit 2)."""
    extra_options: ClassVar[Sequence[ExtraOption]] = ()
    rank: ClassVar[int] = 100
    """Place in `enqueue --help` (lower first)."""

    def jobs(self, planning: Planning) -> Sequence[JobSpec]:
        """One spec per job. Raises UsageError for what the user should fix."""
        raise NotImplementedError

    def nothing_found(self, planning: Planning) -> str:
        """Why a selection found nothing, naming where it looked."""
        return "nothing matches the selection"

    def reads_from_image(self, cwd: Path) -> Path | None:
        """A file of the user's that the jobs read from their image instead, to compare with the revision the image
        was built from (queue's dataset config); None for the kinds that read nothing so."""
        return None


def _is_kind(loaded: Any) -> str | None:
    if not (isinstance(loaded, type) and issubclass(loaded, Kind)):
        return f"is a {type(loaded).__name__}, not a subclass of cryoet_release.kinds.Kind"
    missing = [attribute for attribute in ("name", "wdl_key", "memory") if not hasattr(loaded, attribute)]
    if missing:
        return f"lacks the class attribute(s) {', '.join(missing)}"
    return None


def kind_names(environ: Mapping[str, str] = os.environ) -> set[str]:
    """The registered kinds' names (from the entry points; nothing is imported)."""
    return {item.name for item in plugins.discover(environ, plugins.KINDS)}


def kind_plugins(environ: Mapping[str, str] = os.environ) -> list[plugins.Plugin]:
    """Every registered kind as a plugin (loaded, or why not), for `cryoet-release plugins`."""
    return plugins.load_plugins(group=plugins.KINDS, environ=environ, check=_is_kind)


def load_kinds(
    environ: Mapping[str, str] = os.environ, *, only: str | None = None
) -> tuple[list[type[Kind]], list[str]]:
    """Every registered kind that loads (or only the one named so), in --help order; and one warning line per kind
    that does not (isolated as broken plugins are)."""
    declared = [item for item in plugins.discover(environ, plugins.KINDS) if only is None or item.name == only]
    found = plugins.load_plugins(declared, group=plugins.KINDS, check=_is_kind)
    kinds, problems = [], plugins.problems(found)
    for item in found:
        if item.status != "loaded":
            continue
        if item.loaded.name != item.name:
            problems.append(
                f"enqueue kind {item.name!r} from {item.origin} ({item.module}) ignored: the entry point's name differs"
                f" from the kind's own ({item.loaded.name!r})"
            )
            continue
        kinds.append(item.loaded)
    return sorted(kinds, key=lambda kind: (kind.rank, kind.name)), problems
