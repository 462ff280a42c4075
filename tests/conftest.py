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

REGION = "us-west-2"


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
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # No ~/.aws of the machine leaks into a test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return moto_server


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No config of the developer's machine (env overrides, state dirs) reaches a test."""
    for variable in (
        "CRYOET_RELEASE_CONFIG",
        "CRYOET_RELEASE_REGISTRY",
        "CRYOET_RELEASE_ENGINE",
        "CRYOET_RELEASE_STRICT_PLUGINS",
        "GITHUB_ACTIONS",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def invoke(*args: str, entry_points: Iterable[EntryPoint] | None = None, input: str | None = None) -> Result:
    """Run the CLI in-process with the installed plugins (or exactly `entry_points`)."""
    return CliRunner().invoke(build_app(entry_points), list(args), input=input, catch_exceptions=False)
