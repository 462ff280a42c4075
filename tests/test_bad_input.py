"""Bad input on every command: one error line (and at most one hint), the right exit code, one JSON document under
--json, and nothing changed in AWS (the emulator) or on disk.

Exit codes: 2 for what the user typed or pointed at (options, config, files and folders, environment variable
values), 3 for AWS, credentials and the environment the tool runs in; never 1 with a traceback.

Every case runs in a portal-like world: the emulator seeded as the portal's account, a real batch `good` queued
(`enqueue validate 10000 --batch good`), broken ledgers written by hand next to it, a few config files and a
checkout with the images' Dockerfiles. The world is read after each case and must be the world as it was built.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import MOTO_ACCOUNT, REGION, invoke, moto_api, use_emulator
from tests.portal import client, seed

NOT_UTF8 = os.fsdecode(b"\xff")  # what Python makes of the byte 0xff in an argv or an environment variable
OLD = "2000-01-01T00:00:00+00:00"  # broken ledgers are older than `good`, so `status --latest` picks `good`
DROP = object()

# Config files, written under {tmp}/configs. The config's own validation names the file and the key.
CONFIGS: dict[str, bytes] = {
    "braces.toml": b'[environments.staging]\nstate_machine = "{nope}"\n',
    "open-brace.toml": b'[environments.staging]\nstate_machine = "cryoet-{"\n',
    "latin1.toml": b'[environments.staging]\nstate_machine = "caf\xe9"\n',
    "unknown-key.toml": b"nosuchkey = 1\n",
    "not-toml.toml": b"this is = = not toml\n",
    "wrong-type.toml": b'protected_tags = "main"\n',
    "markup-value.toml": b'[images.ingestor]\ncontext = "ingestion_tools"\nrepository = "[/x]"\n',
    "markup-bucket.toml": b'[environments.staging]\nbucket = "[/x]"\n',
    "a[/x]b.toml": b"nosuchkey = 1\n",  # rich markup in the path: folder `a[`, file `x]b.toml`
    "registry-abc.toml": b'registry_account = "abc"\n',
}

# A dataset config that finds one run in the raw bucket: raw/10000/TS_01.
DATASET_CONFIG = """\
standardization_config:
  deposition_id: 10301
  source_prefix: raw
depositions:
- sources:
  - literal: {value: [10301]}
datasets:
- sources:
  - literal: {value: [10000]}
runs:
- sources:
  - source_glob: {list_glob: '{dataset_name}/*'}
