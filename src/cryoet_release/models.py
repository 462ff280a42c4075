"""Validated value types shared by the core and the plugins.

Each string type is an `Annotated[str, ...]` whose validator says in plain words what is wrong, so the CLI can
print `field: message` and exit 2 before anything happens.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError

from cryoet_release.names import Environment

__all__ = ["Environment"]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Commercial (us-east-1), China (cn-north-1) and GovCloud (us-gov-west-1) partitions, plus the newer
# two-letter-plus-digit shapes (ap-southeast-7, mx-central-1).
_REGION = re.compile(r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?)-[a-z]+-[0-9]{1,2}")
# ECR's documented repositoryName pattern, 2-256 characters.
_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
_ACCOUNT = re.compile(r"[0-9]{12}")
_DATASET = re.compile(r"[0-9]{1,12}")
_EXECUTION_NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_BRANCH_INVALID = re.compile(r"[^a-z0-9_.-]+")
# S3's general-purpose bucket naming rules, 3-63 characters.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# OCI platforms as engines take them: os/arch[/variant].
_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")
# A registry as an image reference names it (the distribution spec's domain): host[:port], no scheme, no path.
_REGISTRY = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
)


def _matching(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise ValueError(f"{shown!r} is not valid: {rule}")
        return value

    return AfterValidator(check)


ImageTag = Annotated[
    str,
    _matching(_TAG, "a tag is 1-128 of A-Z a-z 0-9 _ . - and cannot start with '.' or '-'"),
]
AwsRegion = Annotated[str, _matching(_REGION, "expected an AWS region such as us-west-2, cn-north-1 or us-gov-west-1")]


def _check_repository(value: str) -> str:
    if not 2 <= len(value) <= 256 or not _REPOSITORY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid ECR repository name: 2-256 lowercase letters, digits and "
            "'.', '_', '-' between them, '/' between path parts"
        )
    return value


RepositoryName = Annotated[str, AfterValidator(_check_repository)]
AccountId = Annotated[str, _matching(_ACCOUNT, "an AWS account id is exactly 12 digits")]
DatasetId = Annotated[str, _matching(_DATASET, "a dataset id is 1-12 digits")]
DepositionId = Annotated[str, _matching(_DATASET, "a deposition id is 1-12 digits")]
ExecutionName = Annotated[str, _matching(_EXECUTION_NAME, "an execution name is 1-80 of 0-9 A-Z a-z _ -")]
BucketName = Annotated[
    str, _matching(_BUCKET, "an S3 bucket name is 3-63 of a-z 0-9 . - and starts and ends with a letter or digit")
]
ImageDigest = Annotated[str, _matching(_DIGEST, "a digest is sha256: and 64 lowercase hex digits")]
Platform = Annotated[
    str, _matching(_PLATFORM, "a platform is os/arch[/variant], such as linux/amd64 or linux/arm64/v8")
]
RegistryHost = Annotated[
    str, _matching(_REGISTRY, "a registry is host[:port], such as 127.0.0.1:5000, without http:// or a path")
]


def _check_bucket_path(value: str) -> str:
    bucket = value.split("/", 1)[0]
    if not _BUCKET.fullmatch(bucket):
        shown = bucket if len(bucket) <= 40 else bucket[:37] + "..."
        raise ValueError(
            f"{shown!r} is not valid: a bucket (and key prefix) is bucket[/prefix], and an S3 bucket name is 3-63 of"
            " a-z 0-9 . - and starts and ends with a letter or digit"
        )
    return value


BucketPath = Annotated[str, AfterValidator(_check_bucket_path)]
"""`bucket[/prefix]`, sent as typed (the old script joined it with the rest as text)."""


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def ecr_host(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if partition_of(region) == "aws-cn" else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


class ImageRef(BaseModel):
    """One image in one registry: `<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`."""

    model_config = ConfigDict(frozen=True)

    account: AccountId
    region: AwsRegion
    repository: RepositoryName
    tag: ImageTag
    digest: ImageDigest | None = None
    registry: str | None = None
    """Host that replaces the ECR host (a private mirror, or a test registry)."""

    @staticmethod
    def registry_host(account: str, region: str, override: str | None = None) -> str:
        """The override host (a mirror), else the ECR host of the account and region."""
        return override or ecr_host(account, region)

    @property
    def host(self) -> str:
        return self.registry_host(self.account, self.region, self.registry)

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    @property
    def tagged(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def pinned(self) -> str:
        """The digest form when the digest is known, else the tag form."""
        return f"{self.name}@{self.digest}" if self.digest else self.tagged

    def __str__(self) -> str:
        return self.tagged


def loopback(host: str) -> bool:
    """A registry `host[:port]` on this machine's loopback, which speaks plain HTTP."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name == "localhost" or name.startswith("127.")


def branch_to_tag(branch: str) -> str:
    """Turn a git branch name into a valid image tag, as docker/metadata-action does.

    `feature/New DB` -> `feature-new-db`. Raises ValueError when nothing usable is left.
    """
    tag = _BRANCH_INVALID.sub("-", branch.strip().lower()).lstrip(".-")[:128]
    if not tag:
        raise ValueError(f"branch {branch!r} leaves no valid tag")
    return tag


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each problem of a ValidationError as (dotted field, plain message), the way the CLI prints them."""
    problems = []
    for problem in error.errors():
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        problems.append((".".join(str(part) for part in problem["loc"]), message.removeprefix("Value error, ")))
    return problems


def option_of(field: str) -> str:
    """A validated field as the command line names its option: `include_dataset.0` -> `include-dataset`."""
    return ".".join(part for part in field.split(".") if not part.isdigit()).replace("_", "-")


_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def validate_option(type_: Any, value: object, option: str) -> Any:
    """Validate one command-line value; raises UsageError as `option: message`."""
    from cryoet_release.errors import UsageError

    try:
        return validate_as(type_, value)
    except ValidationError as error:
        raise UsageError(f"{option}: {validation_problems(error)[0][1]}") from None


def validate_as(type_: Any, value: object) -> Any:
    """Validate one value against one of the types above (raises pydantic.ValidationError)."""
    adapter = _ADAPTERS.get(type_)
    if adapter is None:
        adapter = _ADAPTERS[type_] = TypeAdapter(type_)
    return adapter.validate_python(value)
