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
import pytest

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
    assert "SUCCEEDED 2  FAILED 1\n" in run.stdout
    assert "SUCCEEDED 3\n" in run.stdout
    assert "failed or broken: test_voxel_spacing, test_zarr_chunks, test_annotations" in run.stdout
    assert "verdict: differences (10000: they differ: 18 objects changed" in run.stdout
    assert not (tmp_path / "state").exists()  # the demo's ledger lived in its own scratch folder
    print(f"README's first command, install included: {time.monotonic() - began:.1f} s")


def test_demo_json_reports_every_step(aws: str) -> None:
    require("docker-registry")
    require("podman")
    result = invoke("--json", "sandbox", "demo")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    steps = document["steps"]
    commands = [step["command"].split(" --")[0] for step in steps]
    batch, validation = document["batch"], document["validation"]
    assert commands == [
        "cryoet-release build", "cryoet-release enqueue db-import", f"cryoet-release status {batch}",
        f"cryoet-release enqueue retry {batch}", f"cryoet-release status {batch}",
        "cryoet-release enqueue validate 10000 10001", f"cryoet-release status {validation}",
        "cryoet-release compare queue ingestion_tools/dataset_configs/sandbox.yaml cryoetportal-rawdatasets-dev",
    ]  # fmt: skip
    assert (steps[0]["exit_code"], steps[0]["skipped"]) == (0, None)  # an engine and the registry are here: it built
    assert steps[1]["command"].endswith(f"--ecr-tag sandbox-demo --pin-digest --batch {batch} --parallelism 3")
    failed = steps[2]["result"]
    assert (failed["counts"]["SUCCEEDED"], failed["counts"]["FAILED"]) == (2, 1)
    [failure] = [e for e in failed["executions"] if e["state"] == "FAILED"]
    assert (failure["key"], failure["error"]) == ("10001", "SandboxFailure")
    assert steps[4]["result"]["counts"]["SUCCEEDED"] == 3
    tests = {e["key"]: e["tests"] for e in steps[6]["result"]["executions"]}
    assert steps[6]["exit_code"] == 1  # --exit-status: tests failed
    assert (tests["10000"]["failed"], tests["10000"]["broken"], tests["10001"]["failed"]) == (2, 1, 0)
    compared = steps[7]["result"]
    assert (steps[7]["exit_code"], compared["identical"]) == (1, False)
    changes = {
        (item["key"].rsplit("/", 1)[-1], json.dumps(item["diff"], sort_keys=True))
        for dataset in compared["datasets"] for item in dataset["changed"]
    }  # fmt: skip
    metadata = [{"a": "WBP", "b": "SART", "field": "['reconstruction_method']"}]
    assert changes == {
        ("0", json.dumps({"chunks": 8, "chunks_differ": 8}, sort_keys=True)),
        ("tomogram_metadata.json", json.dumps(metadata, sort_keys=True)),
    }  # exactly what the head image changes (HEAD_OUTPUTS), in both runs


def test_demo_without_a_registry_says_why_it_skips_the_build(tmp_path: Path) -> None:
    """Where docker-registry is not installed, the demo says so, and runs the jobs on the emulator's main images:
    the comparison of main with itself finds no difference."""
    from cryoet_release_plugins.sandbox.emulator import NO_REGISTRY

    env = {**path_with_this_python(), "PATH": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-m", "cryoet_release", "--json", "sandbox", "demo"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(run.stdout)
    steps = document["steps"]
    assert (steps[0]["exit_code"], steps[0]["skipped"]) == (None, NO_REGISTRY)
    assert "--ecr-tag main" in steps[1]["command"]
    assert steps[4]["result"]["counts"]["SUCCEEDED"] == 3
    assert (steps[7]["exit_code"], steps[7]["result"]["identical"]) == (0, True)


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
            "CRYOET_RELEASE_SANDBOX", "CRYOET_RELEASE_REGISTRY",
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


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "background"])
def test_a_port_in_use_is_exit_2_at_once(background: bool, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "cryoet_release", "sandbox", "serve", "--port", str(port),
             *(["--background"] if background else [])],
            env={**path_with_this_python(), "XDG_STATE_HOME": str(tmp_path / "state")},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert run.returncode == 2
    said = f"port {port} on 127.0.0.1 is in use"
    assert run.stderr.splitlines()[0] == (
        f"error: the sandbox did not start: {said}" if background else f"error: {said}"
    )
    assert "--port" in run.stderr.splitlines()[1]


def test_a_rehearsal_from_build_to_the_status_of_your_own_tag(
    podman_env: dict[str, str], registry: Registry, checkout: Path, tmp_path: Path
) -> None:
    """As a user would: serve, then build (the branch's tag, pushed), push it again, enqueue on that tag pinned by
    digest, status. serve says one line per event, the re-push included, and never a traceback."""
    require("docker-registry")
    env = {**path_with_this_python(), **podman_env, "XDG_STATE_HOME": str(tmp_path / "state")}
    env["CRYOET_RELEASE_ENGINE"] = "podman"
    log = (tmp_path / "serve.err").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "sandbox", "serve"],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True,
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
        batch = queued["batch"]
        assert (tmp_path / "state" / "cryoet-release" / "sandbox" / "batches" / f"{batch}.jsonl").is_file()
        assert not (tmp_path / "state" / "cryoet-release" / "batches").exists()  # apart from the real batches
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        log.close()
    said = (tmp_path / "serve.err").read_text().splitlines()
    assert not [line for line in said if "Traceback" in line or "Exception" in line], said[:20]
    events = [line.split(" ", 1)[1] for line in said if re.match(r"\d\d:\d\d:\d\d sandbox: ", line)]
    assert f"sandbox: pushed cryoet-staging:feature-new-db ({digest})" in events
    assert f"sandbox: pushed cryoet-staging:feature-new-db again ({digest}), already there" in events
    assert any(e.startswith(f"sandbox: {batch}-db-import-10000 SUCCEEDED (10000)") for e in events), events
    assert len(said) < 20, said  # a line per event: the greeting, the pushes, the job