"""

# Commands that call AWS, with input that is good otherwise: each bad AWS setting below is tried on each of them.
AWS_COMMANDS: dict[str, tuple[str, ...]] = {
    "db-import": ("enqueue", "db-import", "--include-dataset", "10000"),
    "sync": ("enqueue", "sync", "--include-dataset", "10000"),
    "validate": ("enqueue", "validate", "10000"),
    "source-validate": ("enqueue", "source-validate", "cfg.yaml"),
    "resume": ("enqueue", "resume", "prod-pending", "--yes"),  # a job to submit: AWS is asked
    "status": ("status", "good"),
    "status-latest": ("status", "--latest"),
    "build": ("build", "--tag", "t1"),
    "push": ("push", "--tag", "t1"),
}
# Bad AWS settings in the environment: a bad value is the user's (2); a profile that is not there is the
# environment's (3).
AWS_SETTINGS: dict[str, tuple[dict[str, str | None], int, str]] = {
    "endpoint-not-a-url": ({"AWS_ENDPOINT_URL": "not-a-url"}, 2, "not-a-url"),
    "max-attempts-lots": ({"AWS_MAX_ATTEMPTS": "lots"}, 2, "'lots'"),
    "profile-nobody": ({"AWS_PROFILE": "nobody"}, 3, "'nobody'"),
}
NO_CREDENTIALS: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNREACHABLE: dict[str, str | None] = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1"}
GOOD_EXECUTION = (
    f"arn:aws:states:{REGION}:{MOTO_ACCOUNT}:execution:cryoet-ingestion-staging-default-wdl:good-validate-10000"
)
BROKEN_LEDGERS = ("not-object", "not-utf8", "missing-key", "extra-key", "incomplete", "empty", "not-an-arn")


def _aws_cases() -> list[Any]:
    return [
        pytest.param(args, env, code, says, id=f"{command}-{setting}")
        for command, args in AWS_COMMANDS.items()
        for setting, (env, code, says) in AWS_SETTINGS.items()
    ]


CASES = [
    # --- AWS settings and credentials ------------------------------------------------------------------------
    *_aws_cases(),
    pytest.param(("--profile", "nobody", "enqueue", "validate", "10000"), {}, 3, "'nobody'", id="profile-flag-nobody"),
    pytest.param(("status", "good", "--profile", "nobody"), {}, 3, "'nobody'", id="status-profile-flag-nobody"),
    pytest.param(("enqueue", "validate", "10000"), UNREACHABLE, 3, "cannot reach", id="validate-unreachable"),
    pytest.param(("status", "good"), UNREACHABLE, 3, "cannot reach", id="status-unreachable"),
    pytest.param(
        ("enqueue", "sync", "--include-dataset", "10000"), NO_CREDENTIALS, 3, "credentials", id="sync-no-credentials"
    ),
    pytest.param(("status", "good"), NO_CREDENTIALS, 3, "credentials", id="status-no-credentials"),
    pytest.param(("push", "--tag", "t1"), NO_CREDENTIALS, 3, "credentials", id="push-no-credentials"),
    pytest.param(("enqueue", "validate", "10000"), {"AWS_DEFAULT_REGION": None}, 3, "no AWS region", id="no-region"),
    pytest.param(("enqueue", "validate", "10000"), {"AWS_REGION": "us_west_2"}, 2, "us_west_2", id="env-region-bad"),
    pytest.param(("build", "--tag", "t1", "--region", "us_west_2"), {}, 2, "us_west_2", id="build-region-bad"),
    pytest.param(("push", "--tag", "t1", "--region", "us_west_2"), {}, 2, "us_west_2", id="push-region-bad"),
    pytest.param(
        ("enqueue", "validate", "10000", "--region", "us_west_2"), {}, 2, "us_west_2", id="enqueue-region-bad"
    ),
    pytest.param(("--region", "us_west_2", "enqueue", "sync"), {}, 2, "us_west_2", id="sync-root-region-bad"),
    # --- ledger folders ----------------------------------------------------------------------------------------
    pytest.param(
        ("enqueue", "validate", "10000", "--ledger-dir", "/proc/cryoet-release/batches"),
        {}, 2, "/proc/cryoet-release/batches", id="validate-ledger-dir-in-proc",
    ),
    pytest.param(
        ("enqueue", "db-import", "--include-dataset", "10000", "--ledger-dir", "{tmp}/a-file/batches"),
        {}, 2, "a-file/batches", id="db-import-ledger-dir-under-file",
    ),
    pytest.param(
        ("enqueue", "validate", "10000", "--ledger-dir", "{tmp}/a-file"),
        {}, 2, "a-file", id="validate-ledger-dir-is-file",
    ),
    pytest.param(
        ("enqueue", "sync", "--include-dataset", "10000"),
        {"XDG_STATE_HOME": "{tmp}/a-file/state"}, 2, "a-file/state", id="sync-xdg-state-under-file",
    ),
    pytest.param(
        ("enqueue", "validate", "10000"), {"XDG_STATE_HOME": "/proc/state"}, 2, "/proc/state", id="validate-xdg-in-proc"
    ),
    pytest.param(
        ("enqueue", "resume", "good", "--ledger-dir", "{tmp}/a-file/batches"),
        {}, 2, "a-file/batches", id="resume-ledger-dir-under-file",
    ),
    pytest.param(("status", "good", "--ledger-dir", "/proc/batches"), {}, 2, "/proc/batches", id="status-dir-in-proc"),
    pytest.param(("status", "good"), {"XDG_STATE_HOME": "{tmp}/a-file"}, 2, "a-file", id="status-xdg-under-file"),
    pytest.param(
        ("status", "--latest", "--ledger-dir", "{tmp}/a-file/batches"),
        {}, 2, "a-file/batches", id="status-latest-ledger-dir-under-file",
    ),
    pytest.param(
        ("batches", "--ledger-dir", "{tmp}/a-file/batches"),
        {}, 2, "a-file/batches", id="batches-ledger-dir-under-file",
    ),
    pytest.param(
        ("batches",), {"XDG_STATE_HOME": "{tmp}/a-file"}, 2, "a-file", id="batches-xdg-under-file",
    ),
    pytest.param(
        ("batches", "--ledger-dir", "{tmp}/no-such-folder"),
        {}, 2, "ledger-dir: no such folder", id="batches-ledger-dir-missing",
    ),
    # --- ledger files ------------------------------------------------------------------------------------------
    pytest.param(("status", "not-object"), {}, 2, "not-object.jsonl:2", id="status-ledger-not-object"),
    pytest.param(("status", "not-utf8"), {}, 2, "not-utf8.jsonl:1", id="status-ledger-not-utf8"),
    pytest.param(("status", "missing-key"), {}, 2, "missing-key.jsonl", id="status-ledger-missing-key"),
    pytest.param(("status", "extra-key"), {}, 2, "extra-key.jsonl", id="status-ledger-extra-key"),
    pytest.param(("status", "incomplete"), {}, 2, "incomplete.jsonl", id="status-ledger-incomplete"),
    pytest.param(("status", "empty"), {}, 2, "empty.jsonl", id="status-ledger-empty"),
    pytest.param(
        ("status", "not-an-arn"), {}, 2, "not-an-arn.jsonl", id="status-ledger-not-an-arn"
    ),
    pytest.param(("enqueue", "resume", "not-object"), {}, 2, "not-object.jsonl:2", id="resume-ledger-not-object"),
    pytest.param(("enqueue", "resume", "not-utf8"), {}, 2, "not-utf8.jsonl:1", id="resume-ledger-not-utf8"),
    pytest.param(("enqueue", "resume", "missing-key"), {}, 2, "missing-key.jsonl", id="resume-ledger-missing-key"),
    pytest.param(("enqueue", "resume", "extra-key"), {}, 2, "extra-key.jsonl", id="resume-ledger-extra-key"),
    pytest.param(("enqueue", "resume", "incomplete"), {}, 2, "incomplete.jsonl", id="resume-ledger-incomplete"),
    pytest.param(("enqueue", "resume", "empty"), {}, 2, "empty.jsonl", id="resume-ledger-empty"),
    pytest.param(
        ("enqueue", "resume", "not-an-arn"), {}, 2, "not-an-arn.jsonl", id="resume-ledger-not-an-arn",
    ),
    pytest.param(
        ("enqueue", "resume", "prod-pending"), {}, 2, "--yes", id="resume-prod-off-terminal",
    ),
    # --- config: --config FILE before the command, CRYOET_RELEASE_CONFIG, and --config after the command --------
    pytest.param(
        ("--config", "{tmp}/configs/braces.toml", "enqueue", "db-import", "--include-dataset", "10000"),
        {}, 2, "'{nope}'", id="db-import-config-braces",
    ),
    pytest.param(
        ("config", "show"), {"CRYOET_RELEASE_CONFIG": "{tmp}/configs/braces.toml"}, 2, "state_machine",
        id="config-show-env-config-braces",
    ),
    pytest.param(
        ("--config", "{tmp}/configs/open-brace.toml", "enqueue", "validate", "10000"),
        {}, 2, "'cryoet-{'", id="validate-config-open-brace",
    ),
    pytest.param(
        ("enqueue", "sync", "--include-dataset", "10000"), {"CRYOET_RELEASE_CONFIG": "{tmp}/configs/open-brace.toml"},
        2, "'cryoet-{'", id="sync-env-config-open-brace",
    ),
    pytest.param(
        ("--config", "{tmp}/configs/latin1.toml", "config", "show"), {}, 2, "not UTF-8", id="config-show-latin1"
    ),
    pytest.param(
        ("build", "--tag", "t1"), {"CRYOET_RELEASE_CONFIG": "{tmp}/configs/latin1.toml"}, 2, "latin1.toml",
        id="build-env-config-latin1",
    ),
    pytest.param(
        ("--config", "{tmp}/configs/unknown-key.toml", "push", "--tag", "t1"), {}, 2, "nosuchkey: unknown key",
        id="push-config-unknown-key",
    ),
    pytest.param(
        ("enqueue", "source-validate", "cfg.yaml"), {"CRYOET_RELEASE_CONFIG": "{tmp}/configs/unknown-key.toml"},
        2, "nosuchkey", id="source-validate-env-config-unknown-key",
    ),
    pytest.param(
        ("--config", "{tmp}/configs/not-toml.toml", "status", "good"), {}, 2, "not valid TOML", id="status-not-toml"
    ),
    pytest.param(
        ("--config", "{tmp}/configs/wrong-type.toml", "batches"), {}, 2, "protected_tags", id="batches-config-type"
    ),
    pytest.param(("--config", "{tmp}/nosuch.toml", "status", "good"), {}, 2, "nosuch.toml", id="status-no-config"),
    pytest.param(("--config", "{tmp}/nosuch.toml", "batches"), {}, 2, "nosuch.toml", id="batches-no-config"),
    pytest.param(
        ("--config", "{tmp}/nosuch.toml", "enqueue", "resume", "good"), {}, 2, "nosuch.toml", id="resume-no-config"
    ),
    pytest.param(("--config", "{tmp}/nosuch.toml", "build", "--tag", "t1"), {}, 2, "nosuch.toml", id="build-no-config"),
    pytest.param(
        ("enqueue", "validate", "10000"), {"CRYOET_RELEASE_CONFIG": "{tmp}/nosuch.toml"}, 2, "nosuch.toml",
        id="validate-env-no-config",
    ),
    pytest.param(
        ("batches",), {"CRYOET_RELEASE_CONFIG": "{tmp}/nosuch.toml"}, 2, "nosuch.toml", id="batches-env-no-config"
    ),
    pytest.param(
        ("--config", "{tmp}/nosuch.toml", "plugins"), {}, 2, "nosuch.toml", id="plugins-no-config"
    ),
    pytest.param(
        ("--config", "{tmp}/a-file/cryoet-release.toml", "config", "show"), {}, 2, "a-file/cryoet-release.toml",
        id="config-under-file",
    ),
    pytest.param(
        ("--config", "{tmp}/configs", "config", "show"), {}, 2, "configs", id="config-is-a-folder"
    ),
    pytest.param(
        ("--config", "{tmp}/configs/markup-value.toml", "config", "show"), {}, 2, "'[/x]'", id="config-markup-value"
    ),
    pytest.param(
        ("--config", "{tmp}/configs/a[/x]b.toml", "enqueue", "validate", "10000"), {}, 2, "/configs/a[/x]b.toml:",
        id="validate-config-markup-path",
    ),
    pytest.param(
        ("--config", "{tmp}/[/x].toml", "status", "good"), {}, 2, "/[/x].toml: no such", id="status-markup-path"
    ),
    pytest.param(
        ("--config", "{tmp}/configs/markup-bucket.toml", "enqueue", "validate", "10000"),
        {}, 2, "bucket", id="validate-config-bad-bucket",
    ),
    pytest.param(
        ("enqueue", "db-import", "--include-dataset", "10000"),
        {"CRYOET_RELEASE_CONFIG": "{tmp}/configs/markup-bucket.toml"}, 2, "bucket", id="db-import-config-bad-bucket",
    ),
    pytest.param(
        ("config", "show", "--config", f"{{tmp}}/{NOT_UTF8}.toml"), {}, 2, "not valid UTF-8", id="config-not-utf8-path"
    ),
    pytest.param(
        ("status", "good", "--config", "{tmp}/nosuch.toml"), {}, 2, "nosuch.toml", id="status-no-config-after",
    ),
    pytest.param(
        ("batches", "--config", "{tmp}/nosuch.toml"), {}, 2, "nosuch.toml", id="batches-no-config-after",
    ),
    pytest.param(
        ("enqueue", "resume", "good", "--config", "{tmp}/nosuch.toml"), {}, 2, "nosuch.toml",
        id="resume-no-config-after",
    ),
    pytest.param(
        ("config", "show", "--config", "{tmp}/configs/unknown-key.toml"), {}, 2, "nosuchkey",
        id="config-show-unknown-key-after",
    ),
    pytest.param(
        ("enqueue", "validate", "10000"), {"CRYOET_RELEASE_REGISTRY_ACCOUNT": "abc"}, 2,
        "CRYOET_RELEASE_REGISTRY_ACCOUNT", id="env-registry-account-bad",
    ),
    pytest.param(
        ("build", "--tag", "t1"), {"CRYOET_RELEASE_ENGINE": "nope"}, 2, "CRYOET_RELEASE_ENGINE", id="env-engine-bad"
    ),
    # --- enqueue options ---------------------------------------------------------------------------------------
    pytest.param(
        ("enqueue", "sync", "--input-bucket", "bad bucket"), {}, 2, "'bad bucket'", id="sync-input-bucket-space"
    ),
    pytest.param(("enqueue", "sync", "--input-bucket", "b" * 300), {}, 2, "input-bucket", id="sync-input-bucket-300"),
    pytest.param(("enqueue", "sync", "--output-bucket", "Bad"), {}, 2, "output-bucket", id="sync-output-bucket-upper"),
    pytest.param(("enqueue", "sync", "--s3-prefix", NOT_UTF8), {}, 2, "not valid UTF-8", id="sync-s3-prefix-not-utf8"),
    pytest.param(("enqueue", "sync", "--include-deposition", "x"), {}, 2, "include-deposition", id="sync-deposition"),
    pytest.param(
        ("enqueue", "db-import", "--include-dataset", "10000", "--s3-bucket", "bad bucket"),
        {}, 2, "bad bucket", id="db-import-s3-bucket-space",
    ),
    pytest.param(("enqueue", "db-import", "--include-dataset", "10a"), {}, 2, "'10a'", id="db-import-dataset-10a"),
    pytest.param(("enqueue", "db-import", "--filter-datasets", "("), {}, 2, "filter-datasets", id="db-import-regex"),
    pytest.param(("enqueue", "db-import", "--memory", "5"), {}, 2, "memory", id="db-import-memory-5"),
    pytest.param(
        ("enqueue", "db-import", "--parallelism", "0"), {}, 2, "--parallelism", id="db-import-parallelism-0",
    ),
    pytest.param(
        ("enqueue", "db-import", "--parallelism", "1000"), {}, 2, "--parallelism", id="db-import-parallelism-1000",
    ),
    pytest.param(("enqueue", "db-import", "--environment", "dev"), {}, 2, "environment", id="db-import-env-dev"),
    pytest.param(("enqueue", "validate", "10000", "--environment", "dev"), {}, 2, "environment", id="validate-env-dev"),
    pytest.param(("enqueue", "db-import", "--ecr-tag", "-bad"), {}, 2, "'-bad'", id="db-import-ecr-tag-dash"),
    pytest.param(("enqueue", "db-import", "--ecr-repo", "UPPER"), {}, 2, "'UPPER'", id="db-import-ecr-repo-upper"),
    pytest.param(("enqueue", "db-import", "--deposition-id", "x"), {}, 2, "deposition-id", id="db-import-deposition"),
    pytest.param(
        ("enqueue", "db-import", "--include-dataset", "99999"), {}, 2, "nothing to enqueue", id="db-import-no-dataset"
    ),
    pytest.param(("enqueue", "validate", "not-an-id"), {}, 2, "'not-an-id'", id="validate-not-an-id"),
    pytest.param(("enqueue", "validate"), {}, 2, "DATASET_ID", id="validate-no-dataset"),
    pytest.param(
        ("enqueue", "source-validate", "cfg.yaml", "bad bucket"), {}, 2, "'bad bucket'", id="source-validate-bucket"
    ),
    pytest.param(("enqueue", "resume", "bad name!"), {}, 2, "'bad name!'", id="resume-bad-name"),
    pytest.param(("enqueue", "resume", "nosuch"), {}, 2, "'nosuch'", id="resume-unknown-batch"),
    pytest.param(("enqueue", "validate", "10000", "--batch", "has space"), {}, 2, "'has space'", id="batch-space"),
    pytest.param(("enqueue", "validate", "10000", "--batch", "good"), {}, 2, "already exists", id="batch-exists"),
    pytest.param(
        ("enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000"),
        {}, 2, "--yes", id="db-import-prod-off-terminal",
    ),
    # --- status, batches, build, push, plugins, sandbox --------------------------------------------------------
    pytest.param(
        ("status", "--watch", "--interval", "inf", "good"), {}, 2, "--interval", id="status-interval-inf",
    ),
    pytest.param(
        ("status", "good", "--interval", "0"), {}, 2, "--interval", id="status-interval-0"
    ),
    pytest.param(
        ("status", "--watch", "--interval", "nan", "good"), {}, 2, "'nan' is not a finite number",
        id="status-interval-nan",
    ),
    pytest.param(
        ("--config", "{tmp}/configs/registry-abc.toml", "config", "show"), {}, 2,
        "registry_account: 'abc' is not valid: an AWS account id is exactly 12 digits", id="config-registry-abc",
    ),
    pytest.param(
        ("enqueue", "validate", "10000"), {"CRYOET_RELEASE_CONFIG": "{tmp}/configs/registry-abc.toml"}, 2,
        "registry_account: 'abc'", id="validate-config-registry-abc",
    ),
    pytest.param(("status",), {}, 2, "--latest", id="status-no-batch"),
    pytest.param(("status", "good", "--latest"), {}, 2, "--latest", id="status-batch-and-latest"),
    pytest.param(("status", "nosuchbatch"), {}, 2, "'nosuchbatch'", id="status-unknown-batch"),
    pytest.param(("status", "bad name!"), {}, 2, "'bad name!'", id="status-bad-name"),
    pytest.param(("build", "--tag", ""), {}, 2, "tag", id="build-tag-empty"),
    pytest.param(("build", "--tag", "-bad"), {}, 2, "'-bad'", id="build-tag-dash"),
    pytest.param(("push", "--tag", "a b"), {}, 2, "'a b'", id="push-tag-space"),
    pytest.param(("build", "--tag", "main"), {}, 2, "protected", id="build-tag-protected"),
    pytest.param(("push", "--tag", "main"), {}, 2, "protected", id="push-tag-protected"),
    pytest.param(("build", "--tag", "t1", "--image", "nosuch"), {}, 2, "nosuch", id="build-image-unknown"),
    pytest.param(("push", "--tag", "t1", "--image", "nosuch"), {}, 2, "nosuch", id="push-image-unknown"),
    pytest.param(("build", "--tag", "t1", "--platform", "nope"), {}, 2, "'nope'", id="build-platform"),
    pytest.param(("build", "--tag", "t1", "--build-arg", "NOEQUALS"), {}, 2, "'NOEQUALS'", id="build-arg-no-equals"),
    pytest.param(("build", "--tag", "t1", "--engine", "nope"), {}, 2, "engine", id="build-engine"),
    pytest.param(("push", "--tag", "t1", "--engine", "nope"), {}, 2, "engine", id="push-engine"),
    pytest.param(("build", "--tag", "t1", "--nope"), {}, 2, "--nope", id="build-unknown-option"),
    pytest.param(("plugins", "extra"), {}, 2, "extra", id="plugins-extra-argument"),
    pytest.param(("sandbox", "serve", "--port", "70000"), {}, 2, "--port", id="sandbox-port"),
    pytest.param(("nosuch",), {}, 2, "nosuch", id="unknown-command"),
]  # fmt: skip


# --- the world -----------------------------------------------------------------------------------------------


def ledger_folder(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cryoet-release" / "batches"


def hand_made_ledger(good: str, name: str, **header: object) -> list[str]:
    """`good`'s first two lines (its header and its one planned job) as batch `name`, older than `good`, the job not
    started (so a resume that took it would submit); `header` changes the header (DROP removes a key)."""
    first, planned = good.splitlines()[:2]
    changed = {**json.loads(first), "batch": name, "created": OLD}
    for key, value in header.items():
        if value is DROP:
            del changed[key]
        else:
            changed[key] = value
    return [json.dumps(changed), planned.replace("good-validate-10000", f"{name}-validate-10000")]


def as_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def hand_made_ledgers(good: str) -> dict[str, bytes]:
    """The ledgers written by hand next to `good`: broken ones, and a whole prod batch with a job to resume."""
    header, job = hand_made_ledger(good, "not-object")
    return {
        "not-object": as_bytes([header, "[1]", job]),
        "not-utf8": as_bytes(hand_made_ledger(good, "not-utf8")).replace(b'"validate"', b'"valid\xffate"', 1),
        "missing-key": as_bytes(hand_made_ledger(good, "missing-key", account=DROP)),
        "extra-key": as_bytes(hand_made_ledger(good, "extra-key", extra="x")),
        "incomplete": as_bytes(hand_made_ledger(good, "incomplete", jobs=2)),
        "empty": b"",
        "not-an-arn": as_bytes(hand_made_ledger(good, "not-an-arn", state_machine="not-an-arn")),
        "prod-pending": as_bytes(hand_made_ledger(good, "prod-pending", environment="prod")),
    }


@dataclass
class World:
    """The world the cases share while none of them changes it (a case that does is a failure, and the next case
    gets the world built again)."""

    root: Path
    """The cases' folder: {tmp} in the table."""
    built: dict[str, Any] | None = None
    """Its snapshot when it was built."""
    last: dict[str, Any] | None = None
    """Its snapshot when the last case read it after running (None: that case did not get that far)."""

    def read(self) -> dict[str, Any]:
        self.last = snapshot(self.root)
        return self.last

    def still_there(self) -> bool:
        """Not reset by another module's tests since it was built."""
        try:
            client("stepfunctions").describe_execution(executionArn=GOOD_EXECUTION)
        except ClientError:
            return False
        return (ledger_folder(self.root) / "good.jsonl").is_file()


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bad-input")
    for context in ("ingestion_tools", "apiv2"):
        (root / "checkout" / context).mkdir(parents=True)
        (root / "checkout" / context / "Dockerfile").write_text("FROM scratch\n")
    (root / "checkout" / ".git").mkdir()  # the project root: no config file of this repository is found above it
    configs = root / "configs"
    (configs / "a[").mkdir(parents=True)
    for name, content in CONFIGS.items():
        (configs / name).write_bytes(content)
    (configs / f"{NOT_UTF8}.toml").write_bytes(b"nosuchkey = 1\n")  # a file name that is not UTF-8
    (configs / "dataset.yaml").write_text(DATASET_CONFIG)
    (root / "a-file").write_text("a regular file\n")
    return World(root)


