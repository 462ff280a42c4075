"""The sandbox: `serve` as a user would run it, and the README's first quick-start command, exactly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3

from tests.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> list[str]:
    """The README's quick-start commands, as written."""
    section = ROOT.joinpath("README.md").read_text().split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def path_with_this_python() -> dict[str, str]:
    """`python3` and `cryoet-release` resolve to the interpreter running the tests, as after the install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRYOET_RELEASE_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def test_readme_quick_start_has_two_commands() -> None:
    commands = quick_start()
    assert len(commands) == 2
    assert commands[0] == "python3 -m pip install '.[sandbox]' && cryoet-release sandbox demo"
    assert "nox" in commands[1]


def test_the_readme_main_job_runs_exactly_as_written(tmp_path: Path) -> None:
    env = path_with_this_python()
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    command = quick_start()[0]  # exactly as written, through a shell, as a reader pastes it
    run = subprocess.run(  # noqa: S602
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "sandbox demo done: batch sandbox-" in run.stderr
    assert re.search(r"SUCCEEDED.*\n.*\n.*\b3\b", run.stdout), run.stdout[-2000:]
    assert not (tmp_path / "state").exists()  # the demo's ledger lived in its own scratch folder


def test_demo_json_reports_every_step(aws: str) -> None:
    result = invoke("--json", "sandbox", "demo")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    commands = [step["command"] for step in document["steps"]]
    assert commands[0].startswith("cryoet-release build --tag sandbox-demo")
    assert commands[1].startswith("cryoet-release enqueue db-import")
    assert commands[2].startswith("cryoet-release status sandbox-")
    status = document["steps"][2]["result"]
    assert status["counts"]["SUCCEEDED"] == 3
    assert status["closed"] is True
    build = document["steps"][0]
    assert build["exit_code"] == 0 or build["skipped"]


def test_serve_seeds_the_staging_environment_and_stops_on_ctrl_c() -> None:
    env = path_with_this_python()
    server = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "sandbox", "serve", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        exports = dict(server.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(4))
        assert set(exports) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
        session = boto3.Session(
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            region_name=exports["AWS_DEFAULT_REGION"],
        )
        endpoint = exports["AWS_ENDPOINT_URL"]
        assert endpoint.startswith("http://127.0.0.1:")
        buckets = {b["Name"] for b in session.client("s3", endpoint_url=endpoint).list_buckets()["Buckets"]}
        assert {"cryoet-data-portal-staging", "cryoet-staging-swipe-comms", "cryoet-staging-swipe-wdl"} <= buckets
        listed = session.client("s3", endpoint_url=endpoint).list_objects_v2(
            Bucket="cryoet-data-portal-staging", Prefix="10000/"
        )
        assert [o["Key"] for o in listed["Contents"]] == ["10000/dataset_metadata.json"]
        machines = session.client("stepfunctions", endpoint_url=endpoint).list_state_machines()["stateMachines"]
        assert {m["name"] for m in machines} == {
            "cryoet-ingestion-staging-default-wdl",
            "cryoet-ingestion-prod-default-wdl",
        }
        ecr = session.client("ecr", endpoint_url=endpoint)
        for repository in ("cryoet-staging", "apiv2-x86"):
            tags = [i["imageTag"] for i in ecr.list_images(repositoryName=repository)["imageIds"]]
            assert tags == ["main"]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0
