"""`sandbox demo`: the release flow, command by command, as a user would type it, on a fresh emulator."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryoet_release import engines
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import EngineError, OperationFailed
from cryoet_release_plugins.sandbox.emulator import NO_REGISTRY, running

DEMO_TAG = "sandbox-demo"
DEMO_DATASETS = ("10000", "10001", "10002")


@dataclass
class Step:
    command: list[str]
    exit_code: int | None = None
    skipped: str | None = None
    result: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"command": " ".join(self.command), "exit_code": self.exit_code, "skipped": self.skipped,
                "result": self.result}  # fmt: skip


@dataclass
class Demo:
    output: Output
    env: dict[str, str]
    steps: list[Step] = field(default_factory=list)

    def run(self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Step:
        """Run one cryoet-release command as a child process; stop the demo if it fails."""
        step = Step(["cryoet-release", *args])
        self.steps.append(step)
        self.output.info(f"\n$ {' '.join(step.command)}")
        argv = [sys.executable, "-m", "cryoet_release", *(["--json"] if self.output.json_mode else []), *args]
        completed = subprocess.run(
            argv, cwd=cwd, env={**self.env, **(env or {})}, check=False, timeout=600,
            stdout=subprocess.PIPE if self.output.json_mode else None, text=True,
        )  # fmt: skip
        step.exit_code = completed.returncode
        if self.output.json_mode and completed.stdout:
            with suppress(json.JSONDecodeError):
                step.result = json.loads(completed.stdout)
        if completed.returncode != 0:
            raise OperationFailed(f"sandbox demo: `{' '.join(step.command)}` exited {completed.returncode}")
        return step

    def skip(self, command: list[str], reason: str) -> None:
        self.steps.append(Step(["cryoet-release", *command], skipped=reason))
        self.output.info(f"\nskipping cryoet-release {' '.join(command)}: {reason}")


def run_demo(opts: GlobalOptions) -> None:
    output = opts.output
    with tempfile.TemporaryDirectory(prefix="cryoet-release-sandbox-") as scratch, running() as emulator:
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if k not in {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}}
        env.update(emulator.environment)
        env["XDG_STATE_HOME"] = str(work / "state")  # the demo's batches stay out of the user's list
        for variable in ("CRYOET_RELEASE_CONFIG", "CRYOET_RELEASE_REGISTRY_ACCOUNT"):  # the sandbox is its own world
            env.pop(variable, None)
        demo = Demo(output, env)
        output.info(f"AWS emulator on {emulator.endpoint}, seeded as the portal's staging environment")

        build = ["build", "--tag", DEMO_TAG]
        reason = _why_no_images(emulator.registry)
        tag = "main"  # seeded in the emulator's ECR: the jobs' images when nothing is built here
        if reason:
            demo.skip(build, reason)
        else:
            try:
                demo.run(*build, cwd=_example_checkout(work))
                tag = DEMO_TAG  # pushed to the sandbox registry, which registered it in the emulator's ECR
            finally:
                _remove_demo_images(emulator.registry or "")

        batch = f"sandbox-{secrets.token_hex(3)}"
        includes = [arg for dataset in DEMO_DATASETS for arg in ("--include-dataset", dataset)]
        demo.run(
            "enqueue", "db-import", "--import-everything", *includes, "--ecr-tag", tag, "--pin-digest",
            "--batch", batch, "--parallelism", "3",
        )  # fmt: skip
        demo.run("status", batch, "--watch", "--interval", "1")
        output.result(
            {"emulator": emulator.endpoint, "batch": batch, "steps": [step.as_json() for step in demo.steps]},
            lambda: output.info(f"\nsandbox demo done: batch {batch} ran on the emulator; nothing touched AWS."),
        )


def _why_no_images(registry: str | None) -> str | None:
    """None when an engine answers and the sandbox has a registry; else why the build step is skipped."""
    if registry is None:
        return NO_REGISTRY
    try:
        engines.connect()
    except EngineError as error:
        return f"{error.message} ({error.hint})" if error.hint else error.message
    return None


def _example_checkout(work: Path) -> Path:
    """The two example images, as tiny FROM scratch builds."""
    workspace = work / "example"
    for context in ("ingestion_tools", "apiv2"):
        (workspace / context).mkdir(parents=True)
        (workspace / context / "hello.txt").write_text(f"{context} built by cryoet-release sandbox demo\n")
        (workspace / context / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    return workspace


def _remove_demo_images(registry: str) -> None:
    with suppress(EngineError):
        engines.connect().remove([f"{registry}/{repo}:{DEMO_TAG}" for repo in ("cryoet-staging", "apiv2-x86")])