@pytest.fixture
def world(shared_world: World, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> World:
    """The portal's account in the emulator, a real batch `good`, hand-made ledgers next to it, config files, a
    regular file, and a checkout with the images' Dockerfiles as the working folder.

    The environment is conftest's `aws` one, but the emulator is reset and the world built again only when the last
    case changed it (or did not read it back), or another module's tests reset the emulator.
    """
    root = shared_world.root
    use_emulator(monkeypatch, moto_server, root)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(root / "state"))
    monkeypatch.chdir(root / "checkout")
    if shared_world.built is None or shared_world.last != shared_world.built or not shared_world.still_there():
        moto_api(moto_server, "reset")
        shutil.rmtree(root / "state", ignore_errors=True)
        seed()
        client("s3").put_object(Bucket="cryoetportal-rawdatasets-dev", Key="raw/10000/TS_01/TS_01.mrc", Body=b"")
        queued = invoke("enqueue", "validate", "10000", "--batch", "good")
        assert queued.exit_code == 0, queued.output
        folder = ledger_folder(root)
        for name, content in hand_made_ledgers((folder / "good.jsonl").read_text()).items():
            (folder / f"{name}.jsonl").write_bytes(content)
        shared_world.built = snapshot(root)
    shared_world.last = None
    return shared_world


