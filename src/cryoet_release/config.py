"""The effective configuration: built-in defaults < cryoet-release.toml < environment < command-line flags.

The defaults are the portal's current setup, so the tool works in the portal's repository with no file at all.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cryoet_release.config_files import CONFIG_ENV, DEFAULTS, find_config_file, find_git_root
from cryoet_release.errors import ConfigError
from cryoet_release.models import (
    AccountId,
    BucketName,
    Environment,
    ImageTag,
    Platform,
    RegistryHost,
    RepositoryName,
    validation_problems,
)

# Environment variables that override one config key each.
ENV_OVERRIDES = {
    "CRYOET_RELEASE_REGISTRY": "registry",
    "CRYOET_RELEASE_REGISTRY_ACCOUNT": "registry_account",
    "CRYOET_RELEASE_ENGINE": "engine",
}

# Where the portal's images live, whichever account queues the jobs (the old enqueue_runs.py hard-codes it).
PORTAL_REGISTRY_ACCOUNT = "908710317728"

Source = Literal["default", "file", "env", "flag"]
_PRECEDENCE: list[Source] = ["default", "file", "env", "flag"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageConfig(_Strict):
    context: str
    """Build context, relative to the project root (the config file's folder, else the git root)."""
    dockerfile: str = "Dockerfile"
    """Relative to the context."""
    repository: RepositoryName
    platform: Platform = "linux/amd64"


class EnvironmentConfig(_Strict):
    state_machine: str = "cryoet-ingestion-{environment}-default-wdl"
    bucket: BucketName
    https_prefix: str
    swipe_comms_bucket: BucketName | None = None
    """None: the account's bucket whose name contains `swipe-comms` and the environment name."""
    swipe_wdl_bucket: BucketName | None = None
    """None: the account's bucket whose name contains `swipe-wdl` and the environment name."""

    @field_validator("state_machine")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(environment="staging")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"{value!r} is not a name pattern: only {{environment}} may be in braces ({error})"
            ) from None
        return value

    def state_machine_name(self, environment: str) -> str:
        return self.state_machine.format(environment=environment)


class RateLimit(_Strict):
    bucket: float | None = Field(default=None, gt=0, le=100_000)
    """Requests that may go at once after a pause (None: the default share of the documented quota)."""
    refill: float | None = Field(default=None, gt=0, le=100_000)
    """Requests per second, steadily (None: the default share of the documented quota)."""


RateLimitedAction = Literal["StartExecution", "DescribeExecution", "ListExecutions"]


class CompareConfig(_Strict):
    scratch: str | None = None
    """`s3://bucket/prefix` where `compare queue` writes the outputs it compares (never a data bucket)."""

    @field_validator("scratch")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError(f"{value!r} is not an S3 prefix: write it s3://bucket/prefix")
        return value


class ReleaseConfig(_Strict):
    images: dict[str, ImageConfig]
    protected_tags: list[ImageTag] = Field(default_factory=lambda: ["main"])
    registry_account: AccountId = PORTAL_REGISTRY_ACCOUNT
    """Account whose ECR registry holds the images: build and push push there, enqueue's jobs pull from there."""
    registry: RegistryHost | None = None
    """Registry host used instead of the ECR host for login and push (a private mirror)."""
    engine: str | None = None
    """A registered container engine (docker, podman, ...); None: docker if its daemon answers, else podman."""
    environments: dict[Environment, EnvironmentConfig]
    rate_limits: dict[RateLimitedAction, RateLimit] = Field(default_factory=dict)
    """Step Functions action -> the rate this tool keeps to (default: a share of the documented quota)."""
    compare: CompareConfig = Field(default_factory=CompareConfig)

    @field_validator("engine")
    @classmethod
    def _registered(cls, value: str | None) -> str | None:
        from cryoet_release.engines import names

        if value is not None and value not in names():
            raise ValueError(f"{value!r} is not a registered container engine; registered: {', '.join(names())}")
        return value


UNSET_MEANS = {
    "registry": "none: the ECR host of registry_account",
    "engine": "discovered at run time: docker if its daemon answers, else podman",
    "environments.*.swipe_comms_bucket": (
        "discovered at run time: the bucket with swipe-comms and the environment in its name"
    ),
    "environments.*.swipe_wdl_bucket": (
        "discovered at run time: the bucket with swipe-wdl and the environment in its name"
    ),
    "rate_limits": "none: a share of each documented Step Functions quota",
    "compare.scratch": "none: compare queue then needs --scratch",
}
"""What a key left unset means (`config show` says it instead of an empty value)."""


def unset_means(key: str) -> str | None:
    from fnmatch import fnmatchcase

    return next((means for pattern, means in UNSET_MEANS.items() if fnmatchcase(key, pattern)), None)


@dataclass(frozen=True)
class LoadedConfig:
    config: ReleaseConfig
    root: Path
    """Folder that relative paths (image contexts) are resolved from."""
    path: Path | None
    """The file read, if any."""
    sources: dict[str, Source]
    """Dotted key -> where its value came from."""

    def flat(self) -> dict[str, Any]:
        """The effective values as dotted keys, defaults included."""
        return _flatten(self.config.model_dump(mode="json"))


def load_config(
    *,
    explicit: Path | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """Raises ConfigError naming the file (or variable) and the key when anything is not valid."""
    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    if explicit is None and environ.get(CONFIG_ENV):
        explicit = Path(environ[CONFIG_ENV])
    path = explicit if explicit is not None else find_config_file(cwd)

    layers: list[tuple[Source, dict[str, Any]]] = [("default", DEFAULTS)]
    if path is not None:
        layers.append(("file", _read_toml(path)))
    env_layer = {key: environ[var] for var, key in ENV_OVERRIDES.items() if environ.get(var)}
    layers.append(("env", env_layer))
    layers.append(("flag", dict(flags or {})))

    merged: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for source, layer in layers:
        _merge(merged, layer)
        sources.update(dict.fromkeys(_flatten(layer), source))
        if source == "default" or layer:
            # Each layer is checked as it is laid on: a bad value in the file is an error even when the
            # environment overrides it (it would surface the day the variable is unset).
            try:
                config = ReleaseConfig.model_validate(merged)
            except ValidationError as error:
                raise ConfigError(_describe(error, sources, path, environ)) from None

    root = path.parent if path is not None else (find_git_root(cwd) or cwd)
    return LoadedConfig(config=config, root=root.resolve(), path=path, sources=sources)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _describe(
    error: ValidationError, sources: Mapping[str, Source], path: Path | None, environ: Mapping[str, str]
) -> str:
    return "\n".join(
        f"{_origin(key, sources, path, environ)}: {key}: {message}" for key, message in validation_problems(error)
    )


def _origin(key: str, sources: Mapping[str, Source], path: Path | None, environ: Mapping[str, str]) -> str:
    parts = key.split(".")
    source: Source = "file" if path is not None else "default"
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        found = [src for dotted, src in sources.items() if dotted == prefix or dotted.startswith(prefix + ".")]
        if found:
            source = max(found, key=_PRECEDENCE.index)
            break
    if source == "env":
        variable = next((var for var, k in ENV_OVERRIDES.items() if k == parts[0] and var in environ), "")
        return f"environment variable {variable}"
    if source == "flag":
        return "command-line flag"
    if source == "file" and path is not None:
        return str(path)
    return "built-in default"
