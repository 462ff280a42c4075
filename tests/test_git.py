from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cryoet_release.errors import UsageError
from cryoet_release.git import default_tag, remote_url, revision, strip_credentials


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://x-access-token:ghs_abc@github.com/org/repo", "https://github.com/org/repo"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("ssh://git@github.com/org/repo.git", "ssh://github.com/org/repo.git"),
    ],
)
def test_credentials_are_stripped_from_remote_urls(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args], check=True,
                   capture_output=True)  # fmt: skip


def test_branch_revision_and_remote(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "Feature/Fast_Import")
    (tmp_path / "f").write_text("1")
    git(tmp_path, "add", "f")
    git(tmp_path, "commit", "-q", "-m", "one")
    git(tmp_path, "remote", "add", "origin", "https://bot:secret@example.org/r.git")
    assert default_tag(tmp_path, {}) == "feature-fast_import"
    first = revision(tmp_path)
    assert first is not None
    assert not first.dirty
    (tmp_path / "f").write_text("2")
    dirty = revision(tmp_path)
    assert dirty is not None
    assert dirty.label == f"{first.sha}-dirty"
    assert remote_url(tmp_path) == "https://example.org/r.git"
    git(tmp_path, "checkout", "-q", "--detach")
    with pytest.raises(UsageError, match="detached HEAD or not a repository"):
        default_tag(tmp_path, {})


def test_outside_git(tmp_path: Path) -> None:
    assert revision(tmp_path) is None
    assert remote_url(tmp_path) is None
    with pytest.raises(UsageError, match="pass --tag"):
        default_tag(tmp_path, {})


@pytest.mark.parametrize(
    ("environ", "tag"),
    [
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "feature/x"}, "feature-x"),
        ({"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "Fix/Thing", "GITHUB_REF_NAME": "12/merge"}, "fix-thing"),
        ({"GITHUB_REF_NAME": "feature/x"}, None),  # outside Actions, the checkout's own branch
    ],
)
def test_in_github_actions_the_tag_is_the_workflows_branch_even_on_a_detached_head(
    tmp_path: Path, environ: dict[str, str], tag: str | None
) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@e.org", "commit", "-qm", "x"], check=True
    )
    subprocess.run(["git", "-C", str(tmp_path), "checkout", "-q", "--detach"], check=True)
    if tag is None:
        with pytest.raises(UsageError, match="detached HEAD"):
            default_tag(tmp_path, environ)
    else:
        assert default_tag(tmp_path, environ) == tag