def snapshot(root: Path) -> dict[str, Any]:
    """Everything a command could change: executions, buckets and objects, ECR repositories and images, and every
    file and folder under the test's folder (the ledger folder among them) with its content."""
    sfn, s3, ecr = client("stepfunctions"), client("s3"), client("ecr")
    machines = [machine["stateMachineArn"] for machine in sfn.list_state_machines()["stateMachines"]]
    buckets = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    repositories = [repository["repositoryName"] for repository in ecr.describe_repositories()["repositories"]]
    return {
        "executions": sorted(
            (machine, execution["name"], execution["status"])
            for machine in machines
            for execution in sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]
        ),
        "objects": sorted(
            (bucket, item["Key"], item["ETag"])
            for bucket in buckets
            for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        ),
        "buckets": sorted(buckets),
        "images": sorted(
            (repository, image.get("imageTag", ""), image["imageDigest"])
            for repository in repositories
            for image in ecr.list_images(repositoryName=repository)["imageIds"]
        ),
        "files": {
            str(path.relative_to(root)): path.read_bytes() if path.is_file() else "<folder>"
            for path in sorted(root.rglob("*"))
        },
    }


def expand(values: tuple[str, ...], tmp_path: Path) -> list[str]:
    return [value.replace("{tmp}", str(tmp_path)) for value in values]


