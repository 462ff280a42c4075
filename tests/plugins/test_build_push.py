"""build and push on real engines (podman, dockerd) into a real registry (docker-registry), with moto for ECR.

What landed is read back through the registry's HTTP API, never from the tool's own report alone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from tests.components import ECR_PASSWORD, Registry
from tests.conftest import invoke
from tests.faults import deny
from tests.plugins.conftest import git
from tests.portal import MANIFEST

LABEL = "org.opencontainers.image."


def labels(registry: Registry, repository: str, tag: str) -> dict[str, str]:
    return dict(registry.image_config(repository, tag)["config"]["Labels"])


def test_build_pushes_both_images_with_labels(
    engine: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    tag = f"feature-{engine}"
    result = invoke("--json", "build", "--tag", tag, "--sha-tag", "--build-arg", "NOTE=x")
    assert result.exit_code == 0, result.output
    report = {item["image"]: item for item in json.loads(result.stdout)["images"]}
    sha = git(checkout, "rev-parse", "HEAD")
    for key, repository in (("ingestor", "cryoet-staging"), ("apiv2", "apiv2-x86")):
        assert tag in registry.tags(repository)
        assert f"sha-{sha[:7]}" in registry.tags(repository)
        found = labels(registry, repository, tag)
        assert found[LABEL + "revision"] == sha
        assert found[LABEL + "version"] == tag
        assert found[LABEL + "source"] == "https://github.com/chanzuckerberg/cryoet-data-portal-backend.git"
        assert found[LABEL + "created"].endswith("Z")
        _, digest = registry.manifest(repository, tag)
        assert report[key]["digest"] == digest
        assert report[key]["refs"][0] == f"{registry.host}/{repository}:{tag}"
        assert report[key]["status"] == "pushed"
    assert ECR_PASSWORD not in result.output


def test_default_tag_is_the_sanitised_branch_and_dirty_is_marked(
    podman: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    (checkout / "apiv2" / "payload.txt").write_text("changed\n")
    result = invoke("build", "--image", "apiv2")
    assert result.exit_code == 0, result.output
    assert "feature-new-db" in registry.tags("apiv2-x86")
    assert labels(registry, "apiv2-x86", "feature-new-db")[LABEL + "revision"].endswith("-dirty")
    assert registry.tags("cryoet-staging") == [] or "feature-new-db" not in registry.tags("cryoet-staging")


def test_push_of_a_built_image_does_not_rebuild(
    engine: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    tag = f"prebuilt-{engine}"
    built = invoke("--json", "build", "--tag", tag, "--no-push", "--image", "ingestor")
    assert built.exit_code == 0, built.output
    image_id = json.loads(built.stdout)["images"][0]["image_id"]
    assert tag not in registry.tags("cryoet-staging")

    pushed = invoke("--json", "-v", "push", "--tag", tag, "--image", "ingestor")
    assert pushed.exit_code == 0, pushed.output
    (item,) = json.loads(pushed.stdout)["images"]
    assert item["image_id"] == image_id
    assert "build:" not in pushed.stderr  # no build step was logged
    assert tag in registry.tags("cryoet-staging")
    assert item["digest"] == registry.manifest("cryoet-staging", tag)[1]


def test_push_to_another_registry_retags(
    podman: str, registry: Registry, checkout: Path, repositories: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRYOET_RELEASE_REGISTRY")
    built = invoke("build", "--tag", "moved", "--no-push", "--image", "apiv2", "--region", "us-east-1")
    assert built.exit_code == 0, built.output
    monkeypatch.setenv("CRYOET_RELEASE_REGISTRY", registry.host)
    pushed = invoke("--json", "push", "--tag", "moved", "--image", "apiv2", "--region", "us-west-2")
    assert pushed.exit_code == 0, pushed.output
    assert (
        f"retagging 123456789012.dkr.ecr.us-east-1.amazonaws.com/apiv2-x86:moved as {registry.host}/apiv2-x86:moved"
        in " ".join(pushed.stderr.split())
    )
    assert "moved" in registry.tags("apiv2-x86")


def test_protected_tag_is_refused_outside_ci(
    podman: str, registry: Registry, checkout: Path, repositories: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = registry.uploads()
    result = invoke("build", "--tag", "main", "--image", "apiv2")
    assert result.exit_code == 2
    assert "tag 'main' is protected" in result.stderr
    assert registry.uploads() == before
    assert invoke("push", "--tag", "main").exit_code == 2

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    output, summary = checkout.parent / "github-output", checkout.parent / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = invoke("build", "--tag", "main", "--image", "apiv2")
    assert result.exit_code == 0, result.output
    digest = registry.manifest("apiv2-x86", "main")[1]
    assert f"apiv2-digest={digest}\n" in output.read_text()
    assert f"apiv2-ref={registry.host}/apiv2-x86:main\n" in output.read_text()
    assert f"| apiv2 | apiv2-x86 | main | `{digest}` | pushed |" in summary.read_text()


def test_missing_repository_is_exit_3_unless_created(podman: str, registry: Registry, checkout: Path, aws: str) -> None:
    result = invoke("build", "--tag", "new-repo", "--image", "apiv2")
    assert result.exit_code == 3
    assert "ECR repository 'apiv2-x86' does not exist in account 123456789012, region us-west-2" in result.stderr
    assert "new-repo" not in registry.tags("apiv2-x86")
    result = invoke("build", "--tag", "new-repo", "--image", "apiv2", "--create-repository")
    assert result.exit_code == 0, result.output
    assert "new-repo" in registry.tags("apiv2-x86")


def test_immutable_tag_already_there_is_exit_1(podman: str, registry: Registry, checkout: Path, aws: str) -> None:
    import boto3

    ecr = boto3.client("ecr", region_name="us-west-2")
    ecr.create_repository(repositoryName="apiv2-x86", imageTagMutability="IMMUTABLE")
    ecr.put_image(repositoryName="apiv2-x86", imageManifest=json.dumps(MANIFEST), imageTag="fixed")
    result = invoke("build", "--tag", "fixed", "--image", "apiv2")
    assert result.exit_code == 1
    assert "immutable tags and fixed is already there" in result.stderr


def test_missing_local_image_names_the_build_command(
    podman: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    result = invoke("push", "--tag", "never-built", "--image", "ingestor")
    assert result.exit_code == 4
    assert f"{registry.host}/cryoet-staging:never-built" in result.stderr
    assert "cryoet-release build --no-push --tag never-built --image ingestor --region us-west-2" in result.stderr


def test_no_engine_on_path_is_exit_4(
    checkout: Path, repositories: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(bin_dir))
    result = invoke("build", "--tag", "x1", "--no-push")
    assert result.exit_code == 4
    assert "no container engine" in result.stderr
    monkeypatch.setenv("CRYOET_RELEASE_ENGINE", "docker")
    result = invoke("build", "--tag", "x1", "--no-push")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: docker is not installed (not on PATH)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", ".bad"], "tag: '.bad' is not valid"),
        (["--tag", "ok", "--region", "mars-1"], "region: 'mars-1' is not valid"),
        (["--tag", "ok", "--image", "nope"], "image: unknown image key(s) nope"),
        (["--tag", "ok", "--platform", "amd64"], "platform: 'amd64' is not valid: a platform is os/arch[/variant]"),
        (["--tag", "ok", "--build-arg", "NOEQUALS"], "build-arg: 'NOEQUALS' is not KEY=VALUE"),
    ],
)
def test_bad_input_is_exit_2_and_nothing_built(
    podman: str, registry: Registry, checkout: Path, repositories: None, args: list[str], message: str
) -> None:
    before = registry.uploads()
    result = invoke("build", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert registry.uploads() == before


def test_dry_run_prints_commands_and_changes_nothing(
    podman: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    result = invoke("--json", "build", "--tag", "dry", "--dry-run")
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    commands = [command for item in images for command in item["commands"]]
    assert any(
        c.startswith("podman build --file") and "--label org.opencontainers.image.version=dry" in c for c in commands
    )
    assert f"podman login --username AWS --password-stdin {registry.host}  # password on stdin" in commands
    assert f"podman push {registry.host}/cryoet-staging:dry" in commands
    assert "dry" not in registry.tags("cryoet-staging")
    assert ECR_PASSWORD not in result.output

    table = invoke("build", "--tag", "dry", "--dry-run")  # the same, printed for a person
    assert table.exit_code == 0, table.output
    assert table.stdout.startswith("dry run: nothing is built, tagged or pushed")
    assert f"podman push {registry.host}/cryoet-staging:dry" in table.stderr
    assert "dry" not in registry.tags("cryoet-staging")


@pytest.mark.parametrize("json_mode", [False, True], ids=["table", "json"])
def test_a_dry_run_of_push_pushes_nothing(
    podman: str, registry: Registry, checkout: Path, repositories: None, json_mode: bool
) -> None:
    tag = f"dry-push-{json_mode}".lower()
    assert invoke("build", "--tag", tag, "--no-push").exit_code == 0
    uploads = registry.uploads()
    result = invoke(*(["--json"] if json_mode else []), "push", "--tag", tag, "--dry-run")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["images"][0]["status"] if json_mode else result.stdout
    assert "would push" in shown
    assert tag not in registry.tags("cryoet-staging")
    assert registry.uploads() == uploads


def test_password_never_in_any_argv_during_a_push(
    engine: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.add(cmdline.read_bytes().decode(errors="replace"))
                except OSError:
                    continue

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = invoke("-v", "build", "--tag", f"secret-{engine}", "--image", "apiv2")
    finally:
        done.set()
        watcher.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert any("push" in argv for argv in seen), "the watcher saw the push"
    assert not any(ECR_PASSWORD in argv for argv in seen)
    assert ECR_PASSWORD not in result.output
    logged = " ".join(result.stderr.split())  # -v: every engine command, the login without its password
    assert f"{engine} build --file" in logged
    assert f"{engine} login --username AWS --password-stdin" in logged
    assert f"{engine} push " in logged
    assert "ecr GetAuthorizationToken" in logged


def test_docker_daemon_down_is_exit_4_saying_how_to_start_it(
    checkout: Path, repositories: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing-listens-here.sock")
    result = invoke("build", "--tag", "x1", "--no-push", "--engine", "docker")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: the docker engine is not answering\n")
    assert "systemctl start docker" in result.stderr


def test_ecr_refusing_another_accounts_registry_names_both_fixes(
    aws: str, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYOET_RELEASE_REGISTRY_ACCOUNT", "908710317728")
    deny(monkeypatch, "DescribeRepositories")
    result = invoke("build", "--tag", "feature-x", "--dry-run", "--engine", "podman")
    assert result.exit_code == 3
    assert "pushing as account 123456789012 to the registry of account 908710317728" in result.stderr
    assert "ECR refused account 123456789012 in the registry of account 908710317728" in result.stderr
    assert "Use a profile of account 908710317728 (--profile), or set registry_account" in result.stderr


def token_files(*roots: Path) -> list[Path]:
    """Files under `roots` that hold the ECR password, as it is or as an auth store writes it (base64)."""
    import base64

    needles = (ECR_PASSWORD.encode(), base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()))
    found = []
    for root in roots:
        for path in root.rglob("*") if root.is_dir() else ():
            try:
                data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            except OSError:
                continue
            if any(needle in data for needle in needles):
                found.append(path)
    return found


def test_sigterm_during_a_push_leaves_no_token_on_disk(
    podman: str, registry: Registry, checkout: Path, repositories: None, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    (checkout / "apiv2" / "payload.txt").write_bytes(os.urandom(48 * 1024 * 1024))  # a push that takes a while
    process = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "build", "--tag", "sigterm"],
        env=env, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    auth = runtime / "cryoet-release"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(auth.glob("auth-*/*")):
        time.sleep(0.01)
    assert any(auth.glob("auth-*/*")), "the push logged in"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr
    assert list(auth.glob("auth-*")) == []
    # Where an auth store was or could be: the runtime folder, the temporary folder's own, the state folder.
    tool_temporaries = list(Path(tempfile.gettempdir()).glob("cryoet-release-*"))
    assert token_files(runtime, *tool_temporaries, Path.home() / ".local" / "state") == []
    assert oct(auth.stat().st_mode & 0o777) == "0o700"


def test_an_auth_store_left_by_a_killed_run_is_removed_by_the_next(
    podman: str, registry: Registry, checkout: Path, repositories: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # exited and reaped: no process has this pid now
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)  # a private runtime folder, as the system makes it
    stale = runtime / "cryoet-release" / f"auth-{gone.pid}-killed"
    stale.mkdir(parents=True)
    (stale / "auth.json").write_text(ECR_PASSWORD)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    result = invoke("build", "--tag", "after-kill", "--image", "apiv2")
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert token_files(runtime) == []


def test_json_is_one_document_even_when_the_engine_talks(
    engine: str, registry: Registry, checkout: Path, repositories: None
) -> None:
    """In a real process (the engine's own stdout is the tool's): `Login Succeeded!` never reaches stdout."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "cryoet_release", "--json", "build", "--tag", f"json-{engine}", "--image", "apiv2"],
        env=os.environ.copy(), cwd=checkout, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["images"][0]["status"] == "pushed"


