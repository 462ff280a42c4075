"""Plan a batch: every check and lookup against AWS, in order, before anything is submitted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cryoet_release import aws as cloud
from cryoet_release.config import EnvironmentConfig, ReleaseConfig
from cryoet_release.console import Output, plural
from cryoet_release.contract import MAX_INPUT_BYTES, Job, Target, make_jobs, oversized
from cryoet_release.errors import AccessDenied, AwsError, ConfigError, OperationFailed, ResourceNotFound, UsageError
from cryoet_release.kinds import Kind, Planning
from cryoet_release.lookup import Lookup
from cryoet_release.models import Environment, ImageRef, ImageTag, RepositoryName
from cryoet_release_plugins.options import MAX_PARALLELISM

PROFILE_HINT = (
    "Account {account} in {region} has no {environment} environment: check the profile (--profile / AWS_PROFILE)"
    " and the region (--region)"
)


class CommonOptions(BaseModel):
    """What every enqueue kind takes, validated and with its defaults filled in (recorded in the ledger)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Environment
    ecr_repo: RepositoryName
    ecr_tag: ImageTag
    tag_defaulted: bool = False
    """No --ecr-tag was given: the jobs run `main`, whatever branch the user is on."""
    memory: int = Field(ge=128, le=786_432, description="MB per job")
    parallelism: int = Field(ge=1, le=MAX_PARALLELISM)
    swipe_wdl_key: str = Field(min_length=1, max_length=1024)
    pin_digest: bool
    skip_image_check: bool
    dry_run: bool
    show_input: bool = False
    yes: bool
    batch: str | None
    ledger_dir: Path | None


@dataclass(frozen=True)
class Request:
    """What one enqueue of a kind asks for, once its options are validated."""

    kind: Kind
    common: CommonOptions
    command_line: Sequence[tuple[str, Any]] = ()
    """The kind's options as they occurred on the command line (see Planning.command_line)."""

    @property
    def environment(self) -> Environment:
        """The environment whose state machine runs the jobs (validate always runs on staging)."""
        return self.kind.runs_on or self.common.environment

    def repositories(self, config: ReleaseConfig) -> dict[str, str]:
        """Image role -> ECR repository the jobs pull from; `docker_image_id` is the one the job runs (--ecr-repo).
        Raises ConfigError for an image key the config lacks."""
        missing = [key for key in self.kind.images.values() if key not in config.images]
        if missing:
            raise ConfigError(f"images: enqueue {self.kind.name} needs image key(s) {', '.join(missing)}")
        repositories = {role: config.images[key].repository for role, key in self.kind.images.items()}
        repositories["docker_image_id"] = self.common.ecr_repo
        return repositories


@dataclass(frozen=True)
class Plan:
    batch: str
    kind: str
    environment: str
    account: str
    target: Target
    images: Images
    jobs: Sequence[Job]
    planning: Planning
    """What the kind was given (for its messages)."""
    notes: Sequence[str] = ()
    """What the user should read before anything is submitted."""

    def summary(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "kind": self.kind,
            "environment": self.environment,
            "state_machine": self.target.state_machine_arn,
            "images": dict(self.images.refs),
            "jobs": len(self.jobs),
        }


def resolve_target(aws: cloud.Aws, environment: str, settings: EnvironmentConfig) -> Target:
    """The state machine and both swipe buckets of the environment; raises ResourceNotFound naming what is missing."""
    hint = PROFILE_HINT.format(environment=environment, account=aws.account, region=aws.region)
    missing = []
    try:
        arn = cloud.state_machine_arn(aws, settings.state_machine_name(environment))
    except ResourceNotFound as error:
        missing.append(error.message)
        arn = ""
    names = cloud.bucket_names(aws)
    buckets = {}
    for role, explicit in (("swipe-comms", settings.swipe_comms_bucket), ("swipe-wdl", settings.swipe_wdl_bucket)):
        candidates = [explicit] if explicit else sorted(n for n in names if role in n and environment in n)
        found = [name for name in candidates if name in names]
        if not found:
            wanted = repr(explicit) if explicit else f"whose name contains {role!r} and {environment!r}"
            missing.append(f"no {role} bucket {wanted} in account {aws.account}")
        else:
            buckets[role] = found[0]
    if missing:
        raise ResourceNotFound("; ".join(missing), hint=hint)
    return Target(
        region=aws.region, state_machine_arn=arn, comms_bucket=buckets["swipe-comms"], wdl_bucket=buckets["swipe-wdl"]
    )


