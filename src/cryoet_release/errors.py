"""The errors the tool raises on purpose, and the exit code each one means.

Only `cli.py` turns these into messages and exit codes; everything else raises.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    AWS = 3
    ENGINE = 4
    INTERRUPTED = 130
    TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C, so every clean-up runs (auth stores, locks, the ledger)."""


class ReleaseError(Exception):
    """An error the user can act on: shown as one message, never with a traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class OperationFailed(ReleaseError):
    """The work was attempted and some of it failed (a submission, an immutable tag, ...)."""


class Interrupted(ReleaseError):
    """The user stopped the work (Ctrl-C) and what was done is accounted for."""

    exit_code = ExitCode.INTERRUPTED


class UsageError(ReleaseError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """cryoet-release.toml (or an override of it) is not valid."""


class PluginLoadError(UsageError):
    """A plugin failed to load while CRYOET_RELEASE_STRICT_PLUGINS=1."""


class AwsError(ReleaseError):
    """AWS refused, or the AWS account/profile/region is not the one the work needs."""

    exit_code = ExitCode.AWS


class CredentialsError(AwsError):
    pass


class Unreachable(AwsError):
    """No answer from AWS (or from the endpoint AWS_ENDPOINT_URL names)."""


class RegionError(AwsError):
    pass


class AccessDenied(AwsError):
    """AWS refused the call for lack of permission (IAM, a bucket policy, anonymous access)."""


class ResourceNotFound(AwsError):
    """A repository, image, bucket or state machine the work needs does not exist."""


class EngineError(ReleaseError):
    """The container engine is missing, down, or failed a command."""

    exit_code = ExitCode.ENGINE