def apply(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str | None], tmp_path: Path) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))


# --- what every error looks like -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str | None
    """None: stdout was closed."""
    stderr: str | None
    """None: stderr was closed."""


def check_error(run: Run, code: int, says: str, *, json_mode: bool) -> None:
    """Exit `code`; on stderr one `error: ` line naming `says` (then at most one hint line; warnings aside), no
    traceback; on stdout nothing, or under --json exactly the error document."""
    shown = f"exit {run.exit_code}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert run.exit_code == code, shown
    assert "Traceback" not in f"{run.stdout}{run.stderr}", shown
    lines: list[str] = []
    if run.stderr is not None:
        lines = [line for line in run.stderr.splitlines() if not line.startswith("warning: ")]
        assert lines, shown
        assert lines[0].startswith("error: "), shown
        assert len(lines) <= 2, shown
        assert not any(line.startswith("error: ") for line in lines[1:]), shown
        assert says in lines[0], shown
    if run.stdout is None:
        return
    if not json_mode:
        assert run.stdout == "", shown
        return
    document = json.loads(run.stdout)  # exactly one document
    assert list(document) == ["error"], shown
    error = document["error"]
    assert set(error) == {"message", "hint", "exit_code"}, shown
    assert error["exit_code"] == run.exit_code, shown
    assert says in error["message"], shown
    if lines:  # the same words (an undecodable byte in a path: as stderr shows it)
        expected = [f"error: {error['message']}", *([error["hint"]] if error["hint"] else [])]
        assert lines == [line.encode("utf-8", "backslashreplace").decode() for line in expected], shown