def test_a_shell_rehearses_a_failure_in_the_background_sandbox(tmp_path: Path) -> None:
    """eval "$(... serve --background ...)", then batches in that shell: chosen jobs fail, time out or run long;
    the batches are kept apart from the real ones; stop ends the sandbox and unsets its exports; a batch left
    running in it then says which sandbox made it."""
    env = {**path_with_this_python(), "XDG_STATE_HOME": str(tmp_path / "state")}
    serve = "cryoet-release sandbox serve --background --fail '*-10001' --time-out 10002 --slow '*-validate-*=600'"
    script = f"""
        set -e
        eval "$({serve})"
        echo "endpoint: $AWS_ENDPOINT_URL"
        cryoet-release enqueue db-import --import-everything --include-dataset 10000 --include-dataset 10001 \\
            --include-dataset 10002 --batch rehearsal >/dev/null
        cryoet-release status rehearsal --watch --interval 1 | cat
        cryoet-release enqueue validate 10000 --batch cut >/dev/null
        AWS_MAX_ATTEMPTS=1 cryoet-release status cut --watch --interval 1 >/dev/null 2>"{tmp_path}/watch.err" &
        watcher=$!
        eval "$({serve})"
        sleep 1
        eval "$(cryoet-release sandbox stop)"
        echo "after stop: ${{AWS_ENDPOINT_URL-unset}}"
        wait $watcher || echo "watch exit: $?"
    """
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    endpoint = re.search(r"^endpoint: (http://127\.0\.0\.1:\d+)$", run.stdout, re.MULTILINE)
    assert endpoint is not None, run.stdout
    assert "SUCCEEDED 1  FAILED 1  TIMED_OUT 1\n" in run.stdout
    assert "the sandbox was asked to fail 10001 (its first attempt)" in run.stdout
    assert "after stop: unset" in run.stdout
    assert "watch exit: 3" in run.stdout  # the watch of a batch whose sandbox stopped meanwhile says so
    watched = (tmp_path / "watch.err").read_text().splitlines()
    assert [line for line in watched if line.startswith("error: ")] == [
        f"error: cannot reach AWS at {endpoint.group(1)}/: batch cut was made in the sandbox at {endpoint.group(1)},"
        " which is not running any more"
    ], watched
    assert f"a sandbox already serves on {endpoint.group(1)}" in run.stderr  # the second eval: the same sandbox
    assert re.search(r"^\d\d:\d\d:\d\dZ batch rehearsal: RUNNING 3 \(3 jobs\)$", run.stderr, re.MULTILINE)

    state = tmp_path / "state" / "cryoet-release"
    assert {p.name for p in (state / "sandbox" / "batches").iterdir()} >= {"cut.jsonl", "rehearsal.jsonl"}
    assert not (state / "batches").exists()
    assert not (state / "sandbox" / "serve.json").exists()
    said = (state / "sandbox" / "serve.log").read_text()
    assert "rehearsal-db-import-10002 TIMED_OUT (10002)" in said
    assert "Traceback" not in said

    gone = subprocess.run(
        [sys.executable, "-m", "cryoet_release", "status", "cut"],
        env={**env, "AWS_ENDPOINT_URL": endpoint.group(1), "CRYOET_RELEASE_SANDBOX": endpoint.group(1),
             "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": "us-west-2",
             "AWS_MAX_ATTEMPTS": "1"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert gone.returncode == 3, gone.stderr
    assert gone.stderr.splitlines()[0] == (
        f"error: cannot reach AWS at {endpoint.group(1)}/: batch cut was made in the sandbox at {endpoint.group(1)},"
        " which is not running any more"
    )


def test_stop_without_a_sandbox_and_a_bad_rule(tmp_path: Path) -> None:
    env = {**path_with_this_python(), "XDG_STATE_HOME": str(tmp_path / "state")}

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cryoet_release", *args], env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    stopped = tool("sandbox", "stop")
    assert (stopped.returncode, stopped.stderr) == (0, "no sandbox serves in the background\n")
    assert stopped.stdout.startswith("unset AWS_ENDPOINT_URL ")
    for rule in ("10001=soon", "10002"):
        bad = tool("sandbox", "serve", "--slow", rule)
        assert bad.returncode == 2
        assert bad.stderr.splitlines()[0] == f"error: slow: {rule!r} is not GLOB=SECONDS (for example '10001=60')"


def test_stop_never_signals_a_process_that_took_a_dead_sandboxs_pid(tmp_path: Path) -> None:
    """After a kill -9 or a reboot, serve.json may name a pid another process has taken since."""
    state_file = tmp_path / "state" / "cryoet-release" / "sandbox" / "serve.json"
    state_file.parent.mkdir(parents=True)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        state_file.write_text(json.dumps({"pid": bystander.pid, "endpoint": "http://127.0.0.1:9", "environment": {}}))
        stopped = subprocess.run(
            [sys.executable, "-m", "cryoet_release", "sandbox", "stop"], capture_output=True, text=True, timeout=60,
            env={**path_with_this_python(), "XDG_STATE_HOME": str(tmp_path / "state")}, check=False,
        )  # fmt: skip
        assert (stopped.returncode, stopped.stderr) == (0, "no sandbox serves in the background\n")
        assert bystander.poll() is None  # still running
        assert not state_file.exists()  # the stale file is gone
    finally:
        bystander.kill()
        bystander.wait()
