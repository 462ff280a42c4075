"""What the working copy says about itself: branch (the default tag), revision, and remote (for image labels)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryoet_release.errors import UsageError
from cryoet_release.models import branch_to_tag


@dataclass(frozen=True)
class Revision:
    sha: str
    dirty: bool

    @property
    def label(self) -> str:
        return f"{self.sha}-dirty" if self.dirty else self.sha

    @property
    def short(self) -> str:
        return self.sha[:7]


def _git(root: Path, *args: str) -> str | None:
    try:
        run = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def current_branch(root: Path) -> str | None:
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    return branch or None


def default_tag(root: Path, environ: Mapping[str, str], *, option: str = "--tag") -> str:
    """The current branch as an image tag; under GitHub Actions, whose checkouts are often a detached HEAD, the
    branch the workflow runs for (GITHUB_HEAD_REF on a pull request, else GITHUB_REF_NAME).

    Raises UsageError when there is no branch (a detached HEAD outside CI, or no repository), saying to pass the
    command's tag `option`.
    """
    ci_branch = environ.get("GITHUB_HEAD_REF") or environ.get("GITHUB_REF_NAME")
    branch = ci_branch if environ.get("GITHUB_ACTIONS") == "true" and ci_branch else current_branch(root)
    if branch is None:
        raise UsageError(f"no current git branch in {root} (detached HEAD or not a repository): pass {option}")
    try:
        return branch_to_tag(branch)
    except ValueError as error:
        raise UsageError(f"{error}; pass {option}") from None


def revision(root: Path) -> Revision | None:
    sha = _git(root, "rev-parse", "HEAD")
    if sha is None:
        return None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return Revision(sha=sha, dirty=bool(status))


def remote_url(root: Path, remote: str = "origin") -> str | None:
    """The remote's URL with any user name, password or token removed."""
    url = _git(root, "remote", "get-url", remote)
    return strip_credentials(url) if url else None


def strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url  # scp-like `git@github.com:org/repo.git` holds a user name, never a secret
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def changed_since(root: Path, revision: str, path: Path) -> bool | None:
    """Whether `path` differs between `revision` and the working tree (later commits and uncommitted edits
    alike); None when this checkout does not have that revision."""
    if _git(root, "cat-file", "-e", f"{revision}^{{commit}}") is None:
        return None
    try:
        run = subprocess.run(
            ["git", "-C", str(root), "diff", "--quiet", revision, "--", str(path)],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {0: False, 1: True}.get(run.returncode)