@dataclass(frozen=True)
class Images:
    refs: dict[str, str]
    """Role (docker_image_id, v2_docker_image_id) -> the reference the jobs run."""
    digests: dict[str, str]
    """Role -> the digest the tag had when the batch was planned, where it was looked up."""


def resolve_images(
    aws: cloud.Aws,
    output: Output,
    *,
    registry: str,
    repositories: Mapping[str, str],
    tag: str,
    pin: bool,
    check: bool,
    protected: Sequence[str] = (),
) -> Images:
    """The images the jobs run, after checking that the tag exists in every repository they pull from.

    Raises ResourceNotFound for a missing repository or tag; AwsError when --pin-digest cannot read a digest.
    """
    refs = {
        role: ImageRef(account=registry, region=aws.region, repository=repo, tag=tag)
        for role, repo in repositories.items()
    }
    tagged = {role: ref.tagged for role, ref in refs.items()}
    if not check and not pin:
        return Images(tagged, {})
    try:
        found = {
            role: cloud.image_digest(aws, registry_id=registry, repository=ref.repository, tag=tag)
            for role, ref in refs.items()
        }
    except AccessDenied as error:
        if pin:
            raise AwsError(
                f"--pin-digest needs the image digests, and ECR refused to show them: {error.message}",
                hint=f"Use a profile allowed to describe images in account {registry}, or drop --pin-digest",
            ) from None
        output.warn(f"could not verify tag {tag!r} in the registry of account {registry} (access denied); going on")
        return Images(tagged, {})
    missing = [role for role, digest in found.items() if digest is None]
    if missing:
        _refuse_missing(aws, registry, [refs[role] for role in missing], protected, checking=check)
    digests = {role: digest for role, digest in found.items() if digest is not None}
    if pin:
        return Images({role: refs[role].model_copy(update={"digest": digests[role]}).pinned for role in refs}, digests)
    return Images(tagged, digests)


def _refuse_missing(
    aws: cloud.Aws, registry: str, missing: Sequence[ImageRef], protected: Sequence[str], *, checking: bool = True
) -> None:
    """Raises ResourceNotFound naming what is missing (a repository, else the tag) and the way to fix it (`checking`:
    the image check is on; off, it is --pin-digest that needs the tag)."""
    where = f"the registry of account {registry} ({aws.region})"
    repositories = [
        ref.repository for ref in missing if cloud.repository(aws, registry_id=registry, name=ref.repository) is None
    ]
    if repositories:
        raise ResourceNotFound(
            f"ECR repository {', '.join(repr(r) for r in repositories)} does not exist in {where}",
            hint="Check --ecr-repo (default: the config's images.ingestor.repository) and --region",
        )
    tag = missing[0].tag
    names = ", ".join(ref.tagged for ref in missing)
    if tag in protected:
        hint = f"CI publishes {tag!r} on merge to main; check --region, or push a tag of your own and pass --ecr-tag"
    elif checking:
        hint = f"Build and push it with: cryoet-release build --tag {tag} --region {aws.region} (or --skip-image-check)"
    else:
        hint = f"--pin-digest needs the tag's digest: build and push it (cryoet-release build --tag {tag}), or drop it"
    raise ResourceNotFound(f"image tag not found where the jobs pull from: {names}", hint=hint)


def check_sizes(jobs: Sequence[Job]) -> None:
    too_big = oversized(jobs)
    if too_big:
        names = ", ".join(f"{job.name} ({job.size} bytes)" for job in too_big[:5])
        raise UsageError(f"{plural(len(too_big), 'input')} over Step Functions' {MAX_INPUT_BYTES}-byte limit: {names}")