@pytest.mark.parametrize(("args", "env", "code", "says"), CASES)
def test_bad_input_is_one_error_and_changes_nothing(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: dict[str, str | None],
    code: int,
    says: str,
) -> None:
    try:
        for json_mode in (False, True):
            with monkeypatch.context() as scoped:
                apply(scoped, env, world.root)
                result = invoke(*(["--json"] if json_mode else []), *expand(args, world.root))
            check_error(Run(result.exit_code, result.stdout, result.stderr), code, says, json_mode=json_mode)
    finally:
        after = world.read()  # even after a failed check: the next case reuses the world if it is unchanged
    assert after == world.built


# --- broken ledgers do not hide the good ones ----------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(None, id="broken-ledgers"),
        pytest.param("null-created", id="header-created-null"),
    ],
)
@pytest.mark.parametrize("args", [("batches",), ("status", "--latest")], ids=["batches", "status-latest"])
@pytest.mark.parametrize("json_mode", [False, True], ids=["table", "json"])
def test_listings_skip_broken_ledgers_with_a_warning(
    world: World, args: tuple[str, ...], json_mode: bool, extra: str | None
) -> None:
    folder = ledger_folder(world.root)
    broken = list(BROKEN_LEDGERS)
    if extra is not None:
        good = (folder / "good.jsonl").read_text()
        (folder / f"{extra}.jsonl").write_bytes(as_bytes(hand_made_ledger(good, extra, created=None)))
        broken.append(extra)
    before = snapshot(world.root)
    result = invoke(*(["--json"] if json_mode else []), *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr
    warned = sorted(line for line in result.stderr.splitlines() if line.startswith("warning: skipped: "))
    assert len(warned) == len(broken), result.stderr
    for name in broken:
        assert any(line.startswith(f"warning: skipped: {folder / name}.jsonl") for line in warned), result.stderr
    if json_mode:
        document = json.loads(result.stdout)
        found = [row["batch"] for row in document["batches"]] if args == ("batches",) else [document["batch"]]
        assert "good" in found
    else:
        assert "good" in result.stdout
    assert snapshot(world.root) == before
    if extra is None:
        world.last = before


# --- values that look like global options --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "pattern"), [("--include", "--json"), ("--exclude", "-v")], ids=["include-json", "exclude-v"]
)
def test_a_value_that_looks_like_a_global_option_is_the_option_value(world: World, option: str, pattern: str) -> None:
    args = ("enqueue", "sync", "--include-dataset", "10000", option, pattern, "--dry-run")
    table = invoke(*args)
    assert table.exit_code == 0, table.output
    assert table.stdout.startswith("dry run: 1 sync job on"), table.stdout  # a table, not a JSON document
    with pytest.raises(json.JSONDecodeError):
        json.loads(table.stdout)
    assert "DEBUG" not in table.stderr  # -v did not turn on debug logging
    planned = invoke("--json", *args)
    assert planned.exit_code == 0, planned.output
    (execution,) = json.loads(planned.stdout)["executions"]
    assert shlex.split(execution["input"]["Input"]["Run"]["flags"]) == [option, pattern]
    assert world.read() == world.built


