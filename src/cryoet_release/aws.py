"""Every boto3 call the tool makes.

Functions take an `Aws` (one session, one client per service) and return plain values; botocore's exceptions are
translated into the errors of `errors.py` here and nowhere else. boto3's own credential chain, retries and
`AWS_ENDPOINT_URL` are used as they are. Import this module inside command bodies: it imports boto3.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore import exceptions as bce
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import ValidationError

from cryoet_release.errors import AccessDenied, AwsError, CredentialsError, RegionError, ResourceNotFound, UsageError
from cryoet_release.models import AwsRegion, partition_of, validate_as, validation_problems


class Aws:
    """One boto3 session and its clients, for one profile and region.

    `max_pool_connections` should be the number of threads that share a client.
    """

    def __init__(
        self,
        profile: str | None = None,
        region: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        max_pool_connections: int = 10,
    ):
        self.profile = profile
        self._region_flag = region
        self._environ = os.environ if environ is None else environ
        self.max_pool_connections = max_pool_connections
        self._clients: dict[str, Any] = {}

    @cached_property
    def session(self) -> boto3.Session:
        with translate_errors(self.profile):
            return boto3.Session(profile_name=self.profile)

    @cached_property
    def region(self) -> str:
        """The region: --region, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's. Raises RegionError."""
        region = (
            self._region_flag
            or self._environ.get("AWS_REGION")
            or self._environ.get("AWS_DEFAULT_REGION")
            or self.session.region_name
        )
        if not region:
            where = f"profile {self.profile!r}" if self.profile else "the default profile"
            raise RegionError(
                f"no AWS region: pass --region, set AWS_REGION, or set a region for {where}",
                hint=f"aws configure set region us-west-2{f' --profile {self.profile}' if self.profile else ''}",
            )
        try:
            return str(validate_as(AwsRegion, region))
        except ValidationError as error:  # a malformed region is bad input, as in build's and push's --region
            raise UsageError(f"region: {validation_problems(error)[0][1]}") from None

    def client(self, service: str, *, unsigned: bool = False) -> Any:
        """A client with standard retries, shared by up to `max_pool_connections` threads.

        `unsigned`: anonymous requests, as a reader without credentials makes them (public buckets).
        """
        key = f"{service}:unsigned" if unsigned else service
        if key not in self._clients:
            # Standard retries; the number of attempts is botocore's (AWS_MAX_ATTEMPTS, else its default).
            config = Config(
                retries={"mode": "standard"},
                max_pool_connections=self.max_pool_connections,
                user_agent_extra="cryoet-release",
                **({"signature_version": UNSIGNED} if unsigned else {}),
            )
            session: Any = self.session  # the stubs type client() per literal service name only
            with translate_errors(self.profile):
                try:
                    self._clients[key] = session.client(service, region_name=self.region, config=config)
                except ValueError as error:  # botocore's own check of AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, ...
                    raise UsageError(
                        f"the AWS configuration is not valid: {error}",
                        hint="Check AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the profile's settings",
                    ) from None
        return self._clients[key]

    @cached_property
    def account(self) -> str:
        """The caller's account id (STS GetCallerIdentity)."""
        with translate_errors(self.profile):
            return str(self.client("sts").get_caller_identity()["Account"])


@contextmanager
def translate_errors(profile: str | None = None) -> Iterator[None]:
    """Turn botocore's credential, region and connection errors into one actionable line each."""
    login = f"aws sso login --profile {profile}" if profile else "aws sso login"
    try:
        yield
    except bce.ProfileNotFound as error:
        raise CredentialsError(
            f"AWS profile {error.kwargs.get('profile', profile)!r} is not configured",
            hint="List the profiles with: aws configure list-profiles",
        ) from None
    except (bce.SSOTokenLoadError, bce.UnauthorizedSSOTokenError, bce.TokenRetrievalError):
        raise CredentialsError("the AWS SSO session has expired or was never started", hint=f"Run: {login}") from None
    except (bce.NoCredentialsError, bce.PartialCredentialsError, bce.CredentialRetrievalError):
        raise CredentialsError(
            "no AWS credentials found",
            hint=f"Pass --profile, set AWS_PROFILE, or run: {login} (or aws configure)",
        ) from None
    except bce.NoRegionError:
        raise RegionError("no AWS region: pass --region or set AWS_REGION") from None
    except bce.EndpointConnectionError as error:
        raise AwsError(f"cannot reach AWS at {error.kwargs.get('endpoint_url', '?')}") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
            raise CredentialsError("the AWS credentials have expired", hint=f"Run: {login}") from None
        if code in {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}:
            raise CredentialsError(
                f"AWS rejected the credentials ({code})", hint="Check --profile / AWS_PROFILE"
            ) from None
        if code in ACCESS_DENIED:
            raise AccessDenied(f"{error.operation_name}: {code}: {message}") from error
        raise AwsError(f"{error.operation_name}: {code}: {message}") from error


ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "403", "Forbidden"}


