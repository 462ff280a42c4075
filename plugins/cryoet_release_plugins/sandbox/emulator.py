"""The embedded emulator: moto's server on 127.0.0.1, seeded as the portal's staging (and prod) environment, with a
registry whose pushes its ECR sees, and simulated jobs (see jobs) that run each execution it starts."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release.config import PORTAL_REGISTRY_ACCOUNT
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import OperationFailed, UsageError
from cryoet_release_plugins.options import SANDBOX_ENV
from cryoet_release_plugins.sandbox import outputs
from cryoet_release_plugins.sandbox.jobs import Rules, Runner

log = logging.getLogger("cryoet_release.sandbox")

REGION = "us-west-2"
DATASETS = ("10000", "10001", "10002", "10004")
DEPOSITIONS = ("10300",)
WDLS = ("db_import-v0.0.3.wdl", "sync-v0.0.1.wdl", "validate_dataset-v0.0.2.wdl", "standardize_dirs.wdl-v0.0.1.wdl")
RAW_BUCKET = "cryoetportal-rawdatasets-dev"
RAW_RUNS = ("TS_001", "TS_002")
DATASET_CONFIG = """\
# A dataset config for the sandbox's raw data (s3://cryoetportal-rawdatasets-dev/sandbox/): two runs of 10000.
standardization_config:
  deposition_id: 10300
  source_prefix: sandbox
depositions:
- sources:
  - literal: {value: [10300]}
datasets:
- sources:
  - literal: {value: [10000]}
runs:
- sources:
  - source_glob: {list_glob: '{dataset_name}/*'}
