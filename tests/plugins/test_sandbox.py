"""The sandbox: `serve` as a user would run it, and the README's first quick-start command, exactly."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from tests.components import Registry, require
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
    assert commands[0] == (
        "python3 -m venv .venv && .venv/bin/pip install -q '.[sandbox]' && .venv/bin/cryoet-release sandbox demo"
    )
    assert commands[1] == "python3 -m venv .venv && .venv/bin/pip install -q nox && .venv/bin/nox"
    assert commands[1] in ROOT.joinpath(".ci", "run").read_text()  # CI runs the README's test command


def test_the_readme_main_job_runs_exactly_as_written(tmp_path: Path) -> None:
    """In a fresh copy of the project (the files git tracks), with a fresh virtual environment."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    project = tmp_path / "project"
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, project / name)
    env = path_with_this_python()
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    command = quick_start()[0]  # exactly as written, through a shell, as a reader pastes it
    began = time.monotonic()
    run = subprocess.run(  # noqa: S602
        command, shell=True, cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "sandbox demo done: batch sandbox-" in run.stderr
    assert "--ecr-tag sandbox-demo --pin-digest" in run.stderr  # the jobs ran the images the demo built
    assert re.search(r"SUCCEEDED.*\n.*\n.*\b3\b", run.stdout), run.stdout[-2000:]
    assert not (tmp_path / "state").exists()  # the demo's ledger lived in its own scratch folder
    print(f"README's first command, install included: {time.monotonic() - began:.1f} s")


def test_demo_json_reports_every_step(aws: str) -> None:
    require("docker-registry")
    require("podman")
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
    assert (build["exit_code"], build["skipped"]) == (0, None)  # an engine and the registry are here: it built
    assert commands[1].endswith("--ecr-tag sandbox-demo --pin-digest --batch " + document["batch"] + " --parallelism 3")


def test_demo_without_a_registry_says_why_it_skips_the_build(tmp_path: Path) -> None:
    """Where docker-registry is not installed, the demo says so, and runs the jobs on the emulator's main images."""
    from cryoet_release_plugins.sandbox.emulator import NO_REGISTRY

    env = {**path_with_this_python(), "PATH": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-m", "cryoet_release", "--json", "sandbox", "demo"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(run.stdout)
    build = document["steps"][0]
    assert (build["exit_code"], build["skipped"]) == (None, NO_REGISTRY)
    assert "--ecr-tag main" in document["steps"][1]["command"]
    assert document["steps"][2]["result"]["counts"]["SUCCEEDED"] == 3


def read_exports(stdout: Any) -> dict[str, str]:
    """The `export NAME=value` lines serve prints first, up to the registry's (docker-registry is installed)."""
    exports: dict[str, str] = {}
    while "CRYOET_RELEASE_REGISTRY" not in exports:
        line = stdout.readline()
        assert line.startswith("export "), line
        name, value = line.removeprefix("export ").strip().split("=", 1)
        exports[name] = value
    return exports


def registry_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("cryoet-release-sandbox-registry-*"))


def test_serve_seeds_the_staging_environment_and_stops_on_ctrl_c() -> None:
    require("docker-registry")
    before = registry_folders()
    env = path_with_this_python()
    server = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "sandbox", "serve", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        exports = read_exports(server.stdout)
        assert set(exports) == {
            "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
            "CRYOET_RELEASE_REGISTRY",
        }  # fmt: skip
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
        children = child_processes(server.pid)
        assert children, "the registry runs as serve's child"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "a child outlived serve"
    assert registry_folders() == before  # its temporary folder is gone too


def child_processes(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_a_port_in_use_is_exit_2_at_once() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "cryoet_release", "sandbox", "serve", "--port", str(port)],
            env=path_with_this_python(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.splitlines()[0] == f"error: port {port} on 127.0.0.1 is in use"
    assert "--port" in run.stderr


def test_a_rehearsal_from_build_to_the_status_of_your_own_tag(
    podman_env: dict[str, str], registry: Registry, checkout: Path, tmp_path: Path
) -> None:
    """As a user would: serve, then build (the branch's tag), push, enqueue on that tag pinned by digest, status."""
    require("docker-registry")
    env = {**path_with_this_python(), **podman_env, "XDG_STATE_HOME": str(tmp_path / "state")}
    env["CRYOET_RELEASE_ENGINE"] = "podman"
    server = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "sandbox", "serve"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        env.update(read_exports(server.stdout))

        def tool(*args: str) -> subprocess.CompletedProcess[str]:
            run = subprocess.run(
                [sys.executable, "-m", "cryoet_release", *args],
                env=env, cwd=checkout, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert run.returncode == 0, f"{args}: {run.stderr[-3000:]}"
            return run

        tool("build")  # the branch feature/New-DB: tag feature-new-db
        tool("push", "--tag", "feature-new-db")
        queued = json.loads(tool("--json", "enqueue", "db-import", "--include-dataset", "10000",
                                 "--ecr-tag", "feature-new-db", "--pin-digest").stdout)  # fmt: skip
        status = json.loads(tool("--json", "status", "--latest", "--watch", "--interval", "1").stdout)
        assert status["counts"]["SUCCEEDED"] == 1
        host = env["CRYOET_RELEASE_REGISTRY"]
        with urllib.request.urlopen(
            urllib.request.Request(
                f"http://{host}/v2/cryoet-staging/manifests/feature-new-db",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            ),
            timeout=10,
        ) as response:
            digest = response.headers["Docker-Content-Digest"]
        assert queued["images"]["docker_image_id"].endswith(f"/cryoet-staging@{digest}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
