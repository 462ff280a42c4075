"""What `build` and `push` share: validated requests, registry checks, login, push, and the result report."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from cryoet_release import aws as cloud
from cryoet_release import engine as engines
from cryoet_release import git
from cryoet_release.config import ImageConfig, LoadedConfig
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import AccessDenied, EngineError, OperationFailed, ResourceNotFound, UsageError
from cryoet_release.models import AwsRegion, ImageRef, ImageTag, ecr_host

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger("cryoet_release.release")
_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?")

Status = Literal["pushed", "already there", "built", "would push", "would build"]


class ReleaseRequest(BaseModel):
    """The options shared by build and push, validated before anything happens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: ImageTag
    image: list[str]
    region: AwsRegion | None = None
    force: bool = False
    create_repository: bool = False
    engine: Literal["docker", "podman"] | None = None

    def images(self, loaded: LoadedConfig) -> dict[str, ImageConfig]:
        """The chosen images (default: all configured), in config order. Raises UsageError for an unknown key."""
        configured = loaded.config.images
        unknown = [key for key in self.image if key not in configured]
        if unknown:
            raise UsageError(f"image: unknown image key(s) {', '.join(unknown)}; configured: {', '.join(configured)}")
        return {key: value for key, value in configured.items() if not self.image or key in self.image}


class BuildRequest(ReleaseRequest):
    platform: str | None = None
    build_arg: dict[str, str] = {}
    sha_tag: bool = False
    push: bool = True

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str | None) -> str | None:
        if value is not None and not _PLATFORM.fullmatch(value):
            raise ValueError(f"{value!r} is not a platform such as linux/amd64 or linux/arm64/v8")
        return value


def parse_build_args(pairs: Iterable[str]) -> dict[str, str]:
    """`K=V` pairs as docker takes them. Raises UsageError for a pair without '='."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"build-arg: {pair!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def refuse_protected(tag: str, loaded: LoadedConfig, *, force: bool) -> None:
    if tag in loaded.config.protected_tags and os.environ.get("GITHUB_ACTIONS") != "true" and not force:
        raise UsageError(
            f"tag {tag!r} is protected: CI publishes it on merge to main",
            hint="Use a personal tag (--tag), or pass --force if you really mean to replace it",
        )


@dataclass(frozen=True)
class Registry:
    """Where images go: the ECR registry of an account and region, or the configured override host."""

    account: str
    region: str
    override: str | None

    @property
    def host(self) -> str:
        return self.override or ecr_host(self.account, self.region)

    def ref(self, repository: str, tag: str) -> ImageRef:
        return ImageRef(
            account=self.account, region=self.region, repository=repository, tag=tag, registry=self.override
        )


def registry_for(opts: GlobalOptions, request: ReleaseRequest, loaded: LoadedConfig) -> tuple[cloud.Aws, Registry]:
    """The session and the registry images go to: `registry_account`'s, whichever account the profile is."""
    aws = cloud.Aws(opts.profile, request.region or opts.region)
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


@dataclass
class Released:
    key: str
    repository: str
    refs: list[str]
    status: Status
    size: int | None = None
    digest: str | None = None
    image_id: str | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        return [ref.rsplit(":", 1)[1] for ref in self.refs]

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.key,
            "repository": self.repository,
            "tags": self.tags,
            "refs": self.refs,
            "digest": self.digest,
            "size": self.size,
            "image_id": self.image_id,
            "status": self.status,
            **({"commands": self.commands} if self.commands else {}),
        }


def push_images(
    engine: engines.Engine,
    aws: cloud.Aws,
    registry: Registry,
    released: Sequence[Released],
    output: Output,
    auth_root: Path,
) -> None:
    """Log in to the registry with an ECR token and push every ref; fills in digest and status."""
    host = registry.host
    with cross_account(aws, registry):
        before = {
            item.key: cloud.image_digest(
                aws, registry_id=registry.account, repository=item.repository, tag=item.tags[0]
            )
            for item in released
        }
        credentials = cloud.registry_login(aws, registry_id=registry.account)
    with (
        engines.logged_in(engine, host, credentials.username, credentials.password, auth_root) as session,
        output.activity() as live,
        ThreadPoolExecutor(max_workers=len(released)) as pool,
    ):

        def push_one(item: Released) -> None:
            show = _live_line(live, item.key, "push")
            for ref in item.refs:
                digest = engines.push(session, ref, show)
                item.digest = item.digest or digest
            # Compared with what ECR held for the tag before this push.
            item.status = "already there" if before[item.key] and before[item.key] == item.digest else "pushed"
            show(item.status, done=True)

        list(pool.map(push_one, released))


