"""docker: a daemon (DOCKER_HOST is honoured); BuildKit through buildx when installed, else the classic builder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from python_on_whales import DockerClient, DockerException

from cryoet_release.engines.base import BuildSpec, Engine, LogSink, native_platform
from cryoet_release.errors import EngineError

_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class Docker(Engine):
    name: ClassVar[str] = "docker"
    client_type: ClassVar[Literal["docker", "podman"]] = "docker"
    preference: ClassVar[int] = 0
    install_hint: ClassVar[str] = "Install Docker (apt-get install docker.io), or use --engine podman"
    start_hint: ClassVar[str] = (
        "Start it (sudo systemctl start docker) or point DOCKER_HOST at a running daemon, or use --engine podman"
    )

    @classmethod
    def unusable(cls) -> str | None:
        installed = super().unusable()
        if installed is not None:
            return installed
        client = DockerClient(client_call=[cls.name], client_type=cls.client_type)
        return None if cls(client).answers() else f"no {cls.name} daemon answers"

    def __init__(self, client: DockerClient) -> None:
        super().__init__(client)
        self._buildkit: bool | None = None

    @property
    def buildkit(self) -> bool:
        """buildx is installed: BuildKit builds any platform and streams its steps."""
        if self._buildkit is None:
            try:
                self.client.buildx.version()
                self._buildkit = True
            except DockerException:
                self._buildkit = False
        return self._buildkit

    def _build(self, spec: BuildSpec, log: LogSink) -> None:
        if self.buildkit:
            super()._build(spec, log)
            return
        if spec.platform != native_platform():
            raise EngineError(
                f"docker without buildx builds only for {native_platform()}, not {spec.platform}",
                hint="Install docker-buildx, or use --engine podman",
            )
        log("building with docker's classic builder (no buildx here)")
        self.client.legacy_build(
            spec.context, file=spec.dockerfile, tags=list(spec.tags), labels=dict(spec.labels),
            build_args=dict(spec.build_args),
        )  # fmt: skip

    def _loads_what_it_builds(self) -> bool:
        return True

    def _session(self, private: Path) -> Engine:
        session = type(self)(DockerClient(client_call=[self.name], client_type=self.client_type, config=private))
        session._buildkit = self._buildkit
        return session

    def _push(self, reference: str, log: LogSink) -> str | None:
        reported = None
        for _, raw in self.client.image.push(reference, stream_logs=True) or ():
            line = raw.decode(errors="replace").rstrip()
            log(line)
            found = _DIGEST.search(line)
            reported = found.group(1) if found else reported
        return reported
