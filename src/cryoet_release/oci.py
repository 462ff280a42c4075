"""Reading an image's configuration from its registry (the OCI distribution API, the same on ECR and a mirror).

No image is pulled: one manifest and the config blob it names, read with the registry's own login (for ECR, the
GetAuthorizationToken user and password, sent in the Authorization header only).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
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


def image_labels(host: str, repository: str, reference: str, username: str, password: str) -> dict[str, str]:
    """The labels of `repository:reference` (a tag or a digest) in the registry at `host`; for an index (several
    platforms) the first image's. Raises OperationFailed when the registry will not say."""
    scheme = "http" if loopback(host) else "https"
    auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def get(path: str, accept: str | None = None) -> Any:
        url = f"{scheme}://{host}/v2/{repository}/{path}"  # http(s) only: the scheme is chosen above
        request = urllib.request.Request(url, headers={"Authorization": auth})  # noqa: S310
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) to the registry
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise OperationFailed(f"cannot read {repository}:{reference} from {host}: {error}") from None

    manifest = get(f"manifests/{reference}", MANIFESTS)
    if "manifests" in manifest:  # an index: the first platform's image
        manifest = get(f"manifests/{manifest['manifests'][0]['digest']}", MANIFESTS)
    config = get(f"blobs/{manifest['config']['digest']}")
    return dict(config.get("config", {}).get("Labels") or {})
