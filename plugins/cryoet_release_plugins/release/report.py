"""What was built or pushed: the result table, --json, and under GitHub Actions the step outputs and summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryoet_release.console import Output

Status = Literal["pushed", "already there", "built", "would push", "would build"]


@dataclass
class Released:
    key: str
    repository: str
    refs: list[str]
    status: Status
    size: int | None = None
    digest: str | None = None
    image_id: str | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        return [ref.rsplit(":", 1)[1] for ref in self.refs]

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.key,
            "repository": self.repository,
            "tags": self.tags,
            "refs": self.refs,
            "digest": self.digest,
            "size": self.size,
            "image_id": self.image_id,
            "status": self.status,
            **({"commands": self.commands} if self.commands else {}),
        }


def report(output: Output, released: Sequence[Released], environ: Mapping[str, str], *, dry_run: bool = False) -> None:
    """The result table (or --json), and under GitHub Actions the step outputs and summary."""
    rows = [item.as_json() for item in released]
    output.result(
        {"images": rows, "dry_run": dry_run},
        lambda: output.table(
            ["image", "repository", "tag(s)", "digest", "size", "status"],
            (
                [r["image"], r["repository"], ", ".join(r["tags"]), r["digest"] or "-", _size(r["size"]), r["status"]]
                for r in rows
            ),
            title="dry run: nothing is built, tagged or pushed (the commands follow)" if dry_run else None,
        ),
    )
    if dry_run:
        for item in released:
            for command in item.commands:
                output.info(command)
    elif environ.get("GITHUB_ACTIONS") == "true":
        write_github_outputs(released, environ)


def write_github_outputs(released: Sequence[Released], environ: Mapping[str, str]) -> None:
    if path := environ.get("GITHUB_OUTPUT"):
        with Path(path).open("a", encoding="utf-8") as out:
            for item in released:
                out.write(f"{item.key}-ref={item.refs[0]}\n")
                if item.digest:
                    out.write(f"{item.key}-digest={item.digest}\n")
    if path := environ.get("GITHUB_STEP_SUMMARY"):
        lines = ["| image | repository | tags | digest | status |", "|---|---|---|---|---|"]
        lines += [
            f"| {i.key} | {i.repository} | {', '.join(i.tags)} | `{i.digest or '-'}` | {i.status} |" for i in released
        ]
        with Path(path).open("a", encoding="utf-8") as summary:
            summary.write("\n".join(lines) + "\n")


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
