"""Plugin discovery: every subcommand group is an entry point in `cryoet_release.plugins` naming a `typer.Typer`;
the enqueue kinds (`cryoet_release.enqueue_kinds`) and the container engines (`cryoet_release.engines`) are plugin
points of their own, read the same way.

First-party plugins are found exactly the same way. A plugin that fails to load is reported, never fatal
(unless CRYOET_RELEASE_STRICT_PLUGINS=1); the list of entry points is injectable so tests choose what exists.

Reading the installed distributions' metadata (importlib.metadata) costs more than a third of a `--help`, so what
the entry points declare is cached, keyed by the interpreter and the modification times of the sys.path folders
(installing or removing a distribution changes its folder's).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "cryoet_release.plugins"
KINDS = "cryoet_release.enqueue_kinds"
ENGINES = "cryoet_release.engines"
GROUPS = (GROUP, KINDS, ENGINES)
STRICT_ENV = "CRYOET_RELEASE_STRICT_PLUGINS"
FIRST_PARTY = "cryoet-release"

Status = Literal["loaded", "failed", "shadowed"]


@dataclass(frozen=True)
class Plugin:
    name: str
    module: str
    distribution: str | None
    version: str | None
    status: Status
    reason: str | None = None
    loaded: Any = None
    """What the entry point names, when it loaded and is in use (a typer.Typer for a command plugin)."""
    group: str = GROUP

    @property
    def app(self) -> typer.Typer | None:
        return self.loaded if isinstance(self.loaded, typer.Typer) else None

    @property
    def origin(self) -> str:
        if self.distribution is None:
            return "no distribution"
        return f"{self.distribution} {self.version}" if self.version else self.distribution

    def as_json(self) -> dict[str, str | None]:
        return {
            "group": self.group,
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Declared:
    """What one entry point declares, and its distribution: all that loading it needs (and what is cached)."""

    group: str
    name: str
    value: str
    """`module:attribute`, as in the entry point."""
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        """The object the entry point names (what EntryPoint.load does, without importing importlib.metadata)."""
        module, _, attribute = self.value.partition(":")
        found: Any = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            found = getattr(found, part)
        return found


def declared(eps: Iterable[EntryPoint]) -> list[Declared]:
    """Read a distribution's metadata (its METADATA file) once per distribution, not once per entry point."""
    origins: dict[int, tuple[str | None, str | None]] = {}
    found = []
    for ep in eps:
        if id(ep.dist) not in origins:
            origins[id(ep.dist)] = (ep.dist.metadata["Name"], ep.dist.version) if ep.dist is not None else (None, None)
        found.append(Declared(ep.group, ep.name, ep.value, *origins[id(ep.dist)]))
    return found


def discover(environ: Mapping[str, str] = os.environ, group: str = GROUP) -> list[Declared]:
    """The installed entry points of `group`, from the cache when sys.path has not changed since it was written."""
    return [item for item in _discover_all(environ) if item.group == group]


def _discover_all(environ: Mapping[str, str]) -> list[Declared]:
    """The entry points of every group the tool reads (one metadata read fills the cache for all of them)."""
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cryoet-release" / "entry-points.tsv"
    key = _fingerprint()
    try:  # plain text, split by hand: reading it needs no parser module
        saved_key, *rows = cache.read_text(encoding="utf-8").splitlines()
        if saved_key == key:
            return [_row(row) for row in rows]
    except (OSError, ValueError, TypeError):
        pass
    from importlib.metadata import entry_points

    found = declared(ep for group in GROUPS for ep in entry_points(group=group))
    try:  # a cache that cannot be written only costs the next run the metadata read
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f".{cache.name}.{os.getpid()}")
        rows = ["\t".join(cell or "" for cell in astuple(item)) for item in found]
        temporary.write_text("\n".join([key, *rows]) + "\n", encoding="utf-8")
        temporary.replace(cache)
    except OSError:
        pass
    return found


def _row(row: str) -> Declared:
    group, name, value, distribution, version = row.split("\t")
    return Declared(group, name, value, distribution or None, version or None)


def _fingerprint() -> str:
    # The current folder and the script's own are on sys.path too, but hold no distribution, and their times
    # change with every file written there: leaving them out keeps the cache valid.
    transient = {"", os.getcwd(), os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else ""}
    folders = []
    for entry in sys.path:
        if entry in transient:
            continue
        try:
            folders.append(f"{entry}={os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            continue
    return "\t".join([sys.version.replace("\n", " "), *folders])


def _typer_app(loaded: Any) -> str | None:
    return None if isinstance(loaded, typer.Typer) else f"is a {type(loaded).__name__}, not a typer.Typer"


def load_plugins(
    eps: Iterable[Declared | EntryPoint] | None = None,
    *,
    reserved: Iterable[str] = (),
    environ: Mapping[str, str] = os.environ,
    group: str = GROUP,
    check: Callable[[Any], str | None] = _typer_app,
) -> list[Plugin]:
    """Load every entry point of `group`; failures and name clashes come back as non-loaded `Plugin`s, never as
    exceptions. `check` says what is wrong with a loaded object (None: it is what the group expects).

    When two entry points share a name, the first-party one wins, then the distribution first by name: the
    outcome does not depend on sys.path order. Names in `reserved` (the core's own commands) always lose.
    """
    if eps is None:
        candidates = discover(environ, group)
    else:
        given = list(eps)
        candidates = [ep for ep in given if isinstance(ep, Declared)]
        candidates += declared(ep for ep in given if not isinstance(ep, Declared))
        candidates = [item for item in candidates if item.group == group]
    ordered = sorted(candidates, key=lambda d: (d.name, d.distribution != FIRST_PARTY, d.distribution or "", d.value))
    plugins: list[Plugin] = []
    winners: dict[str, Plugin] = {}
    taken = set(reserved)
    for item in ordered:
        origin = (item.name, item.value, item.distribution, item.version)
        if item.name in taken:
            holder = winners.get(item.name)
            by = f"plugin from {holder.origin}" if holder else "a built-in command"
            plugins.append(Plugin(*origin, "shadowed", f"name already used by {by}", group=group))
            continue
        try:
            loaded = item.load()
            problem = check(loaded)
        except Exception as error:  # noqa: BLE001 - any failure of third-party code is isolated here
            plugins.append(Plugin(*origin, "failed", _one_line(error), group=group))
            continue
        if problem is not None:
            plugins.append(Plugin(*origin, "failed", f"{item.value} {problem}", group=group))
            continue
        plugin = Plugin(*origin, "loaded", loaded=loaded, group=group)
        plugins.append(plugin)
        winners[item.name] = plugin
        taken.add(item.name)
    return plugins


_WHAT = {GROUP: "plugin", KINDS: "enqueue kind", ENGINES: "container engine"}


def problems(plugins: Iterable[Plugin]) -> list[str]:
    """One warning line per plugin that is not in use."""
    return [
        f"{_WHAT.get(p.group, p.group)} {p.name!r} from {p.origin} ({p.module}) "
        f"{'failed to load' if p.status == 'failed' else 'ignored'}: {p.reason}"
        for p in plugins
        if p.status != "loaded"
    ]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
