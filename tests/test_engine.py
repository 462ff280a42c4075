"""The engines' own logic: command renderings, where auth stores live, the registry of engines, and engines that are
missing.

Builds and pushes on real engines are in tests/plugins/test_build_push.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cryoet_release import engines
from cryoet_release.context import Process
from cryoet_release.engines.base import BuildSpec, auth_root, remove_stale_auth
from cryoet_release.engines.docker import Docker
from cryoet_release.engines.podman import Podman
from cryoet_release.errors import EngineError


def test_dry_run_renderings_are_shell_quoted() -> None:
    spec = BuildSpec(
        context=Path("/src/my app"),
        dockerfile=Path("/src/my app/Dockerfile"),
        tags=["r/x:t1"],
        labels={"a": "b c"},
        build_args={"K": "v"},
        platform="linux/amd64",
    )
    assert Podman.build_command(spec) == (
        "podman build --file '/src/my app/Dockerfile' --platform linux/amd64 --tag r/x:t1 --label 'a=b c' "
        "--build-arg K=v '/src/my app'"
    )
    assert Docker.login_command("h:5000", "AWS") == (
        "docker login --username AWS --password-stdin h:5000  # password on stdin"
    )
    assert Docker.push_command("h/r:t") == "docker push h/r:t"
    assert Podman.tag_command("a:1", "b:2") == "podman tag a:1 b:2"


def test_auth_stores_live_in_the_private_runtime_folder_else_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    process = Process()
    assert auth_root(process.runtime_dir(), process.state_dir()) == tmp_path / "cryoet-release"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "not-there"))
    process = Process()
    assert auth_root(process.runtime_dir(), process.state_dir()) == tmp_path / "state" / "cryoet-release" / "auth"


def test_only_the_auth_stores_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = tmp_path / f"auth-{finished.pid}-x"
    alive = tmp_path / f"auth-{os.getpid()}-y"
    for folder in (stale, alive):
        folder.mkdir()
        (folder / "auth.json").write_text("{}")
    assert remove_stale_auth(tmp_path) == [stale]
    assert not stale.exists()
    assert alive.exists()


def test_the_engines_are_read_from_their_registry() -> None:
    assert engines.names() == ["docker", "podman"]
    assert engines.registered() == {"docker": Docker, "podman": Podman}


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_an_engine_that_is_not_installed_says_how_to_install_it(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError) as caught:
        engines.connect(kind)
    assert caught.value.message == f"{kind} is not installed (not on PATH)"
    assert caught.value.hint is not None
    assert f"apt-get install {'docker.io' if kind == 'docker' else 'podman'}" in caught.value.hint


def test_no_engine_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError) as caught:
        engines.connect()
    assert caught.value.message == "no container engine: docker is not installed; podman is not installed"
