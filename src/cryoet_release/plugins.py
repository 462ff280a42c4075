"""Plugin discovery: every subcommand group is an entry point in `cryoet_release.plugins` naming a `typer.Typer`.

First-party plugins are found exactly the same way. A plugin that fails to load is reported, never fatal
(unless CRYOET_RELEASE_STRICT_PLUGINS=1); the list of entry points is injectable so tests choose what exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Literal

import typer

GROUP = "cryoet_release.plugins"
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
    app: typer.Typer | None = None

    @property
    def origin(self) -> str:
        if self.distribution is None:
            return "no distribution"
        return f"{self.distribution} {self.version}" if self.version else self.distribution

    def as_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "reason": self.reason,
        }


def discover() -> list[EntryPoint]:
    return list(entry_points(group=GROUP))


def load_plugins(eps: Iterable[EntryPoint] | None = None, *, reserved: Iterable[str] = ()) -> list[Plugin]:
    """Load every plugin; failures and name clashes come back as non-loaded `Plugin`s, never as exceptions.

    When two entry points share a name, the first-party one wins, then the distribution first by name: the
    outcome does not depend on sys.path order. Names in `reserved` (the core's own commands) always lose.
    """
    # Reading a distribution's metadata parses its METADATA file: once per distribution, not per entry point.
    origins: dict[int, tuple[str | None, str | None]] = {}
    annotated = []
    for ep in eps if eps is not None else discover():
        if id(ep.dist) not in origins:
            origins[id(ep.dist)] = _distribution(ep)
        annotated.append((ep, *origins[id(ep.dist)]))
    ordered = sorted(annotated, key=lambda item: (item[0].name, item[1] != FIRST_PARTY, item[1] or "", item[0].value))
    plugins: list[Plugin] = []
    winners: dict[str, Plugin] = {}
    taken = set(reserved)
    for ep, dist, version in ordered:
        if ep.name in taken:
            holder = winners.get(ep.name)
            by = f"plugin from {holder.origin}" if holder else "a built-in command"
            plugins.append(Plugin(ep.name, ep.value, dist, version, "shadowed", f"name already used by {by}"))
            continue
        try:
            app = ep.load()
        except Exception as error:  # noqa: BLE001 - any failure of third-party code is isolated here
            plugins.append(Plugin(ep.name, ep.value, dist, version, "failed", _one_line(error)))
            continue
        if not isinstance(app, typer.Typer):
            reason = f"{ep.value} is a {type(app).__name__}, not a typer.Typer"
            plugins.append(Plugin(ep.name, ep.value, dist, version, "failed", reason))
            continue
        plugin = Plugin(ep.name, ep.value, dist, version, "loaded", app=app)
        plugins.append(plugin)
        winners[ep.name] = plugin
        taken.add(ep.name)
    return plugins


def problems(plugins: Iterable[Plugin]) -> list[str]:
    """One warning line per plugin that is not in use."""
    return [
        f"plugin {p.name!r} from {p.origin} ({p.module}) {'failed to load' if p.status == 'failed' else 'ignored'}: "
        f"{p.reason}"
        for p in plugins
        if p.status != "loaded"
    ]


def _distribution(ep: EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