# --- S3 -------------------------------------------------------------------------------------------------------


def bucket_names(aws: Aws) -> list[str]:
    with translate_errors(aws.profile):
        return [bucket["Name"] for bucket in aws.client("s3").list_buckets().get("Buckets", [])]


def list_subprefixes(aws: Aws, bucket: str, prefix: str, *, unsigned: bool = False) -> tuple[list[str], int]:
    """The common prefixes of ListObjectsV2 with Delimiter '/' and `prefix` as a plain string prefix (`100` gives
    `10000/`, `10001/`), and the number of calls made. Raises ResourceNotFound, AccessDenied."""
    paginator = aws.client("s3", unsigned=unsigned).get_paginator("list_objects_v2")
    found: list[str] = []
    calls = 0
    with translate_errors(aws.profile):
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                calls += 1
                found.extend(common["Prefix"] for common in page.get("CommonPrefixes", []))
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
            raise
    return found, calls


def object_exists(aws: Aws, bucket: str, key: str, *, unsigned: bool = False) -> bool:
    """Raises AccessDenied when the bucket refuses to say."""
    with translate_errors(aws.profile):
        try:
            aws.client("s3", unsigned=unsigned).head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
    return True


def create_bucket(aws: Aws, name: str) -> None:
    location = {} if aws.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    with translate_errors(aws.profile):
        aws.client("s3").create_bucket(Bucket=name, **location)


def put_object(aws: Aws, bucket: str, key: str, body: bytes) -> None:
    with translate_errors(aws.profile):
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def list_keys(aws: Aws, bucket: str, prefix: str) -> tuple[list[str], int]:
    """Every object key under `prefix` (ListObjectsV2 without a delimiter), and the number of calls made."""
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    found: list[str] = []
    calls = 0
    with translate_errors(aws.profile):
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                calls += 1
                found.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
            raise
    return found, calls