# --- closed and undecodable standard streams (a real process) ------------------------------------------------


def closing(fd: int | None) -> Any:
    """A preexec_fn that closes one of the child's standard streams (`cmd <&-`, `>&-`, `2>&-`)."""
    if fd is None:
        return None
    return lambda: os.close(fd)


@pytest.mark.parametrize(
    ("args", "env", "closed", "json_mode", "code", "says"),
    [
        pytest.param(
            ("enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000"),
            {}, 0, False, 2, "--yes", id="prod-enqueue-stdin-closed",
        ),
        pytest.param(
            ("enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000"),
            {}, 0, True, 2, "--yes", id="prod-enqueue-stdin-closed-json",
        ),
        pytest.param(("enqueue", "validate", "not-an-id"), {}, 1, True, 2, "'not-an-id'", id="stdout-closed-usage"),
        pytest.param(
            ("status", "good"), {"AWS_PROFILE": "nobody"}, 1, True, 3, "'nobody'", id="stdout-closed-aws"
        ),
        pytest.param(("enqueue", "validate", "not-an-id"), {}, 2, True, 2, "'not-an-id'", id="stderr-closed"),
        pytest.param(
            ("enqueue", "sync", "--s3-prefix", NOT_UTF8), {}, None, False, 2, "not valid UTF-8",
            id="argv-not-utf8",
        ),
        pytest.param(
            ("config", "show", "--config", f"{{tmp}}/configs/{NOT_UTF8}.toml"), {}, None, True, 2,
            "not valid UTF-8", id="config-path-argv-not-utf8",
        ),
        pytest.param(
            ("config", "show"), {"CRYOET_RELEASE_CONFIG": f"{{tmp}}/configs/{NOT_UTF8}.toml"}, None, True, 2,
            "nosuchkey: unknown key", id="config-path-env-not-utf8",
        ),
    ],
)  # fmt: skip
def test_standard_streams_and_undecodable_input(
    world: World,
    args: tuple[str, ...],
    env: dict[str, str | None],
    closed: int | None,
    json_mode: bool,
    code: int,
    says: str,
) -> None:
    child = os.environ.copy()
    for name, value in env.items():
        if value is None:
            child.pop(name, None)
        else:
            child[name] = value.replace("{tmp}", str(world.root))
    argv = [sys.executable, "-m", "cryoet_release", *(["--json"] if json_mode else []), *expand(args, world.root)]
    process = subprocess.run(
        argv,
        env=child,
        stdin=None if closed == 0 else subprocess.DEVNULL,
        stdout=None if closed == 1 else subprocess.PIPE,
        stderr=None if closed == 2 else subprocess.PIPE,
        preexec_fn=closing(closed),
        timeout=60,
        check=False,
    )
    out = None if process.stdout is None else process.stdout.decode("utf-8", "backslashreplace")
    err = None if process.stderr is None else process.stderr.decode("utf-8", "backslashreplace")
    check_error(Run(process.returncode, out, err), code, says, json_mode=json_mode)
    assert world.read() == world.built


