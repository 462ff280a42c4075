"""podman: daemonless (CONTAINERS_* are honoured); builds with buildah and streams its steps."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar, Literal

from python_on_whales.utils import stream_stdout_and_stderr

from cryoet_release.engines.base import Engine, LogSink
from cryoet_release.models import loopback


class Podman(Engine):
    name: ClassVar[str] = "podman"
    client_type: ClassVar[Literal["docker", "podman"]] = "podman"
    preference: ClassVar[int] = 1
    install_hint: ClassVar[str] = "Install podman (apt-get install podman), or use --engine docker"
    start_hint: ClassVar[str] = "Check `podman info`; or use --engine docker"
    authfile: Path | None = None
    """Logged in: the throw-away auth store its login and pushes use."""

    def _session(self, private: Path) -> Engine:
        session = type(self)(self.client)
        session.authfile = private / "auth.json"
        return session

    def _registry_args(self, host: str) -> list[str]:
        """The session's auth store, and plain HTTP for a loopback registry (docker treats 127.0.0.0/8 as insecure
        by itself), so no registries.conf needs editing."""
        args = ["--authfile", str(self.authfile)] if self.authfile else []
        return [*args, "--tls-verify=false"] if loopback(host) else args

    def _push(self, reference: str, log: LogSink) -> str | None:
        # podman reports the pushed digest only through --digestfile, which python-on-whales' push lacks.
        with tempfile.TemporaryDirectory(prefix="cryoet-release-push-") as private:
            digest_file = Path(private) / "digest"
            host = reference.split("/", 1)[0]
            command = [
                *self.client.docker_cmd, "image", "push", *self._registry_args(host),
                "--digestfile", str(digest_file), reference,
            ]  # fmt: skip
            for _, raw in stream_stdout_and_stderr(command):
                log(raw.decode(errors="replace").rstrip())
            return digest_file.read_text().strip() or None if digest_file.is_file() else None
