"""`sandbox demo`: the release flow, command by command, as a user would type it, on a fresh emulator."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryoet_release import engines
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import EngineError, OperationFailed
from cryoet_release_plugins.sandbox.emulator import DATASET_CONFIG, NO_REGISTRY, RAW_BUCKET, SCRATCH, running
from cryoet_release_plugins.sandbox.jobs import Rules
from cryoet_release_plugins.sandbox.outputs import VARIATION

DEMO_TAG = "sandbox-demo"
DEMO_DATASETS = ("10000", "10001", "10002")
CONFIG = "ingestion_tools/dataset_configs/sandbox.yaml"
RULES = Rules(fail=("*-db-import-10001",), failing_tests=("10000",))
"""The demo's story: db-import of 10001 fails once (then its retry succeeds); 10000's validation has failing tests."""
HEAD_OUTPUTS = {"tomogram_metadata": {"reconstruction_method": "SART"}, "array_offset": 1}
"""What the head image changes in what its standardization jobs write (see outputs): one metadata field and one
array, for compare to find."""


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
    cwd: Path
    steps: list[Step] = field(default_factory=list)

    def run(self, *args: str, expect: int = 0, why: str = "") -> Step:
        """Run one cryoet-release command as a child process, in the example checkout; stop the demo if it does not
        exit as expected (`why` says, before it runs, what the exit means)."""
        step = Step(["cryoet-release", *args])
        self.steps.append(step)
        self.output.info(f"\n$ {shlex.join(step.command)}" + (f"    # {why}" if why else ""))
        argv = [sys.executable, "-m", "cryoet_release", *(["--json"] if self.output.json_mode else []), *args]
        completed = subprocess.run(
            argv, cwd=self.cwd, env=self.env, check=False, timeout=600,
            stdout=subprocess.PIPE if self.output.json_mode else None, text=True,
        )  # fmt: skip
        step.exit_code = completed.returncode
        if self.output.json_mode and completed.stdout:
            with suppress(json.JSONDecodeError):
                step.result = json.loads(completed.stdout)
        if completed.returncode != expect:
            raise OperationFailed(
                f"sandbox demo: `{shlex.join(step.command)}` exited {completed.returncode}, not {expect}"
            )
        return step

    def skip(self, command: list[str], reason: str) -> None:
        self.steps.append(Step(["cryoet-release", *command], skipped=reason))
        self.output.info(f"\nskipping cryoet-release {shlex.join(command)}: {reason}")


def run_demo(opts: GlobalOptions) -> None:
    output = opts.output
    with tempfile.TemporaryDirectory(prefix="cryoet-release-sandbox-") as scratch, running(rules=RULES) as emulator:
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if k not in {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}}
        env.update(emulator.environment)
        env["XDG_STATE_HOME"] = str(work / "state")  # the demo's batches stay out of the user's list
        for variable in ("CRYOET_RELEASE_CONFIG", "CRYOET_RELEASE_REGISTRY_ACCOUNT"):  # the sandbox is its own world
            env.pop(variable, None)
        demo = Demo(output, env, _example_checkout(work))
        output.info(f"AWS emulator on {emulator.endpoint}, seeded as the portal's staging environment")
        output.info(f"its jobs: {RULES.describe()}")

        build = ["build", "--tag", DEMO_TAG]
        reason = _why_no_images(emulator.registry)
        tag = "main"  # seeded in the emulator's ECR: the jobs' images when nothing is built here
        if reason:
            demo.skip(build, reason)
        else:
            try:
                demo.run(*build, why="the head image: its jobs write a changed tomogram and array")
                tag = DEMO_TAG  # pushed to the sandbox registry, which registered it in the emulator's ECR
            finally:
                _remove_demo_images(emulator.registry or "")

        batch = f"sandbox-{secrets.token_hex(3)}"
        includes = [arg for dataset in DEMO_DATASETS for arg in ("--include-dataset", dataset)]
        demo.run(
            "enqueue", "db-import", "--import-everything", *includes, "--ecr-tag", tag, "--pin-digest",
            "--batch", batch, "--parallelism", "3",
        )  # fmt: skip
        demo.run("status", batch, "--watch", "--interval", "1", why="10001 fails")
        demo.run("enqueue", "retry", batch)
        demo.run("status", batch, "--watch", "--interval", "1", why="its retry succeeded")

        validation = f"sandbox-{secrets.token_hex(3)}"
        demo.run("enqueue", "validate", *DEMO_DATASETS[:2], "--ecr-tag", tag, "--batch", validation)
        demo.run(
            "status", validation, "--watch", "--interval", "1", "--exit-status", expect=1,
            why="10000's report has failing tests: exit 1",
        )  # fmt: skip

        differs = tag != "main"
        compared = demo.run(
            "compare", "queue", CONFIG, RAW_BUCKET, "--scratch", SCRATCH, "--base", "main", "--head", tag,
            "--interval", "1", expect=1 if differs else 0,
            why="base and head differ: exit 1" if differs else "the same image on both sides: no difference",
        )  # fmt: skip
        output.result(
            {
                "emulator": emulator.endpoint, "batch": batch, "validation": validation,
                "compare": (compared.result or {}).get("compare"), "steps": [step.as_json() for step in demo.steps],
            },
            lambda: output.info(
                f"\nsandbox demo done: batch {batch} (a failure and its retry), validation {validation} (failing"
                " tests), and a comparison of two images ran on the emulator; nothing touched AWS."
            ),
        )  # fmt: skip


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
    """A portal checkout as far as the commands look: the two example images (tiny FROM scratch builds; the
    ingestor's carries HEAD_OUTPUTS), ingestion_tools/scripts, and the sandbox's dataset config."""
    workspace = work / "example"
    (workspace / ".git").mkdir(parents=True)
    (workspace / "ingestion_tools" / "scripts").mkdir(parents=True)
    (workspace / "ingestion_tools" / "dataset_configs").mkdir()
    (workspace / CONFIG).write_text(DATASET_CONFIG)
    for context in ("ingestion_tools", "apiv2"):
        (workspace / context).mkdir(exist_ok=True)
        (workspace / context / "hello.txt").write_text(f"{context} built by cryoet-release sandbox demo\n")
        copies = "COPY hello.txt /hello.txt\n"
        if context == "ingestion_tools":
            (workspace / context / VARIATION).write_text(json.dumps(HEAD_OUTPUTS))
            copies += f"COPY {VARIATION} /{VARIATION}\n"
        (workspace / context / "Dockerfile").write_text("FROM scratch\n" + copies)
    return workspace


def _remove_demo_images(registry: str) -> None:
    with suppress(EngineError):
        engines.connect().remove([f"{registry}/{repo}:{DEMO_TAG}" for repo in ("cryoet-staging", "apiv2-x86")])