"""
PASS_MACHINE = {"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}}
IMAGES = ("cryoet-staging", "apiv2-x86")
MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
    "layers": [],
}


SCRATCH = "s3://sandbox-scratch/compare"


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    registry: str | None = None
    """host:port of the sandbox's registry, when docker-registry is installed (build and push work then)."""

    @property
    def environment(self) -> dict[str, str]:
        """What a shell (or a child process) needs to talk to this emulator (and its registry) only."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": REGION,
            SANDBOX_ENV: self.endpoint,
            **({"CRYOET_RELEASE_REGISTRY": self.registry} if self.registry else {}),
        }


NO_REGISTRY = "build and push are off: docker-registry is not installed (apt-get install docker-registry)"
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


def _refuse_busy(port: int) -> None:
    """A port in use is a usage error, said at once (moto's server would print an error and then hang)."""
    if port == 0:
        return
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise UsageError(
                f"port {port} on 127.0.0.1 is in use", hint="Choose another with --port, or --port 0 for any free one"
            ) from None


@contextmanager
def running(port: int = 0, rules: Rules | None = None) -> Iterator[Emulator]:
    """moto's server on 127.0.0.1, seeded, its executions run by simulated jobs as `rules` say; stopped on exit."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError(
            "the sandbox needs moto's server", hint="Install it with: python3 -m pip install 'cryoet-release[sandbox]'"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    _refuse_busy(port)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    # The emulator is the portal's own account, so the tool's defaults (registry_account) work unchanged.
    with _environment({"MOTO_ACCOUNT_ID": PORTAL_REGISTRY_ACCOUNT}):
        try:
            server.start()
        except OSError as error:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
        host, bound = server.get_host_and_port()
        endpoint = f"http://{host}:{bound}"
        try:
            with _environment(Emulator(endpoint).environment):
                aws = cloud.Aws(region=REGION)
                seed(aws)
                with _registry(aws) as registry, _jobs(aws, rules or Rules(), registry):
                    seed_images(aws, registry)
                    yield Emulator(endpoint, registry)
        finally:
            server.stop()


@contextmanager
def _jobs(aws: cloud.Aws, rules: Rules, registry: str | None) -> Iterator[Runner]:
    """Simulated jobs, in this process, on the emulator's own state (moto runs no WDL)."""
    from moto.stepfunctions.models import stepfunctions_backends

    def write(path: str, data: bytes) -> None:
        bucket, _, key = path.partition("/")
        cloud.put_object(aws, bucket, key, data)

    runner = Runner(
        stepfunctions_backends[PORTAL_REGISTRY_ACCOUNT][REGION], rules, write,
        lambda image: outputs.image_variation(registry, image),
    )  # fmt: skip
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@contextmanager
def _registry(aws: cloud.Aws) -> Iterator[str | None]:
    """docker-registry on 127.0.0.1 whose push notifications register each pushed manifest and tag in the
    emulator's ECR (PutImage with the registry's own digest), as pushing to ECR does; None without the program."""
    program = shutil.which("docker-registry")
    if program is None:
        yield None
        return
    events = _EventListener(aws)
    with tempfile.TemporaryDirectory(prefix="cryoet-release-sandbox-registry-") as folder:
        port = _free_port()
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(Path(folder) / "data")}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
            "notifications": {
                "endpoints": [{"name": "sandbox", "url": events.url, "timeout": "2s", "threshold": 3, "backoff": "1s"}]
            },
        }
        (Path(folder) / "config.yml").write_text(json.dumps(config))
        process = subprocess.Popen(
            [program, "serve", str(Path(folder) / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        registry = f"127.0.0.1:{port}"
        events.registry = registry
        try:
            _wait_for_registry(registry)
            yield registry
        finally:
            process.terminate()
            process.wait(timeout=20)
            events.close()


class _EventListener:
    """The registry's notifications endpoint, on 127.0.0.1: each manifest pushed under a tag goes to ECR."""

    def __init__(self, aws: cloud.Aws) -> None:
        self.aws = aws
        self.registry = ""
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    listener.record(json.loads(body or b"{}").get("events", []))
                except Exception as error:  # noqa: BLE001 - one line, never a traceback; the registry must not retry
                    log.warning("sandbox: a registry event was not recorded: %s", error)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/events"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def record(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            target = event.get("target", {})
            if event.get("action") != "push" or not target.get("tag") or target.get("mediaType") not in MANIFEST_TYPES:
                continue
            repository, digest = target["repository"], target["digest"]
            request = urllib.request.Request(
                f"http://{self.registry}/v2/{repository}/manifests/{digest}", headers={"Accept": target["mediaType"]}
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the loopback registry
                manifest = response.read().decode()
            if cloud.repository(self.aws, registry_id=self.aws.account, name=repository) is None:
                cloud.create_repository(self.aws, registry_id=self.aws.account, name=repository)
            if (
                cloud.image_digest(self.aws, registry_id=self.aws.account, repository=repository, tag=target["tag"])
                == digest
            ):
                log.info("sandbox: pushed %s:%s again (%s), already there", repository, target["tag"], digest)
                continue  # a re-push of the same image: ECR has it under that tag already
            cloud.put_image_manifest(
                self.aws, repository=repository, tag=target["tag"], manifest=manifest, digest=digest,
                media_type=target["mediaType"],
            )  # fmt: skip
            log.info("sandbox: pushed %s:%s (%s)", repository, target["tag"], digest)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_registry(registry: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{registry}/v2/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise OperationFailed(f"the sandbox registry on {registry} did not start within {timeout:.0f} s")


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in (*values, "AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_DEFAULT_PROFILE", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def seed(aws: cloud.Aws) -> None:
    """The portal's buckets, sample datasets and depositions, swipe buckets, state machines and `main` images."""
    for environment, bucket in (("staging", "cryoet-data-portal-staging"), ("prod", "cryoet-data-portal-public")):
        cloud.create_bucket(aws, bucket)
        cloud.create_bucket(aws, f"cryoet-{environment}-swipe-comms")
        cloud.create_bucket(aws, f"cryoet-{environment}-swipe-wdl")
        for wdl in WDLS:
            cloud.put_object(aws, f"cryoet-{environment}-swipe-wdl", wdl, b"version 1.0\n")
        cloud.create_state_machine(
            aws,
            name=f"cryoet-ingestion-{environment}-default-wdl",
            definition=json.dumps(PASS_MACHINE),
            role_arn=f"arn:aws:iam::{aws.account}:role/cryoet-{environment}-swipe",
        )
    for dataset in DATASETS:
        metadata = json.dumps({"dataset_identifier": int(dataset), "dataset_title": f"Sandbox dataset {dataset}"})
        cloud.put_object(aws, "cryoet-data-portal-staging", f"{dataset}/dataset_metadata.json", metadata.encode())
    cloud.put_object(aws, "cryoet-data-portal-staging", "10003/README.txt", b"a folder that is not a dataset\n")
    cloud.create_bucket(aws, RAW_BUCKET)
    for run in RAW_RUNS:
        cloud.put_object(aws, RAW_BUCKET, f"sandbox/10000/{run}/{run}.mrc", b"raw tilt series (simulated)\n")
    cloud.create_bucket(aws, SCRATCH.removeprefix("s3://").split("/", 1)[0])
    for deposition in DEPOSITIONS:
        key = f"depositions_metadata/{deposition}/deposition_metadata.json"
        cloud.put_object(aws, "cryoet-data-portal-staging", key, json.dumps({"deposition_identifier": 10300}).encode())
    for repository in IMAGES:
        cloud.create_repository(aws, registry_id=aws.account, name=repository)


def seed_images(aws: cloud.Aws, registry: str | None) -> None:
    """The `main` images: in the registry when there is one (its push notification puts them in ECR, as a push to
    ECR would; then their labels can be read), else in ECR only (a manifest, no image)."""
    for repository in IMAGES:
        if registry is None:
            manifest = dict(MANIFEST, annotations={"org.opencontainers.image.ref.name": f"{repository}:main"})
            cloud.put_image_manifest(aws, repository=repository, tag="main", manifest=json.dumps(manifest))
        else:
            _push_empty_image(registry, repository, "main")
    deadline = time.monotonic() + 20
    while registry and not all(
        cloud.image_digest(aws, registry_id=aws.account, repository=repository, tag="main") for repository in IMAGES
    ):
        if time.monotonic() > deadline:
            raise OperationFailed("the sandbox registry did not notify the emulator's ECR of its main images in 20 s")
        time.sleep(0.1)


def _push_empty_image(registry: str, repository: str, tag: str) -> None:
    """An image of no layers, pushed with the distribution API: its config blob, then its manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    digest = "sha256:" + hashlib.sha256(config.encode()).hexdigest()
    base = f"http://{registry}/v2/{repository}"

    def send(url: str, method: str, data: bytes = b"", content_type: str = "application/octet-stream") -> Any:
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})  # noqa: S310
        return urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the loopback registry

    with send(f"{base}/blobs/uploads/", "POST") as started:
        upload = urllib.parse.urljoin(f"http://{registry}/", started.headers["Location"])
    upload += ("&" if "?" in upload else "?") + urllib.parse.urlencode({"digest": digest})
    send(upload, "PUT", config.encode()).close()
    manifest = dict(MANIFEST, config={**MANIFEST["config"], "digest": digest, "size": len(config)})
    send(f"{base}/manifests/{tag}", "PUT", json.dumps(manifest).encode(), MANIFEST["mediaType"]).close()


def serve_forever(opts: GlobalOptions, *, port: int, rules: Rules, state_file: Path | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM. Prints the exports on stdout, then one line per event on stderr. With
    `state_file` (a `serve --background`'s child), writes what `stop` and the parent need there once serving."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    events = logging.getLogger("cryoet_release.sandbox")
    handler = logging.StreamHandler(opts.output.stderr.file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    events.addHandler(handler)
    events.setLevel(logging.INFO)
    events.propagate = False  # one line per event, once, with or without -v
    with running(port, rules) as emulator, tempfile.TemporaryDirectory(prefix="cryoet-release-sandbox-") as folder:
        config = Path(folder) / "sandbox-dataset.yaml"
        config.write_text(DATASET_CONFIG)
        exports = emulator.environment
        document = {"endpoint": emulator.endpoint, "environment": exports, "pid": os.getpid(),
                    "dataset_config": str(config), "options": rules.as_arguments()}  # fmt: skip
        opts.output.result(document, lambda: opts.output.stdout.print(export_lines(exports), highlight=False))
        sys.stdout.flush()  # a parent reading our stdout through a pipe sees the exports now
        if state_file is not None:
            _write_atomically(state_file, json.dumps(document))
        opts.output.info(
            f"AWS emulator on {emulator.endpoint}, seeded as the portal's staging environment (account"
            f" {PORTAL_REGISTRY_ACCOUNT}). {'SIGTERM' if state_file else 'Ctrl-C'} stops it."
        )
        if emulator.registry:
            opts.output.info(
                f"registry on {emulator.registry}: build and push go there, and the emulator's ECR sees each push"
            )
        else:
            opts.output.warn(NO_REGISTRY)
        opts.output.info(
            f"a dataset config for its raw data: {config} (for example: cryoet-release compare queue {config}"
            f" {RAW_BUCKET} --scratch {SCRATCH})"
        )
        if rules != Rules():
            opts.output.info(f"jobs: {rules.describe()}")
        try:
            while not stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if state_file is not None:
                state_file.unlink(missing_ok=True)
        opts.output.info("stopped")


def export_lines(environment: Mapping[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in environment.items())


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)
