"""What the root command's options say, handed to every command as `ctx.obj`.

Kept apart from config.py so that parsing options and printing `--help` never import pydantic's models.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryoet_release.console import Output, configure_logging

if TYPE_CHECKING:
    from cryoet_release.aws import Aws
    from cryoet_release.config import LoadedConfig


@dataclass
class GlobalOptions:
    """What the root command's options say; plugins read it from `ctx.obj`."""

    profile: str | None = None
    region: str | None = None
    json: bool = False
    verbose: bool = False
    config_path: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    """The process environment, read here once and handed to whatever needs it (never read in leaf code)."""
    _loaded: dict[tuple[tuple[str, Any], ...], LoadedConfig] = field(default_factory=dict, repr=False)
    _output: Output | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        configure_logging(self.output, verbose=self.verbose)

    @property
    def output(self) -> Output:
        if self._output is None:
            self._output = Output(json_mode=self.json)
        return self._output

    def update(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        json_output: bool | None = None,
        verbose: bool | None = None,
        config: Path | None = None,
    ) -> None:
        """A global option given after a command name (the parameter names are the root command's)."""
        self.profile = profile or self.profile
        self.region = region or self.region
        self.config_path = Path(config) if config else self.config_path
        if json_output:
            self.json = self.output.json_mode = True
        if verbose:
            self.verbose = True
            configure_logging(self.output, verbose=True)

    def config(self, **flags: Any) -> LoadedConfig:
        """Load (once per set of flags) the effective config; flags set to None are ignored."""
        given = tuple(sorted((k, v) for k, v in flags.items() if v is not None))
        if given not in self._loaded:
            from cryoet_release.config import load_config

            self._loaded[given] = load_config(explicit=self.config_path, flags=dict(given), environ=self.environ)
        return self._loaded[given]

    def aws(self, *, region: str | None = None, max_pool_connections: int = 10) -> Aws:
        """A session for --profile and `region` (else --region, else boto3's chain), sized for that many threads."""
        from cryoet_release.aws import Aws

        return Aws(self.profile, region or self.region, environ=self.environ, max_pool_connections=max_pool_connections)
