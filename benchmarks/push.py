"""Overhead of `cryoet-release build` (build + ECR login + push of both images) over the engine's own commands.

One run, on real components started here: moto (ECR token), docker-registry (htpasswd user AWS), podman or dockerd.
Each contender builds its own copy of the fixture (same sizes, different bytes), so neither profits from the
other's cache. Then a second `cryoet-release push` of the unchanged images: blob uploads counted in the registry's
access log (target 0). Targets: overhead ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.components import ECR_PASSWORD, podman_environment, start_dockerd, start_registry, stop  # noqa: E402


def fixture(root: Path, payload_mb: int) -> Path:
    for context in ("ingestion_tools", "apiv2"):
        (root / context).mkdir(parents=True)
        (root / context / "payload.bin").write_bytes(secrets.token_bytes(payload_mb * 1024 * 1024))
        (root / context / "Dockerfile").write_text("FROM scratch\nCOPY payload.bin /payload.bin\n")
    subprocess.run(["git", "init", "-q", "-b", "bench", str(root)], check=True)
    return root


def timed(argv: list[str], cwd: Path, stdin: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, input=stdin, text=True, check=True, capture_output=True)
    return time.perf_counter() - start


def engine_commands(engine: str, registry_host: str, directory: Path) -> float:
    """The baseline: what an engineer types, with the labels the tool adds."""
    seconds = timed([engine, "login", "--username", "AWS", "--password-stdin", registry_host], directory, ECR_PASSWORD)
    for context, repository in (("ingestion_tools", "cryoet-staging"), ("apiv2", "apiv2-x86")):
        ref = f"{registry_host}/{repository}:baseline"
        labels = ["created=2026-01-01T00:00:00Z", "version=baseline", "revision=unknown"]
        label_flags = [f"--label=org.opencontainers.image.{label}" for label in labels]
        platform = ["--platform", "linux/amd64"] if engine == "podman" else []
        seconds += timed([engine, "build", *platform, "--tag", ref, *label_flags, context], directory)
        seconds += timed([engine, "push", ref], directory)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["podman", "docker"], default="podman")
    parser.add_argument("--payload-mb", type=int, default=16)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        work = Path(tmp)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        registry_process, registry = start_registry(work / "registry")
        dockerd = None
        if args.engine == "podman":
            engine_env = podman_environment(work / "podman", registry)
        else:
            dockerd, engine_env = start_dockerd(work / "dockerd")
        os.environ.update(
            engine_env,
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-west-2",
            CRYOET_RELEASE_ENGINE=args.engine,
            CRYOET_RELEASE_REGISTRY=registry.host,
            REGISTRY_AUTH_FILE=str(work / "baseline-auth.json"),
            DOCKER_CONFIG=str(work / "baseline-docker"),
        )
        import boto3

        ecr = boto3.client("ecr")
        for repository in ("cryoet-staging", "apiv2-x86"):
            ecr.create_repository(repositoryName=repository)
        try:
            baseline_dir = fixture(work / "baseline", args.payload_mb)
            tool_dir = fixture(work / "tool", args.payload_mb)
            engine = args.engine

            tool = [sys.executable, "-m", "cryoet_release", "build", "--tag", "bench"]
            baseline_seconds = engine_commands(engine, registry.host, baseline_dir)
            tool_seconds = timed(tool, tool_dir)
            before = registry.uploads()
            again_seconds = timed([sys.executable, "-m", "cryoet_release", "push", "--tag", "bench"], tool_dir)
            uploads = registry.uploads() - before

            print(f"engine: {engine}, fixture: 2 images of {args.payload_mb} MiB each")
            ratio = tool_seconds / baseline_seconds
            print(f"  engine's own commands (login, build with the same labels, push x2): {baseline_seconds:6.2f} s")
            print(f"  cryoet-release build (same work)            : {tool_seconds:6.2f} s")
            print(f"  overhead ratio                              : {ratio:6.2f} (target <= 1.3)")
            print(f"  second push of the unchanged images         : {again_seconds:6.2f} s, {uploads} blob uploads "
                  "(target 0)")  # fmt: skip
        finally:
            stop(registry_process)
            if dockerd is not None:
                stop(dockerd)
            moto.stop()


if __name__ == "__main__":
    main()
