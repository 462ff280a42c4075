"""The process as the tool sees it, and what the root command's options say: handed to every command as `ctx.obj`.

`Process` is read once, at the entry point (as httpie's `Environment`): variables, working folder, home and
the standard streams with their terminal flags. Everything below reads them from here, so logic is tested with an
environment made by the test, and only the real terminal path needs a pseudo-terminal.

Kept apart from config.py so that parsing options and printing `--help` never import pydantic's models.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cryoet_release.console import Output, configure_logging

if TYPE_CHECKING:
    from cryoet_release.aws import Aws
    from cryoet_release.config import LoadedConfig

APP = "cryoet-release"


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # a closed stream
        return False


@dataclass
class Process:
    """Variables, folders and standard streams of the process (None: a stream that was closed, as by `>&-`)."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    cwd: Path = field(default_factory=Path.cwd)
    home: Path = field(default_factory=Path.home)
    stdin: IO[str] | None = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] | None = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] | None = field(default_factory=lambda: sys.stderr)
    stdin_is_terminal: bool | None = None
    """None: ask the stream (a test sets it to say what a person at a terminal would be)."""

    def __post_init__(self) -> None:
        if self.stdin_is_terminal is None:
            self.stdin_is_terminal = _is_terminal(self.stdin)

    @property
    def interactive(self) -> bool:
        """Someone can answer a question: stdin is a terminal."""
        return bool(self.stdin_is_terminal)

    def state_dir(self) -> Path:
        """$XDG_STATE_HOME/cryoet-release (else ~/.local/state/cryoet-release), as platformdirs reads it."""
        import platformdirs

        return platformdirs.user_state_path(APP)

    def runtime_dir(self) -> Path | None:
        """The user's private runtime folder ($XDG_RUNTIME_DIR/cryoet-release) when the system gives one that
        platformdirs finds safe (a folder of the user's, mode 0700: a tmpfs that does not survive a reboot), else
        None."""
        runtime = self.environ.get("XDG_RUNTIME_DIR")
        if not runtime or not Path(runtime).is_dir():
            return None
        import logging
        import warnings

        import platformdirs

        with warnings.catch_warnings(record=True) as refused:
            warnings.simplefilter("always")
            path = platformdirs.user_runtime_path(APP)
        if refused:  # platformdirs fell back to a folder of its own choosing: the state folder is ours
            logging.getLogger("cryoet_release").debug("not using XDG_RUNTIME_DIR: %s", refused[0].message)
            return None
        return path


@dataclass
class GlobalOptions:
    """What the root command's options say, and the process environment; plugins read it from `ctx.obj`."""

    profile: str | None = None
    region: str | None = None
    json: bool = False
    verbose: bool = False
    config_path: Path | None = None
    process: Process = field(default_factory=Process)
    _loaded: dict[tuple[tuple[str, Any], ...], LoadedConfig] = field(default_factory=dict, repr=False)
    _output: Output | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        configure_logging(self.output, verbose=self.verbose)

    @property
    def environ(self) -> Mapping[str, str]:
        """The process environment, read once at the entry point (never read in leaf code)."""
        return self.process.environ

    @property
    def output(self) -> Output:
        if self._output is None:
            self._output = Output(json_mode=self.json, stdout=self.process.stdout, stderr=self.process.stderr)
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

            self._loaded[given] = load_config(
                explicit=self.config_path, flags=dict(given), environ=self.environ, cwd=self.process.cwd
            )
        return self._loaded[given]

    def aws(self, *, region: str | None = None, max_pool_connections: int = 10, profile: str | None = None) -> Aws:
        """A session for --profile (or `profile`) and `region` (else --region, else boto3's chain), sized for that
        many threads."""
        from cryoet_release.aws import Aws

        limits = {
            str(action): (limit.bucket, limit.refill) for action, limit in self.config().config.rate_limits.items()
        }
        return Aws(
            profile or self.profile, region or self.region, environ=self.environ,
            max_pool_connections=max_pool_connections, rate_limits=limits,
        )  # fmt: skip

    def confirm(self, question: str) -> bool:
        """Ask on the terminal; True for yes. End of input (Ctrl-D) is a no; Ctrl-C raises KeyboardInterrupt."""
        return self.output.ask(question, self.process.stdin)


def pid_alive(pid: int) -> bool:
    """A process of that id exists (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
