"""Where images go: the registry of `registry_account`, and the ECR checks before anything is pushed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from cryoet_release import aws as cloud
from cryoet_release.config import LoadedConfig
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import AccessDenied, OperationFailed, ResourceNotFound
from cryoet_release.models import ImageRef
from cryoet_release_plugins.release.requests import ReleaseRequest


@dataclass(frozen=True)
class Registry:
    """Where images go: the ECR registry of an account and region, or the configured override host."""

    account: str
    region: str
    override: str | None

    @property
    def host(self) -> str:
        return ImageRef.registry_host(self.account, self.region, self.override)

    def ref(self, repository: str, tag: str) -> ImageRef:
        return ImageRef(
            account=self.account, region=self.region, repository=repository, tag=tag, registry=self.override
        )


def registry_for(opts: GlobalOptions, request: ReleaseRequest, loaded: LoadedConfig) -> tuple[cloud.Aws, Registry]:
    """The session and the registry images go to: `registry_account`'s, whichever account the profile is."""
    aws = opts.aws(region=request.region)
    registry = Registry(account=loaded.config.registry_account, region=aws.region, override=loaded.config.registry)
    if registry.account != aws.account:
        opts.output.info(
            f"pushing as account {aws.account} to the registry of account {registry.account} ({registry.host})"
        )
    return aws, registry


@contextmanager
def cross_account(aws: cloud.Aws, registry: Registry) -> Iterator[None]:
    """ECR refusing the caller in another account's registry is an AWS error with the two ways out."""
    try:
        yield
    except AccessDenied as error:
        raise AccessDenied(
            f"ECR refused account {aws.account} in the registry of account {registry.account}: {error.message}",
            hint=f"Use a profile of account {registry.account} (--profile), or set registry_account"
            f" (CRYOET_RELEASE_REGISTRY_ACCOUNT) to {aws.account}",
        ) from None


def check_repositories(
    aws: cloud.Aws, registry: Registry, targets: Mapping[str, Sequence[ImageRef]], *, create: bool, dry_run: bool
) -> list[str]:
    """Each repository exists (or is created with --create-repository); an immutable tag is not there yet.

    Returns what was (or, in a dry run, would be) created. Raises ResourceNotFound / OperationFailed.
    """
    created = []
    for refs in targets.values():
        name = refs[0].repository
        repository = cloud.repository(aws, registry_id=registry.account, name=name)
        if repository is None:
            if not create:
                raise ResourceNotFound(
                    f"ECR repository {name!r} does not exist in account {registry.account}, region {registry.region}",
                    hint="Check --profile/--region, or pass --create-repository to create it",
                )
            if not dry_run:
                cloud.create_repository(aws, registry_id=registry.account, name=name)
            created.append(name)
            continue
        if repository.immutable:
            taken = [
                r.tag for r in refs if cloud.image_digest(aws, registry_id=registry.account, repository=name, tag=r.tag)
            ]
            if taken:
                raise OperationFailed(
                    f"ECR repository {name!r} has immutable tags and {', '.join(taken)} is already there",
                    hint="Push under a new tag",
                )
    return created
