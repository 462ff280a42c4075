from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.components import Registry, podman_environment, start_dockerd, start_registry, stop
from tests.conftest import moto_api

REMOTE = "https://ci-bot:s3cr3t-token@github.com/chanzuckerberg/cryoet-data-portal-backend.git"


@pytest.fixture
def executing(aws: str) -> Iterator[None]:
    """moto drives executions to a final state (DESIGN.md); switched back off afterwards."""
    moto_api(aws, "config", {"stepfunctions": {"execute_state_machine": True}})
    yield
    moto_api(aws, "config", {"stepfunctions": {"execute_state_machine": False}})


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    process, started = start_registry(tmp_path_factory.mktemp("registry"))
    yield started
    stop(process)


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict[str, str]:
    return podman_environment(tmp_path_factory.mktemp("podman"), registry)


@pytest.fixture(scope="session")
def dockerd_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    process, env = start_dockerd(tmp_path_factory.mktemp("dockerd"))
    yield env
    stop(process)


@pytest.fixture(params=["podman", "docker"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, registry: Registry) -> str:
    """Each engine in turn, pointed at the test registry through the registry override."""
    env = request.getfixturevalue("podman_env" if request.param == "podman" else "dockerd_env")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CRYOET_RELEASE_ENGINE", request.param)
    monkeypatch.setenv("CRYOET_RELEASE_REGISTRY", registry.host)
    return str(request.param)


@pytest.fixture
def podman(podman_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, registry: Registry) -> str:
    for key, value in podman_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CRYOET_RELEASE_ENGINE", "podman")
    monkeypatch.setenv("CRYOET_RELEASE_REGISTRY", registry.host)
    return "podman"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A portal-like checkout: ingestion_tools/ and apiv2/, each a tiny FROM scratch image, on a feature branch."""
    root = tmp_path / "cryoet-data-portal-backend"
    for context, content in (("ingestion_tools", "ingestor"), ("apiv2", "api")):
        (root / context).mkdir(parents=True)
        (root / context / "payload.txt").write_text(f"{content} {tmp_path.name}\n")
        (root / context / "Dockerfile").write_text("FROM scratch\nARG NOTE=none\nCOPY payload.txt /payload.txt\n")
    git(root.parent, "init", "-q", "-b", "main", str(root))
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "fixture")
    git(root, "remote", "add", "origin", REMOTE)
    git(root, "checkout", "-q", "-b", "feature/New-DB")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def repositories(aws: str) -> None:
    ecr = boto3.client("ecr", region_name="us-west-2")
    for name in ("cryoet-staging", "apiv2-x86"):
        ecr.create_repository(repositoryName=name)
