"""Container engines: a plugin point of their own (entry-point group `cryoet_release.engines`).

An engine is one class in one module (`engines.base.Engine`: build, push, login, inspect, through python-on-whales);
docker and podman are registered in this project's pyproject.toml exactly as a third party registers its own:

    [project.entry-points."cryoet_release.engines"]
    nerdctl = "my_package.nerdctl:Nerdctl"

Every engine call of the tool is in this package. This module is light (the names of the engines, for `--engine`
choices and completion); `connect` imports the engines themselves, and python-on-whales with them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryoet_release import plugins
from cryoet_release.errors import EngineError, UsageError

if TYPE_CHECKING:
    from cryoet_release.engines.base import Engine


def names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The registered engines' names (from the entry points; nothing is imported)."""
    return sorted({item.name for item in plugins.discover(environ, plugins.ENGINES)})


def _is_engine(loaded: Any) -> str | None:
    from cryoet_release.engines.base import Engine

    if isinstance(loaded, type) and issubclass(loaded, Engine):
        return None
    return f"is a {type(loaded).__name__}, not a subclass of cryoet_release.engines.base.Engine"


def registered_plugins(environ: Mapping[str, str] = os.environ) -> list[plugins.Plugin]:
    """Every registered engine as a plugin (loaded, or why not), for `cryoet-release plugins`."""
    return plugins.load_plugins(group=plugins.ENGINES, environ=environ, check=_is_engine)


def registered(environ: Mapping[str, str] = os.environ, warn: Any = None) -> dict[str, type[Engine]]:
    """Every engine that loads, by name; `warn` hears about the ones that do not (isolated like broken plugins)."""
    found = registered_plugins(environ)
    for problem in plugins.problems(found):
        if warn is not None:
            warn(problem)
    return {item.name: item.loaded for item in found if item.status == "loaded"}


def engine_class(name: str, environ: Mapping[str, str] = os.environ, warn: Any = None) -> type[Engine]:
    """The engine registered as `name`. Raises UsageError naming the registered ones."""
    engines = registered(environ, warn)
    if name not in engines:
        raise UsageError(f"engine: {name!r} is not a registered container engine; registered: {', '.join(engines)}")
    return engines[name]


def detect(environ: Mapping[str, str] = os.environ, warn: Any = None) -> str:
    """The first engine, in order of preference (docker, then podman, then others), usable here. Raises EngineError
    saying why each one is not."""
    ranked = sorted(registered(environ, warn).items(), key=lambda item: (item[1].preference, item[0]))
    reasons = []
    for name, engine in ranked:
        reason = engine.unusable()
        if reason is None:
            return name
        reasons.append(reason)
    raise EngineError(
        f"no container engine: {'; '.join(reasons) or 'none is registered'}",
        hint="Install podman (apt-get install podman) or start docker, or pass --engine",
    )


def connect(name: str | None = None, environ: Mapping[str, str] = os.environ, warn: Any = None) -> Engine:
    """The chosen engine, else the detected one, answering. Raises EngineError."""
    return engine_class(name or detect(environ, warn), environ, warn).connect()
