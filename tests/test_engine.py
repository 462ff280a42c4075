"""The engine module's own logic: command renderings, where auth stores live, and engines that are missing.

Builds and pushes on real engines are in tests/plugins/test_build_push.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cryoet_release import engine
from cryoet_release.errors import EngineError


def test_dry_run_renderings_are_shell_quoted() -> None:
    spec = engine.BuildSpec(
        context=Path("/src/my app"),
        dockerfile=Path("/src/my app/Dockerfile"),
        tags=["r/x:t1"],
        labels={"a": "b c"},
        build_args={"K": "v"},
        platform="linux/amd64",
    )
    assert engine.build_command("podman", spec) == (
        "podman build --file '/src/my app/Dockerfile' --platform linux/amd64 --tag r/x:t1 --label 'a=b c' "
        "--build-arg K=v '/src/my app'"
    )
    assert engine.login_command("docker", "h:5000", "AWS") == (
        "docker login --username AWS --password-stdin h:5000  # password on stdin"
    )
    assert engine.push_command("docker", "h/r:t") == "docker push h/r:t"
    assert engine.tag_command("podman", "a:1", "b:2") == "podman tag a:1 b:2"


def test_auth_stores_live_in_the_private_runtime_folder_else_the_state_folder(tmp_path: Path) -> None:
    assert engine.auth_root({"XDG_RUNTIME_DIR": str(tmp_path)}) == tmp_path / "cryoet-release"
    gone = tmp_path / "not-there"
    state = {"XDG_RUNTIME_DIR": str(gone), "XDG_STATE_HOME": str(tmp_path / "state")}
    assert engine.auth_root(state) == tmp_path / "state" / "cryoet-release" / "auth"


def test_only_the_auth_stores_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = tmp_path / f"auth-{finished.pid}-x"
    alive = tmp_path / f"auth-{os.getpid()}-y"
    for folder in (stale, alive):
        folder.mkdir()
        (folder / "auth.json").write_text("{}")
    assert engine.remove_stale_auth(tmp_path) == [stale]
    assert not stale.exists()
    assert alive.exists()


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_an_engine_that_is_not_installed_says_how_to_install_it(
    kind: engine.EngineKind, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError) as caught:
        engine.connect(kind)
    assert caught.value.message == f"{kind} is not installed (not on PATH)"
    assert caught.value.hint is not None
    assert f"apt-get install {'docker.io' if kind == 'docker' else 'podman'}" in caught.value.hint


def test_no_engine_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert engine.detect() is None
    with pytest.raises(EngineError, match="no container engine"):
        engine.connect()
