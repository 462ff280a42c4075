"""The AWS foundation against the real emulator: region resolution and credential errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryoet_release.aws import Aws
from cryoet_release.errors import CredentialsError, RegionError, UsageError
from tests.conftest import use_expired_sso_profile


def test_account_comes_from_sts(aws: str) -> None:
    assert Aws().account == "123456789012"


def test_region_precedence(aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "aws-config").write_text("[profile dev]\nregion = ap-south-1\n")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert Aws(profile="dev").region == "ap-south-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Aws(profile="dev").region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert Aws(profile="dev").region == "eu-west-2"
    assert Aws(profile="dev", region="us-east-2").region == "us-east-2"


def test_no_region_says_what_to_do(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(RegionError) as caught:
        _ = Aws().region
    assert "pass --region, set AWS_REGION" in str(caught.value)


def test_bad_region_is_refused_before_any_call(aws: str) -> None:
    with pytest.raises(UsageError, match="expected an AWS region"):
        _ = Aws(region="mars-1").region


def test_unknown_profile(aws: str) -> None:
    with pytest.raises(CredentialsError, match="AWS profile 'ghost' is not configured"):
        _ = Aws(profile="ghost").account


def test_expired_sso_session_says_sso_login(aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_expired_sso_profile(monkeypatch, tmp_path)
    with pytest.raises(CredentialsError) as caught:
        _ = Aws(profile="portal").account
    assert caught.value.hint == "Run: aws sso login --profile portal"


@pytest.mark.parametrize(("variable", "mode"), [(None, "standard"), ("adaptive", "adaptive"), ("legacy", "legacy")])
def test_retries_are_the_users_and_standard_when_none_is_set(
    aws: str, monkeypatch: pytest.MonkeyPatch, variable: str | None, mode: str
) -> None:
    if variable is None:
        monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    else:
        monkeypatch.setenv("AWS_RETRY_MODE", variable)
    client = Aws().client("s3")
    assert client.meta.config.retries["mode"] == mode


def test_a_retry_mode_botocore_does_not_know_is_one_usage_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "bogus")
    with pytest.raises(UsageError, match="the AWS configuration is not valid"):
        Aws().client("s3")


def test_a_misspelt_region_is_refused_with_the_likely_one(aws: str) -> None:
    with pytest.raises(UsageError, match=r"'us-weest-2' is not an AWS region; did you mean us-west-2\?"):
        _ = Aws(region="us-weest-2").region
    assert Aws(region="ap-southeast-7").region == "ap-southeast-7"  # newer than some botocores: no close twin


@pytest.mark.parametrize(
    "value",
    ["2026-12-01T19:00:00.000Z", "2026-12-01T19:00:00Z", "2026-12-01T19:00:00+02:00", "Tue, 01 Dec 2026 19:00:00 GMT",
     1764615600.5, "1764615600", "2026-12-01T19:00:00"],
)  # fmt: skip
def test_timestamps_parse_as_botocore_parses_them(value: object) -> None:
    import botocore.parsers

    from cryoet_release.aws import parse_timestamp

    assert parse_timestamp(value) == botocore.parsers.DEFAULT_TIMESTAMP_PARSER(value)
