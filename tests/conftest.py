"""Shared fixtures: the real AWS emulator (moto server on 127.0.0.1) and a CLI runner."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cryoet_release.cli import build_app
from cryoet_release.context import Process

REGION = "us-west-2"
MOTO_ACCOUNT = "123456789012"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def moto_api(endpoint: str, path: str, body: object | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A clean emulator, and an environment in which boto3 talks only to it."""
    moto_api(moto_server, "reset")
    use_emulator(monkeypatch, moto_server, tmp_path)
    return moto_server


def use_emulator(monkeypatch: pytest.MonkeyPatch, endpoint: str, folder: Path) -> None:
    """An environment in which boto3 talks only to the emulator at `endpoint` (its AWS files in `folder`)."""
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # The portal's images live in another account; in the emulator, the images are in the caller's own.
    monkeypatch.setenv("CRYOET_RELEASE_REGISTRY_ACCOUNT", MOTO_ACCOUNT)
    # No ~/.aws of the machine leaks into a test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "aws-credentials"))


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No config of the developer's machine (env overrides, state dirs) reaches a test."""
    for variable in (
        "CRYOET_RELEASE_CONFIG",
        "CRYOET_RELEASE_REGISTRY",
        "CRYOET_RELEASE_REGISTRY_ACCOUNT",
        "CRYOET_RELEASE_ENGINE",
        "CRYOET_RELEASE_STRICT_PLUGINS",
        "GITHUB_ACTIONS",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from cryoet_release import quotas

    monkeypatch.setattr(quotas, "_LIMITERS", {})  # each test starts with full buckets, as a new process does


def invoke(
    *args: str, entry_points: Iterable[EntryPoint] | None = None, input: str | None = None, terminal: bool = False
) -> Result:
    """Run the CLI in-process with the installed plugins (or exactly `entry_points`). `terminal`: stdin is taken for
    a terminal a person types `input` into (the prompts' logic, without a pseudo-terminal)."""
    process = (lambda: Process(stdin_is_terminal=True)) if terminal else Process
    return CliRunner().invoke(build_app(entry_points, process), list(args), input=input, catch_exceptions=False)


SSO_PROFILE = """[profile portal]
sso_session = czi
sso_account_id = 123456789012
sso_role_name = dev
region = us-west-2

[sso-session czi]
sso_start_url = https://example.invalid/start
sso_region = us-west-2
"""


def use_expired_sso_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Profile `portal` is an SSO profile with no cached token: what an expired session looks like to boto3."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty SSO token cache
    (tmp_path / "aws-config").write_text(SSO_PROFILE)