def test_queue_says_when_the_config_differs_from_the_one_in_the_image(
    podman: str, registry: Registry, checkout: Path, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs read the dataset config from their image: a copy changed since the build is pointed out."""
    from tests.portal import seed

    seed(environments=("staging",))
    configs = checkout / "ingestion_tools" / "dataset_configs"
    configs.mkdir()
    (checkout / "ingestion_tools" / "scripts").mkdir()
    (checkout / "ingestion_tools" / "scripts" / "standardize_dirs.py").write_text("")
    (configs / "c.yaml").write_text("standardization_config:\n  source_prefix: nothing/here\n")
    git(checkout, "add", ".")
    git(checkout, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "config")
    assert invoke("build", "--tag", "cfg", "--image", "ingestor").exit_code == 0

    def queue() -> str:
        result = invoke(
            "enqueue", "queue", "../dataset_configs/c.yaml", "cryoetportal-rawdatasets-dev", "out",
            "--ecr-tag", "cfg", "--skip-image-check", "--dry-run",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return " ".join(result.stderr.split())

    monkeypatch.chdir(checkout / "ingestion_tools" / "scripts")
    assert "differs from the revision the image was built from" not in queue()
    (configs / "c.yaml").write_text("standardization_config:\n  source_prefix: elsewhere\n")
    assert "ingestion_tools/dataset_configs/c.yaml differs from the revision the image was built from" in queue()

    assert invoke("build", "--tag", "cfg", "--image", "ingestor").exit_code == 0  # from this uncommitted copy
    said = queue()
    assert "differs from the revision" not in said  # the image may well carry this very copy
    assert "with uncommitted changes: it may carry your copy of ingestion_tools/dataset_configs/c.yaml" in said


def test_build_outside_a_portal_checkout_says_what_it_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("build", "--tag", "x")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: image ingestor: no Dockerfile at {tmp_path}/ingestion_tools/Dockerfile; build looks for"
        " images.ingestor.context (ingestion_tools) in the current folder (no git root)",
        "Run it inside a portal checkout, or set images.ingestor.context (and .dockerfile) in cryoet-release.toml",
    ]