@pytest.mark.parametrize(
    ("args", "code"),
    [(("status", "good", "--interval", "0"), 2), (("batches",), 0)],
    ids=["usage-error-of-click", "a-result"],
)
def test_closed_stdout_under_json_is_no_traceback(world: World, args: tuple[str, ...], code: int) -> None:
    """Whatever is printed (click's usage block, a result), a closed stdout does not turn it into a crash."""
    process = subprocess.run(
        [sys.executable, "-m", "cryoet_release", "--json", *args],
        stdout=None,
        stderr=subprocess.PIPE,
        preexec_fn=closing(1),
        timeout=60,
        check=False,
    )
    assert process.returncode == code, process.stderr.decode(errors="replace")
    assert b"Traceback" not in process.stderr
    assert world.read() == world.built


# --- a dry run submits nothing, in a table as under --json ---------------------------------------------------------

DRY_RUNS = {
    "db-import": ("enqueue", "db-import", "--include-dataset", "10000"),
    "sync": ("enqueue", "sync", "--include-dataset", "10000", "--include-deposition", "10300"),
    "validate": ("enqueue", "validate", "10000", "10001"),
    "source-validate": ("enqueue", "source-validate", "cfg.yaml"),
    "queue": (
        "enqueue", "queue", "{tmp}/configs/dataset.yaml", "cryoetportal-rawdatasets-dev", "cryoet-data-portal-staging"
    ),
    "prod-db-import": ("enqueue", "db-import", "--include-dataset", "10000", "--environment", "prod"),
    "resume": ("enqueue", "resume", "prod-pending"),
    "retry": ("enqueue", "retry", "good"),
    "build": ("build", "--tag", "t1"),
}  # fmt: skip


@pytest.mark.parametrize("args", list(DRY_RUNS.values()), ids=list(DRY_RUNS))
@pytest.mark.parametrize("json_mode", [False, True], ids=["table", "json"])
def test_a_dry_run_changes_nothing(world: World, args: tuple[str, ...], json_mode: bool) -> None:
    """Every side-effecting command, with --dry-run, in both outputs: it shows the plan and the world is unchanged
    (executions, objects, images, ledgers). A prod one needs no --yes: nothing is sent."""
    result = invoke(*(["--json"] if json_mode else []), *expand(args, world.root), "--dry-run")
    assert result.exit_code == 0, result.output
    if json_mode:
        assert json.loads(result.stdout)["dry_run"] is True
    else:
        assert result.stdout.startswith("dry run"), result.stdout
        with pytest.raises(json.JSONDecodeError):
            json.loads(result.stdout)
    assert world.read() == world.built


# --- end of input at the prod prompt -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000"),
        ("enqueue", "resume", "prod-pending"),
    ],
    ids=["enqueue", "resume"],
)
@pytest.mark.parametrize("json_mode", [False, True], ids=["table", "json"])
def test_end_of_input_at_the_prod_prompt_is_a_no(world: World, args: tuple[str, ...], json_mode: bool) -> None:
    """Ctrl-D (no answer at all) is "no": exit 1, one error line after the question, nothing sent."""
    result = invoke(*(["--json"] if json_mode else []), *args, input="", terminal=True)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"Submit.*\? \[y/N\]: ", lines[-2]), lines[-2]
    assert lines[-1] == "error: aborted: nothing was submitted"
    if json_mode:
        assert json.loads(result.stdout)["error"] == {
            "message": "aborted: nothing was submitted", "hint": None, "exit_code": 1,
        }  # fmt: skip
    else:
        assert result.stdout == ""
    assert world.read() == world.built