def read_object(aws: Aws, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such key."""
    with translate_errors(aws.profile):
        try:
            response = aws.client("s3").get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in {"404", "NoSuchKey"}:
                return None
            if _code(error) == "NoSuchBucket":
                raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
            raise
        return bytes(response["Body"].read())


def list_level(aws: Aws, bucket: str, prefix: str) -> tuple[list[str], list[str], int]:
    """One level under `prefix` (ListObjectsV2 with Delimiter '/'): the common prefixes (each ending in '/'), the
    object keys with no '/' after `prefix`, and the number of calls made. Raises ResourceNotFound, AccessDenied."""
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    directories: list[str] = []
    keys: list[str] = []
    calls = 0
    with translate_errors(aws.profile):
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                calls += 1
                directories.extend(common["Prefix"] for common in page.get("CommonPrefixes", []))
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
            raise
    return directories, keys, calls


# --- ECR ------------------------------------------------------------------------------------------------------


def image_digest(aws: Aws, *, registry_id: str, repository: str, tag: str) -> str | None:
    """The digest of `repository:tag` in that registry, or None when the tag or the repository is missing."""
    with translate_errors(aws.profile):
        try:
            response = aws.client("ecr").describe_images(
                registryId=registry_id, repositoryName=repository, imageIds=[{"imageTag": tag}]
            )
        except ClientError as error:
            if _code(error) in {"ImageNotFoundException", "RepositoryNotFoundException"}:
                return None
            raise
    details = response.get("imageDetails", [])
    return str(details[0]["imageDigest"]) if details else None


@dataclass(frozen=True)
class Repository:
    name: str
    registry_id: str
    immutable: bool


def repository(aws: Aws, *, registry_id: str, name: str) -> Repository | None:
    """The ECR repository, or None when it does not exist."""
    with translate_errors(aws.profile):
        try:
            found = aws.client("ecr").describe_repositories(registryId=registry_id, repositoryNames=[name])
        except ClientError as error:
            if _code(error) == "RepositoryNotFoundException":
                return None
            raise
    if not found["repositories"]:
        return None
    item = found["repositories"][0]
    return Repository(name, registry_id, item.get("imageTagMutability", "MUTABLE").startswith("IMMUTABLE"))


def create_repository(aws: Aws, *, registry_id: str, name: str) -> Repository:
    with translate_errors(aws.profile):
        aws.client("ecr").create_repository(registryId=registry_id, repositoryName=name)
    return Repository(name, registry_id, immutable=False)


def put_image_manifest(aws: Aws, *, repository: str, tag: str, manifest: str) -> str:
    """Register an image manifest under a tag (no layers are uploaded); returns its digest."""
    with translate_errors(aws.profile):
        image = aws.client("ecr").put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)
    return str(image["image"]["imageId"]["imageDigest"])


@dataclass(frozen=True, repr=False)
class RegistryLogin:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryLogin(username={self.username!r}, password=<hidden>)"


def registry_login(aws: Aws, *, registry_id: str) -> RegistryLogin:
    """ECR's docker login (GetAuthorizationToken): user name and password, for stdin only."""
    with translate_errors(aws.profile):
        data = aws.client("ecr").get_authorization_token(registryIds=[registry_id])["authorizationData"][0]
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return RegistryLogin(username, password)


# --- Step Functions -------------------------------------------------------------------------------------------


def state_machine_arn(aws: Aws, name: str) -> str:
    """The ARN of the named state machine in the session's account and region. Raises ResourceNotFound."""
    arn = f"arn:{partition_of(aws.region)}:states:{aws.region}:{aws.account}:stateMachine:{name}"
    with translate_errors(aws.profile):
        try:
            aws.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
        except ClientError as error:
            if _code(error) in {"StateMachineDoesNotExist", "InvalidArn"}:
                raise ResourceNotFound(f"state machine {name!r} does not exist in {aws.account} {aws.region}") from None
            raise
    return arn


def create_state_machine(aws: Aws, *, name: str, definition: str, role_arn: str) -> str:
    with translate_errors(aws.profile):
        created = aws.client("stepfunctions").create_state_machine(name=name, definition=definition, roleArn=role_arn)
    return str(created["stateMachineArn"])


def start_execution(aws: Aws, *, state_machine: str, name: str, document: str) -> tuple[str, str]:
    """StartExecution; returns the execution ARN and its start date (ISO 8601).

    Errors are botocore's own (after its retries), so callers can record the code of each failed job.
    """
    response = aws.client("stepfunctions").start_execution(stateMachineArn=state_machine, name=name, input=document)
    return str(response["executionArn"]), response["startDate"].isoformat()


@dataclass(frozen=True)
class Execution:
    name: str
    arn: str
    status: str
    start_date: str
    input: str | None = None
    error: str | None = None
    cause: str | None = None


def execution_arn(state_machine: str, name: str) -> str:
    """The ARN Step Functions gives an execution of that state machine with that name."""
    prefix, machine = state_machine.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def describe_execution(aws: Aws, arn: str) -> Execution | None:
    """None when no such execution exists."""
    with translate_errors(aws.profile):
        try:
            found = aws.client("stepfunctions").describe_execution(executionArn=arn)
        except ClientError as error:
            if _code(error) == "ExecutionDoesNotExist":
                return None
            raise
    return Execution(
        name=found["name"],
        arn=found["executionArn"],
        status=found["status"],
        start_date=found["startDate"].isoformat(),
        input=found.get("input"),
        error=found.get("error"),
        cause=found.get("cause"),
    )


def error_code(error: BaseException) -> str:
    """A short code for a failed AWS call: the service's error code, else the exception's type."""
    if isinstance(error, ClientError):
        return _code(error) or "ClientError"
    return type(error).__name__


def _code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {})
    return str(response.get("Error", {}).get("Code", ""))