def plan_batch(
    aws: cloud.Aws,
    config: ReleaseConfig,
    request: Request,
    output: Output,
    *,
    batch: str,
    cwd: Path,
    branch_tag: str | None = None,
) -> Plan:
    """Target, images, discovery, then the jobs with their names and exact inputs. Nothing is submitted.

    `branch_tag`: the current git branch's tag, to point out when the jobs run the default tag instead.
    """
    common, kind = request.common, request.kind
    repositories = request.repositories(config)
    target = resolve_target(aws, request.environment.value, config.environments[request.environment])
    registry = config.registry_account
    if registry != aws.account:
        output.info(f"jobs run images from the registry of account {registry}; queueing as account {aws.account}")
    images = resolve_images(
        aws,
        output,
        registry=registry,
        repositories=repositories,
        tag=common.ecr_tag,
        pin=common.pin_digest,
        check=not common.skip_image_check,
        protected=config.protected_tags,
    )
    local = kind.reads_from_image(cwd)
    if local is not None:
        _warn_if_changed_since_build(aws, config, repositories, common.ecr_tag, images, local, output)
    planning = Planning(
        config=config,
        environment=common.environment,
        images=images.refs,
        lookup=Lookup(aws, common.parallelism, output.warn),
        warn=output.warn,
        cwd=cwd,
        command_line=request.command_line,
        dry_run=common.dry_run,
    )
    specs = kind.jobs(planning)
    if not specs and not kind.found_nothing_is_fine:
        raise UsageError(f"nothing to enqueue: {kind.nothing_found(planning)}")
    jobs = make_jobs(
        specs,
        target,
        batch=batch,
        kind=kind.name,
        image=images.refs["docker_image_id"],
        wdl_key=common.swipe_wdl_key,
        memory=common.memory,
    )
    check_sizes(jobs)
    notes = _branch_note(aws, registry, repositories, common.ecr_tag, branch_tag) if common.tag_defaulted else []
    return Plan(batch, kind.name, request.environment.value, aws.account, target, images, jobs, planning, notes)


REVISION_LABEL = "org.opencontainers.image.revision"


def _warn_if_changed_since_build(
    aws: cloud.Aws,
    config: ReleaseConfig,
    repositories: Mapping[str, str],
    tag: str,
    images: Images,
    local: Path,
    output: Output,
) -> None:
    """The jobs read `local` from their image: say so when the user's copy differs from the revision the image
    was built from (the label build writes), in the working tree or in later commits."""
    from cryoet_release import git, oci
    from cryoet_release.config_files import find_git_root

    root = find_git_root(local.parent)
    if root is None:
        return
    repository = repositories["docker_image_id"]
    host = ImageRef.registry_host(config.registry_account, aws.region, config.registry)
    reference = images.digests.get("docker_image_id") or tag
    try:
        login = cloud.registry_login(aws, registry_id=config.registry_account)
        labels = oci.image_labels(host, repository, reference, login.username, login.password)
    except (AwsError, OperationFailed) as error:
        output.warn(f"could not read which revision {repository}:{reference} was built from: {error.message}")
        return
    label = labels.get(REVISION_LABEL, "")
    revision = label.removesuffix("-dirty")
    if not revision or revision == "unknown":
        return
    changed = git.changed_since(root, revision, local)
    if changed and label.endswith("-dirty"):  # built with uncommitted changes: the commit does not say what it holds
        output.info(
            f"the image was built from {revision[:12]} with uncommitted changes: it may carry your copy of"
            f" {local.relative_to(root)}, or another"
        )
        return
    if changed is None:
        output.warn(
            f"the image was built from {revision[:12]}, which this checkout does not have: {local.name} may differ"
        )
    elif changed:
        output.warn(
            f"{local.relative_to(root)} differs from the revision the image was built from ({revision[:12]}):"
            " the jobs read the image's copy, not yours (build and push it, or commit and let CI publish it)"
        )


def _branch_note(
    aws: cloud.Aws, registry: str, repositories: Mapping[str, str], tag: str, branch_tag: str | None
) -> list[str]:
    """When the tag was left to default while the current branch has its own tag in the registry, say so."""
    if branch_tag is None or branch_tag == tag:
        return []
    try:
        pushed = cloud.image_digest(
            aws, registry_id=registry, repository=repositories["docker_image_id"], tag=branch_tag
        )
    except AccessDenied:
        return []
    if pushed is None:
        return []
    return [
        f"your branch's image {branch_tag!r} is in the registry, but these jobs run {tag!r}"
        f" (the default): pass --ecr-tag {branch_tag} to run yours"
    ]
