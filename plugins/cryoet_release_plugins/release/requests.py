"""The options shared by build and push, validated before anything happens; and the protected-tag policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

from cryoet_release.config import ImageConfig, LoadedConfig
from cryoet_release.errors import UsageError
from cryoet_release.models import AwsRegion, ImageTag, Platform


class ReleaseRequest(BaseModel):
    """The options shared by build and push, validated before anything happens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: ImageTag
    image: list[str]
    region: AwsRegion | None = None
    force: bool = False
    create_repository: bool = False
    engine: str | None = None

    def images(self, loaded: LoadedConfig) -> dict[str, ImageConfig]:
        """The chosen images (default: all configured), in config order. Raises UsageError for an unknown key."""
        configured = loaded.config.images
        unknown = [key for key in self.image if key not in configured]
        if unknown:
            raise UsageError(f"image: unknown image key(s) {', '.join(unknown)}; configured: {', '.join(configured)}")
        return {key: value for key, value in configured.items() if not self.image or key in self.image}


class BuildRequest(ReleaseRequest):
    platform: Platform | None = None
    build_arg: dict[str, str] = {}
    sha_tag: bool = False
    push: bool = True


def parse_build_args(pairs: Iterable[str]) -> dict[str, str]:
    """`K=V` pairs as docker takes them. Raises UsageError for a pair without '='."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"build-arg: {pair!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def refuse_protected(tag: str, loaded: LoadedConfig, environ: Mapping[str, str], *, force: bool) -> None:
    """A protected tag is CI's to push (GITHUB_ACTIONS=true), unless --force. Raises UsageError."""
    if tag in loaded.config.protected_tags and environ.get("GITHUB_ACTIONS") != "true" and not force:
        raise UsageError(
            f"tag {tag!r} is protected: CI publishes it on merge to main",
            hint="Use a personal tag (--tag), or pass --force if you really mean to replace it",
        )
