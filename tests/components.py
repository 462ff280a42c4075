"""Real components for the engine tests (DESIGN.md): docker-registry, podman, dockerd; all on 127.0.0.1.

A component whose program is missing skips its tests, unless CRYOET_RELEASE_REQUIRE_ENGINES is set (as in CI),
where a missing component is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# moto's ECR answers GetAuthorizationToken with this password for the default account.
ECR_PASSWORD = "123456789012-auth-token"


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed"
        if os.environ.get("CRYOET_RELEASE_REQUIRE_ENGINES"):
            pytest.fail(f"{message}, and CRYOET_RELEASE_REQUIRE_ENGINES is set")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto_process() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in a process of its own on 127.0.0.1 (benchmarks: it does not share their interpreter lock)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_for(answers, "moto server")
    except TimeoutError:
        process.kill()
        raise
    return process, endpoint


def wait_for(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Registry:
    host: str
    log: Path

    def get(self, path: str, accept: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        request = urllib.request.Request(f"http://{self.host}{path}")
        token = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        if accept:
            request.add_header("Accept", accept)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read()), dict(response.headers)

    def tags(self, repository: str) -> list[str]:
        try:
            return sorted(self.get(f"/v2/{repository}/tags/list")[0].get("tags") or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise

    def manifest(self, repository: str, tag: str) -> tuple[dict[str, Any], str]:
        accept = ",".join(
            [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            ]
        )
        body, headers = self.get(f"/v2/{repository}/manifests/{tag}", accept)
        return body, headers["Docker-Content-Digest"]

    def image_config(self, repository: str, tag: str) -> dict[str, Any]:
        manifest, _ = self.manifest(repository, tag)
        return self.get(f"/v2/{repository}/blobs/{manifest['config']['digest']}")[0]

    def uploads(self) -> int:
        """Blob uploads started so far (from the registry's access log)."""
        return sum("POST /v2/" in line and "/blobs/uploads/" in line for line in self.log.read_text().splitlines())


def start_registry(folder: Path) -> tuple[subprocess.Popen[bytes], Registry]:
    import bcrypt

    program = require("docker-registry")
    folder.mkdir(parents=True, exist_ok=True)
    hashed = bcrypt.hashpw(ECR_PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (folder / "htpasswd").write_text(f"AWS:{hashed}\n")
    port = free_port()
    (folder / "config.yml").write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": False}},
                "storage": {"filesystem": {"rootdirectory": str(folder / "data")}, "delete": {"enabled": True}},
                "http": {"addr": f"127.0.0.1:{port}", "secret": "tests-only"},
                "auth": {"htpasswd": {"realm": "cryoet-release-tests", "path": str(folder / "htpasswd")}},
            }
        )
    )
    log = folder / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([program, "serve", str(folder / "config.yml")], stdout=out, stderr=out)
    registry = Registry(host=f"127.0.0.1:{port}", log=log)

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1)
        except urllib.error.HTTPError as error:
            return error.code == 401
        except OSError:
            return False
        return False

    wait_for(answers, "docker-registry")
    return process, registry


def podman_environment(folder: Path, registry: Registry) -> dict[str, str]:
    require("podman")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{folder / "root"}"\nrunroot = "{folder / "runroot"}"\n'
    )
    (folder / "registries.conf").write_text(
        f'unqualified-search-registries = []\n\n[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
    )
    return {
        "CONTAINERS_STORAGE_CONF": str(folder / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(folder / "registries.conf"),
        "BUILDAH_ISOLATION": "chroot",
    }


def start_dockerd(folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    program = require("dockerd")
    require("docker")
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "docker.sock"
    with (folder / "dockerd.log").open("wb") as out:
        process = subprocess.Popen(
            [
                program, "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver", "vfs",
                "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
                "--pidfile", str(folder / "docker.pid"), "-H", f"unix://{sock}",
            ],
            stdout=out, stderr=out,
        )  # fmt: skip
    env = {"DOCKER_HOST": f"unix://{sock}"}

    def answers() -> bool:
        run = subprocess.run(["docker", "version"], env={**os.environ, **env}, capture_output=True, check=False)
        return run.returncode == 0

    wait_for(answers, "dockerd", timeout=60)
    return process, env
