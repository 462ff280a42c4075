"""Every boto3 call the tool makes.

Functions take an `Aws` (one session, one client per service) and return plain values. Each is an `@aws_call`:
botocore's exceptions become the errors of `errors.py` there and nowhere else; a missing resource is caught as the
exception botocore models for it (`client.exceptions.X`). boto3's own credential chain, retry settings and
`AWS_ENDPOINT_URL` are used as they are. Import this module inside command bodies: it imports boto3.
"""

from __future__ import annotations

import base64
import difflib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Concatenate, ParamSpec, TypeVar

import boto3
import botocore.parsers
import botocore.session
from botocore import UNSIGNED
from botocore import exceptions as bce
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import ValidationError

from cryoet_release import quotas
from cryoet_release.errors import (
    AccessDenied,
    AwsError,
    CredentialsError,
    RegionError,
    ResourceNotFound,
    Unreachable,
    UsageError,
)
from cryoet_release.models import AwsRegion, partition_of, validate_as, validation_problems

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("cryoet_release.aws")
# What -v shows of a call's parameters: the names of things, never an input document, a credential or a token.
_LOGGED_PARAMETERS = (
    "Bucket", "Prefix", "Delimiter", "Key", "registryId", "repositoryName", "imageIds", "stateMachineArn",
    "executionArn", "name",
)  # fmt: skip


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
        rate_limits: Mapping[str, quotas.Override] | None = None,
    ):
        self.profile = profile
        self._region_flag = region
        self._environ = os.environ if environ is None else environ
        self.max_pool_connections = max_pool_connections
        self.rate_limits = dict(rate_limits or {})
        """Step Functions action -> the limit this process keeps to (else quotas.default_limit)."""
        self._clients: dict[str, Any] = {}

    @cached_property
    def _core(self) -> botocore.session.Session:
        core = botocore.session.Session()
        # As the AWS CLI does (awscli.customizations.scalarparse): its own timestamp parser for every response.
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
        return core

    @cached_property
    def session(self) -> boto3.Session:
        with translate_errors(self.profile):
            return boto3.Session(botocore_session=self._core, profile_name=self.profile)

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
            region = str(validate_as(AwsRegion, region))
        except ValidationError as error:  # a malformed region is bad input, as in build's and push's --region
            raise UsageError(f"region: {validation_problems(error)[0][1]}") from None
        with translate_errors(self.profile):
            known = self._core.get_available_regions("s3", partition_of(region))
        close = difflib.get_close_matches(region, known, n=1)
        if known and region not in known and close:  # a typo; a region newer than botocore has no close twin
            raise UsageError(f"region: {region!r} is not an AWS region; did you mean {close[0]}?")
        return region

    def client(self, service: str, *, unsigned: bool = False) -> Any:
        """A client shared by up to `max_pool_connections` threads, with the user's retry settings.

        Retries are botocore's: the mode and attempts the user set (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS, the
        profile's retry_mode / max_attempts), and standard mode when none is set (botocore's default, legacy, gives
        up on throttling sooner). `unsigned`: anonymous requests, as a reader without credentials makes them.
        """
        key = f"{service}:unsigned" if unsigned else service
        if key not in self._clients:
            session: Any = self.session  # the stubs type client() per literal service name only
            with translate_errors(self.profile):
                chosen = self._core.get_config_variable("retry_mode", methods=("env", "config"))
                config = Config(
                    retries=None if chosen else {"mode": "standard"},
                    max_pool_connections=self.max_pool_connections,
                    user_agent_extra="cryoet-release",
                    **({"signature_version": UNSIGNED} if unsigned else {}),
                )
                try:
                    client = session.client(service, region_name=self.region, config=config)
                except (ValueError, bce.InvalidRetryConfigurationError) as error:  # botocore's own checks
                    raise UsageError(
                        f"the AWS configuration is not valid: {error}",
                        hint="Check AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the profile's settings",
                    ) from None
            if log.isEnabledFor(logging.DEBUG):
                client.meta.events.register("before-parameter-build", _started)
                client.meta.events.register("after-call", _finished)
                client.meta.events.register("after-call-error", _failed)
            self._limit(client)
            self._clients[key] = client
        return self._clients[key]

    def limiter(self, action: str) -> quotas.Limiter | None:
        """The process's one limiter of a Step Functions action in this session's region (see quotas)."""
        return quotas.limiter(action, self.region, self.rate_limits)

    def _limit(self, client: Any) -> None:
        """Every request of a limited action (each attempt of botocore's retries too) waits for its limiter's
        token, and a throttled one slows the limiter down."""
        service = client.meta.service_model.service_id.hyphenize()
        for action in quotas.DOCUMENTED if service == "sfn" else ():
            limiter = self.limiter(action)
            if limiter is None:
                continue
            client.meta.events.register(f"before-send.{service}.{action}", _waiting_for(limiter))
            client.meta.events.register(f"needs-retry.{service}.{action}", _slowing(limiter))

    @cached_property
    def account(self) -> str:
        """The caller's account id (STS GetCallerIdentity)."""
        with translate_errors(self.profile):
            return str(self.client("sts").get_caller_identity()["Account"])


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp (what S3's listings send, one per object) by the standard library, several times faster
    than botocore's default (dateutil), which parses everything else (epoch seconds, RFC 1123)."""
    if isinstance(value, str) and value[:4].isdigit():
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed  # naive when the text names no zone, as botocore's
    return botocore.parsers.DEFAULT_TIMESTAMP_PARSER(value)


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
        raise Unreachable(f"cannot reach AWS at {_endpoint(error.kwargs.get('endpoint_url'))}") from error
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


def _endpoint(url: str | None) -> str:
    """The endpoint a request went to, without the request's own path and query (an S3 listing's URL names them)."""
    if not url:
        return "?"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/" if parts.netloc else url


def _waiting_for(limiter: quotas.Limiter) -> Callable[..., None]:
    def wait(**_: Any) -> None:
        limiter.acquire()

    return wait


_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


def _slowing(limiter: quotas.Limiter) -> Callable[..., None]:
    def check(response: Any = None, **_: Any) -> None:
        parsed = response[1] if isinstance(response, tuple) and len(response) == 2 else {}
        if isinstance(parsed, Mapping) and parsed.get("Error", {}).get("Code") in _THROTTLED:
            limiter.throttled()
            log.debug("throttled: %s", "slowing down")

    return check


def _started(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["cryoet_release_began"] = time.monotonic()
    context["cryoet_release_params"] = {k: params[k] for k in _LOGGED_PARAMETERS if k in params}


def _call_line(model: Any, context: Mapping[str, Any]) -> str:
    took = (time.monotonic() - context.get("cryoet_release_began", time.monotonic())) * 1000
    shown = " ".join(f"{k}={v}" for k, v in context.get("cryoet_release_params", {}).items())
    return f"{model.service_model.service_name} {model.name} {shown} ({took:.0f} ms".replace("  (", " (")


def _finished(http_response: Any, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any) -> None:
    retries = parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    log.debug("%s, HTTP %s, %s retries)", _call_line(model, context), http_response.status_code, retries)


def _failed(exception: BaseException, model: Any, context: Mapping[str, Any], **_: Any) -> None:
    log.debug("%s, failed: %s)", _call_line(model, context), type(exception).__name__)


def aws_call(function: Callable[Concatenate[Aws, P], R]) -> Callable[Concatenate[Aws, P], R]:
    """The function's botocore errors, translated (see translate_errors) for the profile of its `Aws`."""

    @functools.wraps(function)
    def translated(aws: Aws, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors(aws.profile):
            return function(aws, *args, **kwargs)

    return translated


# --- S3 -------------------------------------------------------------------------------------------------------


@aws_call
def bucket_names(aws: Aws) -> list[str]:
    return [bucket["Name"] for bucket in aws.client("s3").list_buckets().get("Buckets", [])]


@aws_call
def list_subprefixes(aws: Aws, bucket: str, prefix: str, *, unsigned: bool = False) -> tuple[list[str], int]:
    """The common prefixes of ListObjectsV2 with Delimiter '/' and `prefix` as a plain string prefix (`100` gives
    `10000/`, `10001/`), and the number of calls made. Raises ResourceNotFound, AccessDenied."""
    directories, _, calls = _list(aws.client("s3", unsigned=unsigned), bucket, prefix, delimiter="/")
    return directories, calls


def _list(s3: Any, bucket: str, prefix: str, *, delimiter: str | None) -> tuple[list[str], list[str], int]:
    """ListObjectsV2, every page: (common prefixes, keys, calls). Raises ResourceNotFound for a missing bucket."""
    paginator = s3.get_paginator("list_objects_v2")
    directories: list[str] = []
    keys: list[str] = []
    calls = 0
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, **({"Delimiter": delimiter} if delimiter else {})):
            calls += 1
            directories.extend(common["Prefix"] for common in page.get("CommonPrefixes", []))
            keys.extend(item["Key"] for item in page.get("Contents", []))
    except s3.exceptions.NoSuchBucket:
        raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
    return directories, keys, calls


@aws_call
def object_exists(aws: Aws, bucket: str, key: str, *, unsigned: bool = False) -> bool:
    """Raises AccessDenied when the bucket refuses to say."""
    try:
        aws.client("s3", unsigned=unsigned).head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in {"404", "NoSuchKey", "NotFound"}:  # a HEAD has no body: botocore models no exception
            return False
        raise
    return True


@aws_call
def folder_exists(aws: Aws, bucket: str, prefix: str, *, unsigned: bool = False) -> bool:
    """Whether any key starts with `prefix` (one ListObjectsV2 of at most one key). Raises ResourceNotFound."""
    s3 = aws.client("s3", unsigned=unsigned)
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except s3.exceptions.NoSuchBucket:
        raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
    return int(listed.get("KeyCount", 0)) > 0


@aws_call
def create_bucket(aws: Aws, name: str) -> None:
    location = {} if aws.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    aws.client("s3").create_bucket(Bucket=name, **location)


@aws_call
def put_object(aws: Aws, bucket: str, key: str, body: bytes) -> None:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


@aws_call
def list_keys(aws: Aws, bucket: str, prefix: str) -> tuple[list[str], int]:
    """Every object key under `prefix` (ListObjectsV2 without a delimiter), and the number of calls made."""
    _, keys, calls = _list(aws.client("s3"), bucket, prefix, delimiter=None)
    return keys, calls


@aws_call
def read_object(aws: Aws, bucket: str, key: str, *, unsigned: bool = False, first: int | None = None) -> bytes | None:
    """The object's bytes (only its `first` bytes, with a ranged GET), or None when there is no such key."""
    s3 = aws.client("s3", unsigned=unsigned)
    ranged = {"Range": f"bytes=0-{first - 1}"} if first is not None else {}
    try:
        response = s3.get_object(Bucket=bucket, Key=key, **ranged)
    except s3.exceptions.NoSuchKey:
        return None
    except s3.exceptions.NoSuchBucket:
        raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
    return bytes(response["Body"].read())


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str
    """Without its quotes. `<md5>` for an object put whole; `<md5 of the parts' md5s>-<parts>` for a multipart one."""


def list_objects(aws: Aws, bucket: str, prefix: str, *, unsigned: bool = False) -> Iterator[list[S3Object]]:
    """Every object under `prefix` (ListObjectsV2, no delimiter), a page at a time, in key order: stop iterating and
    no more pages are asked for. Raises ResourceNotFound, AccessDenied."""
    s3 = aws.client("s3", unsigned=unsigned)
    with translate_errors(aws.profile):
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                yield [
                    S3Object(item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"'))
                    for item in page.get("Contents", [])
                ]
        except s3.exceptions.NoSuchBucket:
            raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None


@aws_call
def list_objects_level(
    aws: Aws, bucket: str, prefix: str, *, unsigned: bool = False
) -> tuple[list[str], list[S3Object]]:
    """One level under `prefix` (ListObjectsV2 with Delimiter '/'): its folders (each ending in '/') and its
    objects. Raises ResourceNotFound, AccessDenied."""
    s3 = aws.client("s3", unsigned=unsigned)
    folders: list[str] = []
    objects: list[S3Object] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            folders += [common["Prefix"] for common in page.get("CommonPrefixes", [])]
            objects += [
                S3Object(item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"'))
                for item in page.get("Contents", [])
            ]
    except s3.exceptions.NoSuchBucket:
        raise ResourceNotFound(f"S3 bucket {bucket!r} does not exist in this account") from None
    return folders, objects


def object_chunks(aws: Aws, bucket: str, key: str, *, unsigned: bool = False) -> Iterator[bytes]:
    """The object's bytes, streamed in chunks (to compare two big objects without holding either)."""
    s3 = aws.client("s3", unsigned=unsigned)
    with translate_errors(aws.profile):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size=1 << 20)
        finally:
            body.close()


@aws_call
def list_level(aws: Aws, bucket: str, prefix: str, *, unsigned: bool = False) -> tuple[list[str], list[str], int]:
    """One level under `prefix` (ListObjectsV2 with Delimiter '/'): the common prefixes (each ending in '/'), the
    object keys with no '/' after `prefix`, and the number of calls made. Raises ResourceNotFound, AccessDenied."""
    return _list(aws.client("s3", unsigned=unsigned), bucket, prefix, delimiter="/")


# --- ECR ------------------------------------------------------------------------------------------------------


@aws_call
def image_digest(aws: Aws, *, registry_id: str, repository: str, tag: str) -> str | None:
    """The digest of `repository:tag` in that registry, or None when the tag or the repository is missing."""
    ecr = aws.client("ecr")
    try:
        response = ecr.describe_images(registryId=registry_id, repositoryName=repository, imageIds=[{"imageTag": tag}])
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
        return None
    details = response.get("imageDetails", [])
    return str(details[0]["imageDigest"]) if details else None


@dataclass(frozen=True)
class Repository:
    name: str
    registry_id: str
    immutable: bool


@aws_call
def repository(aws: Aws, *, registry_id: str, name: str) -> Repository | None:
    """The ECR repository, or None when it does not exist."""
    ecr = aws.client("ecr")
    try:
        found = ecr.describe_repositories(registryId=registry_id, repositoryNames=[name])
    except ecr.exceptions.RepositoryNotFoundException:
        return None
    if not found["repositories"]:
        return None
    item = found["repositories"][0]
    return Repository(name, registry_id, item.get("imageTagMutability", "MUTABLE").startswith("IMMUTABLE"))


@aws_call
def create_repository(aws: Aws, *, registry_id: str, name: str) -> Repository:
    aws.client("ecr").create_repository(registryId=registry_id, repositoryName=name)
    return Repository(name, registry_id, immutable=False)


@aws_call
def put_image_manifest(
    aws: Aws, *, repository: str, tag: str, manifest: str, digest: str | None = None, media_type: str | None = None
) -> str:
    """Register an image manifest under a tag (no layers are uploaded); returns its digest."""
    extra = {"imageDigest": digest} if digest else {}
    extra |= {"imageManifestMediaType": media_type} if media_type else {}
    image = aws.client("ecr").put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag, **extra)
    return str(image["image"]["imageId"]["imageDigest"])


@dataclass(frozen=True, repr=False)
class RegistryLogin:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryLogin(username={self.username!r}, password=<hidden>)"


@aws_call
def registry_login(aws: Aws, *, registry_id: str) -> RegistryLogin:
    """ECR's docker login (GetAuthorizationToken): user name and password, for stdin only."""
    data = aws.client("ecr").get_authorization_token(registryIds=[registry_id])["authorizationData"][0]
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return RegistryLogin(username, password)


# --- Step Functions -------------------------------------------------------------------------------------------


@aws_call
def state_machine_arn(aws: Aws, name: str) -> str:
    """The ARN of the named state machine in the session's account and region. Raises ResourceNotFound."""
    arn = f"arn:{partition_of(aws.region)}:states:{aws.region}:{aws.account}:stateMachine:{name}"
    sfn = aws.client("stepfunctions")
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except (sfn.exceptions.StateMachineDoesNotExist, sfn.exceptions.InvalidArn):
        raise ResourceNotFound(f"state machine {name!r} does not exist in {aws.account} {aws.region}") from None
    return arn


@aws_call
def create_state_machine(aws: Aws, *, name: str, definition: str, role_arn: str) -> str:
    created = aws.client("stepfunctions").create_state_machine(name=name, definition=definition, roleArn=role_arn)
    return str(created["stateMachineArn"])


class ExecutionExists(AwsError):
    """StartExecution refused: an execution of that name exists (ours, whose response was lost, or another's)."""


@aws_call
def start_execution(aws: Aws, *, state_machine: str, name: str, document: str) -> tuple[str, str]:
    """StartExecution; returns the execution ARN and its start date (ISO 8601).

    Raises ExecutionExists when an execution of that name exists and is closed or has another input (Step Functions
    answers an identical running one as a success). Other errors are translated (see translate_errors) with
    botocore's own as their cause, so callers can record the code of each failed job (see error_code).
    """
    sfn = aws.client("stepfunctions")
    try:
        response = sfn.start_execution(stateMachineArn=state_machine, name=name, input=document)
    except sfn.exceptions.ExecutionAlreadyExists as error:
        raise ExecutionExists(f"an execution named {name} exists: {error}") from error
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
    stop_date: str | None = None


def list_executions(
    aws: Aws, state_machine: str, *, status: str | None = None, page_size: int = 1000
) -> Iterator[list[Execution]]:
    """The state machine's executions (those of `status`, if given), newest first, one list per page: stop iterating
    and no more pages are asked for. Raises ResourceNotFound for a state machine that does not exist."""
    sfn = aws.client("stepfunctions")
    arguments = {
        "stateMachineArn": state_machine,
        "maxResults": page_size,
        **({"statusFilter": status} if status else {}),
    }
    with translate_errors(aws.profile):
        try:
            for page in sfn.get_paginator("list_executions").paginate(**arguments):
                yield [
                    Execution(
                        name=item["name"],
                        arn=item["executionArn"],
                        status=item["status"],
                        start_date=item["startDate"].isoformat(),
                        stop_date=item["stopDate"].isoformat() if item.get("stopDate") else None,
                    )
                    for item in page.get("executions", [])
                ]
        except sfn.exceptions.StateMachineDoesNotExist:
            raise ResourceNotFound(f"state machine {state_machine} does not exist") from None


def execution_arn(state_machine: str, name: str) -> str:
    """The ARN Step Functions gives an execution of that state machine with that name."""
    prefix, machine = state_machine.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


@aws_call
def describe_execution(aws: Aws, arn: str) -> Execution | None:
    """None when no such execution exists."""
    sfn = aws.client("stepfunctions")
    try:
        found = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return None
    return Execution(
        name=found["name"],
        arn=found["executionArn"],
        status=found["status"],
        start_date=found["startDate"].isoformat(),
        input=found.get("input"),
        error=found.get("error"),
        cause=found.get("cause"),
        stop_date=found["stopDate"].isoformat() if found.get("stopDate") else None,
    )


def error_code(error: BaseException) -> str:
    """A short code for a failed AWS call: the service's error code, else the exception's type (botocore's own, when
    it was translated)."""
    cause = error.__cause__ if isinstance(error, AwsError) and error.__cause__ is not None else error
    if isinstance(cause, ClientError):
        return _code(cause) or "ClientError"
    return type(cause).__name__


def _code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {})
    return str(response.get("Error", {}).get("Code", ""))
