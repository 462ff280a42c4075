"""Every boto3 call the tool makes.

Functions take an `Aws` (one session, one client per service) and return plain values or models; botocore's
exceptions are translated into the errors of `errors.py` here and nowhere else. boto3's own credential chain,
retries and `AWS_ENDPOINT_URL` are used as they are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cryoet_release.errors import AwsError, CredentialsError, RegionError
from cryoet_release.models import AwsRegion, validate_as

if TYPE_CHECKING:
    import boto3


class Aws:
    """One boto3 session and its clients, for one profile and region.

    `max_pool_connections` should be the number of threads that share a client.
    """

    def __init__(self, profile: str | None = None, region: str | None = None, *, max_pool_connections: int = 10):
        self.profile = profile
        self._region_flag = region
        self.max_pool_connections = max_pool_connections
        self._clients: dict[str, Any] = {}

    @cached_property
    def session(self) -> boto3.Session:
        import boto3

        with translate_errors(self.profile):
            return boto3.Session(profile_name=self.profile)

    @cached_property
    def region(self) -> str:
        """The region: --region, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's. Raises RegionError."""
        region = (
            self._region_flag
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or self.session.region_name
        )
        if not region:
            where = f"profile {self.profile!r}" if self.profile else "the default profile"
            raise RegionError(
                f"no AWS region: pass --region, set AWS_REGION, or set a region for {where}",
                hint=f"aws configure set region us-west-2{f' --profile {self.profile}' if self.profile else ''}",
            )
        from pydantic import ValidationError

        try:
            return str(validate_as(AwsRegion, region))
        except ValidationError as error:
            raise RegionError(f"region: {error.errors()[0]['msg'].removeprefix('Value error, ')}") from None

    def client(self, service: str) -> Any:
        """A client with standard retries, shared by up to `max_pool_connections` threads."""
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=self.max_pool_connections,
                user_agent_extra="cryoet-release",
            )
            session: Any = self.session  # the stubs type client() per literal service name only
            with translate_errors(self.profile):
                self._clients[service] = session.client(service, region_name=self.region, config=config)
        return self._clients[service]

    @cached_property
    def account(self) -> str:
        """The caller's account id (STS GetCallerIdentity)."""
        with translate_errors(self.profile):
            return str(self.client("sts").get_caller_identity()["Account"])


@contextmanager
def translate_errors(profile: str | None = None) -> Iterator[None]:
    """Turn botocore's credential, region and connection errors into one actionable line each."""
    from botocore import exceptions as bce

    login = f"aws sso login --profile {profile}" if profile else "aws sso login"
    try:
        yield
    except bce.ProfileNotFound:
        raise CredentialsError(
            f"AWS profile {profile!r} is not configured",
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
    except bce.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
            raise CredentialsError("the AWS credentials have expired", hint=f"Run: {login}") from None
        if code in {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}:
            raise CredentialsError(
                f"AWS rejected the credentials ({code})", hint="Check --profile / AWS_PROFILE"
            ) from None
        raise AwsError(f"{error.operation_name}: {code}: {message}") from error