class _LiveLine(Protocol):
    def __call__(self, line: str, *, done: bool = False) -> None: ...


def _live_line(live: Progress, key: str, step: str) -> _LiveLine:
    """A log sink that shows the latest line of one image's step, and logs every line at debug level."""
    task = live.add_task(f"{key}: {step}", total=None)

    def show(line: str, *, done: bool = False) -> None:
        log.debug("%s %s: %s", key, step, line)
        if done:
            live.update(task, description=f"{key}: {line[:100]}", completed=1, total=1)
        else:
            live.update(task, description=f"{key}: {line[:100]}")

    return show


def report(output: Output, released: Sequence[Released], *, dry_run: bool = False) -> None:
    """The result table (or --json), and under GitHub Actions the step outputs and summary."""
    rows = [item.as_json() for item in released]
    output.result(
        {"images": rows, "dry_run": dry_run},
        lambda: output.table(
            ["image", "repository", "tag(s)", "digest", "size", "status"],
            (
                [r["image"], r["repository"], ", ".join(r["tags"]), r["digest"] or "-", _size(r["size"]), r["status"]]
                for r in rows
            ),
        ),
    )
    if dry_run:
        for item in released:
            for command in item.commands:
                output.info(command)
    elif os.environ.get("GITHUB_ACTIONS") == "true":
        write_github_outputs(released)


def write_github_outputs(released: Sequence[Released]) -> None:
    if path := os.environ.get("GITHUB_OUTPUT"):
        with Path(path).open("a", encoding="utf-8") as out:
            for item in released:
                out.write(f"{item.key}-ref={item.refs[0]}\n")
                if item.digest:
                    out.write(f"{item.key}-digest={item.digest}\n")
    if path := os.environ.get("GITHUB_STEP_SUMMARY"):
        lines = ["| image | repository | tags | digest | status |", "|---|---|---|---|---|"]
        lines += [
            f"| {i.key} | {i.repository} | {', '.join(i.tags)} | `{i.digest or '-'}` | {i.status} |" for i in released
        ]
        with Path(path).open("a", encoding="utf-8") as summary:
            summary.write("\n".join(lines) + "\n")


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _labels(root: Path, tag: str) -> dict[str, str]:
    revision = git.revision(root)
    labels = {
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.version": tag,
        "org.opencontainers.image.revision": revision.label if revision else "unknown",
    }
    if source := git.remote_url(root):
        labels["org.opencontainers.image.source"] = source
    return labels


