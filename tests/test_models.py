from __future__ import annotations

import pytest
from pydantic import ValidationError

from cryoet_release.models import (
    AccountId,
    AwsRegion,
    DatasetId,
    ExecutionName,
    ImageRef,
    ImageTag,
    RepositoryName,
    branch_to_tag,
    validate_as,
)

VALID = [
    (ImageTag, "main"),
    (ImageTag, "_private"),
    (ImageTag, "v1.2.3"),
    (ImageTag, "db-new-feature"),
    (ImageTag, "A" * 128),
    (ImageTag, "sha-0123abc"),
    (AwsRegion, "us-west-2"),
    (AwsRegion, "eu-central-1"),
    (AwsRegion, "ap-southeast-7"),
    (AwsRegion, "cn-north-1"),
    (AwsRegion, "cn-northwest-1"),
    (AwsRegion, "us-gov-west-1"),
    (RepositoryName, "cryoet-staging"),
    (RepositoryName, "apiv2-x86"),
    (RepositoryName, "team/project/image"),
    (RepositoryName, "a.b_c-d"),
    (AccountId, "123456789012"),
    (AccountId, "000000000000"),
    (DatasetId, "10000"),
    (DatasetId, "1052"),
    (ExecutionName, "x"),
    (ExecutionName, "db-import_10000-abc"),
    (ExecutionName, "a" * 80),
]

INVALID = [
    (ImageTag, ""),
    (ImageTag, ".hidden"),
    (ImageTag, "-dash"),
    (ImageTag, "A" * 129),
    (ImageTag, "feature/x"),
    (ImageTag, "tag with space"),
    (ImageTag, "café"),
    (ImageTag, "main\n"),
    (ImageTag, "ｍａｉｎ"),  # noqa: RUF001 - fullwidth letters on purpose
    (AwsRegion, ""),
    (AwsRegion, "us-west"),
    (AwsRegion, "US-WEST-2"),
    (AwsRegion, "uswest2"),
    (AwsRegion, "us-west-2 "),
    (AwsRegion, "us-wést-2"),
    (RepositoryName, ""),
    (RepositoryName, "a"),
    (RepositoryName, "UPPER"),
    (RepositoryName, "-leading"),
    (RepositoryName, "trailing/"),
    (RepositoryName, "double//slash"),
    (RepositoryName, "a" * 257),
    (AccountId, "12345678901"),
    (AccountId, "1234567890123"),
    (AccountId, "12345678901a"),
    (AccountId, "١٢٣٤٥٦٧٨٩٠١٢"),  # Arabic-Indic digits are digits to str.isdigit, not to AWS
    (DatasetId, ""),
    (DatasetId, "10a"),
    (DatasetId, "-1"),
    (DatasetId, "1" * 13),
    (ExecutionName, ""),
    (ExecutionName, "a" * 81),
    (ExecutionName, "has space"),
    (ExecutionName, "dot.name"),
    (ExecutionName, "ünïcode"),
]


@pytest.mark.parametrize(("type_", "value"), VALID)
def test_valid_values_pass_unchanged(type_: object, value: str) -> None:
    assert validate_as(type_, value) == value


@pytest.mark.parametrize(("type_", "value"), INVALID)
def test_invalid_values_are_refused_with_a_reason(type_: object, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_as(type_, value)
    assert "not valid" in str(caught.value) or "valid ECR repository" in str(caught.value)


@pytest.mark.parametrize(
    ("branch", "tag"),
    [
        ("main", "main"),
        ("feature/New DB", "feature-new-db"),
        ("dependabot/pip/boto3-1.34.0", "dependabot-pip-boto3-1.34.0"),
        ("-weird", "weird"),
        (".dot/start", "dot-start"),
        ("ünïcode", "n-code"),
        ("UPPER_case", "upper_case"),
        ("x" * 300, "x" * 128),
    ],
)
def test_branch_to_tag_gives_a_valid_tag(branch: str, tag: str) -> None:
    assert branch_to_tag(branch) == tag
    assert validate_as(ImageTag, tag) == tag


@pytest.mark.parametrize("branch", ["", "///", "---", "ééé"])
def test_branch_with_nothing_usable_is_refused(branch: str) -> None:
    with pytest.raises(ValueError, match="no valid tag"):
        branch_to_tag(branch)


def test_image_ref_renders_tag_and_digest_forms() -> None:
    digest = "sha256:" + "ab" * 32
    ref = ImageRef(account="123456789012", region="us-west-2", repository="cryoet-staging", tag="main")
    assert str(ref) == "123456789012.dkr.ecr.us-west-2.amazonaws.com/cryoet-staging:main"
    pinned = ref.model_copy(update={"digest": digest})
    assert pinned.pinned == f"123456789012.dkr.ecr.us-west-2.amazonaws.com/cryoet-staging@{digest}"
    assert ref.pinned == ref.tagged


def test_image_ref_knows_the_china_partition_and_registry_override() -> None:
    ref = ImageRef(account="123456789012", region="cn-north-1", repository="apiv2-x86", tag="t")
    assert ref.host == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
    mirror = ImageRef(account="123456789012", region="us-west-2", repository="r1", tag="t", registry="127.0.0.1:5000")
    assert mirror.tagged == "127.0.0.1:5000/r1:t"


def test_image_ref_validates_its_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        ImageRef(account="1", region="us-west-2", repository="r1", tag=".bad")
    fields = {error["loc"][0] for error in caught.value.errors()}
    assert fields == {"account", "tag"}
