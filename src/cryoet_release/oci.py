"""Reading an image's configuration from its registry (the OCI distribution API, the same on ECR and a mirror).

No image is pulled: one manifest and the config blob it names, read with the registry's own login (for ECR, the
GetAuthorizationToken user and password, sent in the Authorization header only).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from cryoet_release.errors import OperationFailed
from cryoet_release.models import loopback

MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def _getter(
    host: str, repository: str, reference: str, username: str | None, password: str | None
) -> Callable[[str, str | None], bytes]:
    """GET `/v2/<repository>/<path>` from the registry at `host` (plain HTTP on loopback). Raises OperationFailed."""
    scheme = "http" if loopback(host) else "https"
    auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode() if username is not None else None

    def get(path: str, accept: str | None = None) -> bytes:
        url = f"{scheme}://{host}/v2/{repository}/{path}"  # http(s) only: the scheme is chosen above
        request = urllib.request.Request(url)  # noqa: S310
        if auth:
            request.add_header("Authorization", auth)
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) to the registry
                return bytes(response.read())
        except (urllib.error.URLError, OSError) as error:
            raise OperationFailed(f"cannot read {repository}:{reference} from {host}: {error}") from None

    return get


def _manifest(get: Callable[[str, str | None], bytes], reference: str) -> Any:
    """The image's manifest; for an index (several platforms), the first image's."""
    try:
        manifest = json.loads(get(f"manifests/{reference}", MANIFESTS))
        if "manifests" in manifest:
            manifest = json.loads(get(f"manifests/{manifest['manifests'][0]['digest']}", MANIFESTS))
    except (ValueError, KeyError, IndexError) as error:
        raise OperationFailed(f"{reference}: not an image manifest ({error})") from None
    return manifest


def image_labels(host: str, repository: str, reference: str, username: str, password: str) -> dict[str, str]:
    """The labels of `repository:reference` (a tag or a digest) in the registry at `host`; for an index (several
    platforms) the first image's. Raises OperationFailed when the registry will not say."""
    get = _getter(host, repository, reference, username, password)
    manifest = _manifest(get, reference)
    try:
        config = json.loads(get(f"blobs/{manifest['config']['digest']}", None))
    except (ValueError, KeyError) as error:
        raise OperationFailed(f"cannot read the configuration of {repository}:{reference}: {error}") from None
    return dict(config.get("config", {}).get("Labels") or {})


def read_file(
    host: str, repository: str, reference: str, path: str, username: str | None = None, password: str | None = None
) -> bytes | None:
    """A file of the image's filesystem (its last layer that has it), without pulling the image; None when no
    layer has it. Raises OperationFailed when the registry will not say."""
    get = _getter(host, repository, reference, username, password)
    wanted = {path.lstrip("/"), "./" + path.lstrip("/")}
    for layer in reversed(_manifest(get, reference).get("layers", [])):
        data = get(f"blobs/{layer['digest']}", None)
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                member = next((m for m in archive.getmembers() if m.name in wanted and m.isfile()), None)
                if member is not None:
                    found = archive.extractfile(member)
                    return found.read() if found is not None else None
        except tarfile.TarError:
            continue
    return None
