"""The embedded emulator: moto's server on 127.0.0.1, seeded as the portal's staging (and prod) environment."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release.config import PORTAL_REGISTRY_ACCOUNT
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import UsageError

REGION = "us-west-2"
DATASETS = ("10000", "10001", "10002", "10004")
DEPOSITIONS = ("10300",)
WDLS = ("db_import-v0.0.3.wdl", "sync-v0.0.1.wdl", "validate_dataset-v0.0.2.wdl")
PASS_MACHINE = {"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}}
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
    "layers": [],
}


@dataclass(frozen=True)
class Emulator:
    endpoint: str

    @property
    def environment(self) -> dict[str, str]:
        """What a shell (or a child process) needs to talk to this emulator only."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": REGION,
        }


@contextmanager
def running(port: int = 0) -> Iterator[Emulator]:
    """moto's server on 127.0.0.1, executing state machines (a Pass machine SUCCEEDS), seeded; stopped on exit."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError(
            "the sandbox needs moto's server", hint="Install it with: python3 -m pip install 'cryoet-release[sandbox]'"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    # The emulator is the portal's own account, so the tool's defaults (registry_account) work unchanged.
    with _environment({"MOTO_ACCOUNT_ID": PORTAL_REGISTRY_ACCOUNT}):
        try:
            server.start()
        except OSError as error:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
        host, bound = server.get_host_and_port()
        emulator = Emulator(f"http://{host}:{bound}")
        try:
            _moto_config(emulator.endpoint, {"stepfunctions": {"execute_state_machine": True}})
            with _environment(emulator.environment):
                seed(cloud.Aws(region=REGION))
            yield emulator
        finally:
            server.stop()


def _moto_config(endpoint: str, config: Mapping[str, Any]) -> None:
    """The emulator's own control API (DESIGN.md), on 127.0.0.1."""
    url = f"{endpoint}/moto-api/config"
    request = urllib.request.Request(url, data=json.dumps(config).encode(), method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http://127.0.0.1 only
        response.read()


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
    for deposition in DEPOSITIONS:
        key = f"depositions_metadata/{deposition}/deposition_metadata.json"
        cloud.put_object(aws, "cryoet-data-portal-staging", key, json.dumps({"deposition_identifier": 10300}).encode())
    for repository in ("cryoet-staging", "apiv2-x86"):
        cloud.create_repository(aws, registry_id=aws.account, name=repository)
        manifest = dict(MANIFEST, annotations={"org.opencontainers.image.ref.name": f"{repository}:main"})
        cloud.put_image_manifest(aws, repository=repository, tag="main", manifest=json.dumps(manifest))


def serve_forever(opts: GlobalOptions, *, port: int) -> None:
    stop = threading.Event()
    with running(port) as emulator:
        exports = emulator.environment
        opts.output.result(
            {"endpoint": emulator.endpoint, "environment": exports},
            lambda: opts.output.stdout.print(
                "\n".join(f"export {key}={value}" for key, value in exports.items()), highlight=False
            ),
        )
        sys.stdout.flush()  # a parent reading our stdout through a pipe sees the exports now
        opts.output.info(
            f"AWS emulator on {emulator.endpoint}, seeded as the portal's staging environment. Ctrl-C stops it."
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            opts.output.info("stopped")
