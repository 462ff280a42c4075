"""The docs say what the tool does: config keys, real error messages, every flag mapped, lint-clean CI files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from cryoet_release.cli import build_app, command_tree
from cryoet_release.config import CompareConfig, EnvironmentConfig, ImageConfig, RateLimit, ReleaseConfig
from tests.conftest import invoke, use_expired_sso_profile
from tests.portal import seed

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def tool(name: str) -> str:
    """A program installed with the test extra, beside this interpreter (on PATH or not)."""
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert found is not None, f"{name} comes with the test extra"
    return found


def fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    return {f"{prefix}{name}" for name in model.model_fields}


def test_config_reference_lists_exactly_the_config_fields() -> None:
    nested = {"images": ImageConfig, "environments": EnvironmentConfig, "rate_limits": RateLimit, "compare": None}
    expected = {name for name in ReleaseConfig.model_fields if name not in nested}
    expected |= fields(ImageConfig, "images.<key>.") | fields(EnvironmentConfig, "environments.<name>.")
    expected |= fields(RateLimit, "rate_limits.<action>.") | fields(CompareConfig, "compare.")
    documented = set(re.findall(r"^\| `([a-z_.<>]+)` \|", (DOCS / "config.md").read_text(), re.MULTILINE))
    assert documented == expected


def error_line(result: Any) -> str:
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: "), result.stderr
    return first


def troubleshooting() -> str:
    return (DOCS / "troubleshooting.md").read_text()


def test_troubleshooting_quotes_the_real_aws_errors(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(environments=("staging",))
    lines = [
        error_line(invoke("enqueue", "db-import", "--environment", "prod", "--yes")),
        error_line(invoke("enqueue", "db-import", "--ecr-tag", "my-feature")),
        error_line(invoke("--profile", "nobody", "enqueue", "validate", "10000")),
    ]
    monkeypatch.setenv("CRYOET_RELEASE_SANDBOX", "http://127.0.0.1:9")  # a shell pointed at a sandbox
    assert invoke("enqueue", "validate", "10000", "--batch", "rehearsal").exit_code == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # ... which has stopped
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    lines.append(error_line(invoke("status", "rehearsal")))
    monkeypatch.delenv("CRYOET_RELEASE_SANDBOX")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    lines.append(error_line(invoke("enqueue", "validate", "10000")))
    use_expired_sso_profile(monkeypatch, tmp_path)
    lines.append(error_line(invoke("enqueue", "validate", "10000")))
    lines.append(error_line(invoke("--profile", "portal", "enqueue", "validate", "10000")))
    for line in lines:
        assert f"    {line}\n" in troubleshooting(), line


def test_troubleshooting_quotes_the_real_release_errors(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    lines = [error_line(invoke("build", "--tag", "main"))]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / "ingestion_tools").mkdir()
    (tmp_path / "ingestion_tools" / "Dockerfile").write_text("FROM scratch\n")
    lines.append(error_line(invoke("build", "--tag", "my-feature", "--image", "ingestor", "--no-push")))
    for line in lines:
        assert f"    {line}\n" in troubleshooting(), line


def options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}


def test_migration_guide_names_every_option_of_every_command() -> None:
    root = command_tree(build_app())
    guide = (DOCS / "migration.md").read_text()
    pending: list[tuple[str, Any]] = [("", root)]
    checked = []
    while pending:
        path, command = pending.pop()
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        names = command.list_commands(ctx) if hasattr(command, "list_commands") else []
        pending += [(f"{path} {name}".strip(), command.get_command(ctx, name)) for name in names]
        if names or not path:
            continue
        assert f"cryoet-release {path}" in guide, path
        shown = {opt for param in command.params if not getattr(param, "hidden", False) for opt in param.opts}
        missing = sorted(opt for opt in shown if opt.startswith("--") and opt != "--help" and f"`{opt}" not in guide)
        assert not missing, f"{path}: {missing}"
        checked.append(path)
    assert {"status", "sandbox serve", "compare queue", "enqueue queue", "build", "config show"} <= set(checked)


def lint_workflows(tmp_path: Path, workflow: str) -> subprocess.CompletedProcess[str]:
    """actionlint on a repository holding this action and a workflow that uses it as `./`."""
    actionlint = tool("actionlint")
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.copy(ROOT / "action.yml", repo / "action.yml")
    (repo / ".github" / "workflows" / "push-ingestor-build.yaml").write_text(workflow)
    return subprocess.run([actionlint], cwd=repo, capture_output=True, text=True, check=False, timeout=60)


def test_action_and_example_workflow_pass_actionlint(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "workflows" / "push-ingestor-build.yaml").read_text()
    assert "uses: chanzuckerberg/cryoet-release@v1" in example
    local = example.replace("uses: chanzuckerberg/cryoet-release@v1", "uses: ./")
    run = lint_workflows(tmp_path / "good", local)
    assert run.returncode == 0, run.stdout + run.stderr
    # The same check notices a workflow that misuses the action: the lint reads action.yml for real.
    broken = local.replace("tag: main", "tags: main")
    run = lint_workflows(tmp_path / "bad", broken)
    assert run.returncode == 1
    assert 'input "tags" is not defined in action' in run.stdout


def test_example_workflow_has_the_portal_triggers_and_oidc() -> None:
    example = (ROOT / "examples" / "workflows" / "push-ingestor-build.yaml").read_text()
    for needed in ('"ingestion_tools/**"', '"apiv2/**"', '".github/workflows/push-ingestor-build.yaml"',
                   "id-token: write", "aws-actions/configure-aws-credentials", "tag: main"):  # fmt: skip
        assert needed in example, needed


def test_dockerfile_passes_hadolint_and_runs_the_tool_unprivileged() -> None:
    hadolint = tool("hadolint")
    run = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER [1-9][0-9]*$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["cryoet-release"]' in dockerfile
    assert "/usr/local/bin/docker" in dockerfile