def run_build(opts: GlobalOptions, request: BuildRequest, *, dry_run: bool) -> None:
    """Build the chosen images and (unless --no-push) push them. Validates everything before any side effect."""
    output = opts.output
    loaded = opts.config(engine=request.engine)
    images = request.images(loaded)
    if request.push:
        refuse_protected(request.tag, loaded, force=request.force)
    contexts = {key: loaded.root / image.context for key, image in images.items()}
    for key, image in images.items():
        if not (contexts[key] / image.dockerfile).is_file():
            raise UsageError(f"image {key}: no Dockerfile at {contexts[key] / image.dockerfile}")
    tags = [request.tag]
    if request.sha_tag:
        revision = git.revision(loaded.root)
        if revision is None:
            raise UsageError(f"--sha-tag needs a git checkout; {loaded.root} is not one")
        tags.append(f"sha-{revision.short}")
    labels = _labels(loaded.root, request.tag)
    aws, registry = registry_for(opts, request, loaded)
    targets = {key: [registry.ref(image.repository, t) for t in tags] for key, image in images.items()}
    created = []
    if request.push:
        with cross_account(aws, registry):
            created = check_repositories(aws, registry, targets, create=request.create_repository, dry_run=dry_run)
    for name in created:
        output.info(f"{'would create' if dry_run else 'created'} ECR repository {name}")

    specs = {
        key: engines.BuildSpec(
            context=contexts[key],
            dockerfile=contexts[key] / image.dockerfile,
            tags=[ref.tagged for ref in targets[key]],
            labels=labels,
            build_args=request.build_arg,
            platform=request.platform or image.platform,
        )
        for key, image in images.items()
    }

    if dry_run:
        kind = loaded.config.engine or engines.detect() or "docker"
        released = []
        for key, image in images.items():
            commands = [engines.build_command(kind, specs[key])]
            if request.push:
                commands.append(engines.login_command(kind, registry.host, "AWS"))
                commands += [engines.push_command(kind, ref.tagged) for ref in targets[key]]
            status: Status = "would push" if request.push else "would build"
            released.append(
                Released(key, image.repository, [r.tagged for r in targets[key]], status, commands=commands)
            )
        report(output, released, dry_run=True)
        return

    engine = engines.connect(loaded.config.engine)
    with output.activity() as live, ThreadPoolExecutor(max_workers=len(images)) as pool:

        def build_one(key: str) -> Released:
            show = _live_line(live, key, "build")
            built = engines.build(engine, specs[key], show)
            show(f"built {built.id[:19]}", done=True)
            refs = [ref.tagged for ref in targets[key]]
            return Released(key, images[key].repository, refs, "built", size=built.size, image_id=built.id)

        # Images build side by side: the engine serialises what must be, and each gets its own live line.
        released = list(pool.map(build_one, images))
    if request.push:
        push_images(engine, aws, registry, released, output, engines.auth_root(os.environ))
    report(output, released)


def run_push(opts: GlobalOptions, request: ReleaseRequest, *, dry_run: bool) -> None:
    """Push images already built here; never builds. A local image tagged for another region is retagged."""
    output = opts.output
    loaded = opts.config(engine=request.engine)
    images = request.images(loaded)
    refuse_protected(request.tag, loaded, force=request.force)
    aws, registry = registry_for(opts, request, loaded)
    engine = engines.connect(loaded.config.engine)
    local = engines.local_tags(engine)
    released, retags = [], []
    for key, image in images.items():
        target = registry.ref(image.repository, request.tag).tagged
        found = engines.inspect(engine, target)
        commands = []
        if found is None:
            source = next((name for name in local if _same_image(name, image.repository, request.tag, registry)), None)
            if source is None:
                raise EngineError(
                    f"no local image for {key}: {target} is not in {engine.kind}'s image store",
                    hint=f"Build it first: cryoet-release build --no-push --tag {request.tag} --image {key}"
                    f" --region {registry.region}",
                )
            found = engines.inspect(engine, source)
            retags.append((source, target))
            commands.append(engines.tag_command(engine.kind, source, target))
        commands.append(engines.push_command(engine.kind, target))
        status: Status = "would push" if dry_run else "pushed"
        size, image_id = (found.size, found.id) if found else (None, None)
        released.append(Released(key, image.repository, [target], status, size, image_id=image_id, commands=commands))
    targets = {item.key: [registry.ref(item.repository, request.tag)] for item in released}
    with cross_account(aws, registry):
        check_repositories(aws, registry, targets, create=request.create_repository, dry_run=dry_run)
    if dry_run:
        report(output, released, dry_run=True)
        return
    for source, target in retags:
        output.info(f"retagging {source} as {target}")
        engines.tag(engine, source, target)
    push_images(engine, aws, registry, released, output, engines.auth_root(os.environ))
    report(output, released)


def _same_image(name: str, repository: str, tag: str, registry: Registry) -> bool:
    """`name` is repository:tag in an ECR registry of any region (or in the override registry)."""
    hosts = r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?"
    if registry.override:
        hosts += "|" + re.escape(registry.override)
    return re.fullmatch(rf"(?:{hosts})/{re.escape(repository)}:{re.escape(tag)}", name) is not None
