"""Every container-engine call, through python-on-whales: docker or podman, chosen or detected.

The engine is configured by its own means (DOCKER_HOST, CONTAINERS_STORAGE_CONF, ...); this module adds none.
Registry passwords go to the engine on stdin only, into an auth store in a private temporary folder that is
removed after the push, so no secret outlives the command or reaches an argv. Import it inside command bodies.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from python_on_whales import DockerClient, DockerException
from python_on_whales.exceptions import NoSuchImage
from python_on_whales.utils import stream_stdout_and_stderr

from cryoet_release.errors import EngineError

EngineKind = Literal["docker", "podman"]
LogSink = Callable[[str], None]

_START_HINT = {
    "docker": "Start it (sudo systemctl start docker) or point DOCKER_HOST at a running daemon, or use --engine podman",
    "podman": "Check `podman info`; or use --engine docker",
}
_INSTALL_HINT = {
    "docker": "Install Docker (apt-get install docker.io), or use --engine podman",
    "podman": "Install podman (apt-get install podman), or use --engine docker",
}
_DOCKER_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class LocalImage:
    id: str
    size: int


@dataclass(frozen=True)
class Engine:
    kind: EngineKind
    client: DockerClient
    buildkit: bool
    """docker with buildx (BuildKit); False: podman (buildah) or docker's classic builder."""


def detect() -> EngineKind | None:
    """docker if its daemon answers, else podman if installed, else None."""
    if shutil.which("docker") and _answers(DockerClient(client_type="docker")):
        return "docker"
    return "podman" if shutil.which("podman") else None


def connect(kind: EngineKind | None = None) -> Engine:
    """The chosen engine, else the detected one. Raises EngineError."""
    kind = kind or detect()
    if kind is None:
        raise EngineError(
            "no container engine: no docker daemon answers and podman is not installed",
            hint="Install podman (apt-get install podman) or start docker, or pass --engine",
        )
    if shutil.which(kind) is None:
        raise EngineError(f"{kind} is not installed (not on PATH)", hint=_INSTALL_HINT[kind])
    client = DockerClient(client_call=[kind], client_type=kind)
    if not _answers(client):
        raise EngineError(f"the {kind} engine is not answering", hint=_START_HINT[kind])
    buildkit = kind == "docker" and _has_buildx(client)
    return Engine(kind=kind, client=client, buildkit=buildkit)


def _answers(client: DockerClient) -> bool:
    try:
        client.version()
    except DockerException:
        return False
    return True


def _has_buildx(client: DockerClient) -> bool:
    try:
        client.buildx.version()
    except DockerException:
        return False
    return True


@dataclass(frozen=True)
class BuildSpec:
    """One image to build: what both the build and its `--dry-run` rendering take."""

    context: Path
    dockerfile: Path
    tags: Sequence[str]
    labels: Mapping[str, str]
    build_args: Mapping[str, str]
    platform: str


def build(engine: Engine, spec: BuildSpec, log: LogSink) -> LocalImage:
    """Build one image. BuildKit (docker buildx) and podman stream their steps to `log`. Raises EngineError."""
    context, dockerfile, tags = spec.context, spec.dockerfile, list(spec.tags)
    try:
        if engine.buildkit or engine.kind == "podman":
            lines = engine.client.build(
                context,
                file=dockerfile,
                tags=tags,
                labels=dict(spec.labels),
                build_args=dict(spec.build_args),
                platforms=[spec.platform],
                load=engine.buildkit,
                stream_logs=True,
                progress="plain",
            )
            for line in lines if isinstance(lines, Iterator) else ():
                log(str(line).rstrip())
        else:
            _require_native(spec.platform)
            log("building with docker's classic builder (no buildx here)")
            engine.client.legacy_build(
                context, file=dockerfile, tags=tags, labels=dict(spec.labels), build_args=dict(spec.build_args)
            )
    except DockerException as error:
        raise EngineError(f"{engine.kind} build of {context} failed:\n{_tail(error)}") from error
    image = inspect(engine, tags[0])
    if image is None:
        raise EngineError(f"{engine.kind} reported success but {tags[0]} is not in its image store")
    return image


def _require_native(platform_name: str) -> None:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    if platform_name != f"linux/{machine}":
        raise EngineError(
            f"docker without buildx builds only for linux/{machine}, not {platform_name}",
            hint="Install docker-buildx, or use --engine podman",
        )


def inspect(engine: Engine, reference: str) -> LocalImage | None:
    try:
        image = engine.client.image.inspect(reference)
    except NoSuchImage:
        return None
    except DockerException as error:
        raise EngineError(f"{engine.kind} image inspect {reference} failed:\n{_tail(error)}") from error
    return LocalImage(
        id=image.id,
        size=int(image.size or 0),
    )


def local_tags(engine: Engine) -> list[str]:
    """Every `name:tag` in the engine's image store."""
    try:
        images = engine.client.image.list()
    except DockerException as error:
        raise EngineError(f"{engine.kind} image list failed:\n{_tail(error)}") from error
    return [tag for image in images for tag in image.repo_tags or ()]


def tag(engine: Engine, source: str, target: str) -> None:
    try:
        engine.client.image.tag(source, target)
    except DockerException as error:
        raise EngineError(f"{engine.kind} tag {source} {target} failed:\n{_tail(error)}") from error


def remove(engine: Engine, references: Sequence[str]) -> None:
    """Untag (and delete when no tag is left) local images; missing ones are ignored."""
    for reference in references:
        try:
            engine.client.image.remove(reference)
        except NoSuchImage:
            continue
        except DockerException as error:
            raise EngineError(f"{engine.kind} image rm {reference} failed:\n{_tail(error)}") from error


@contextmanager
def logged_in(engine: Engine, host: str, username: str, password: str) -> Iterator[Engine]:
    """An engine logged in to `host` through a throw-away auth store; the password goes on stdin only."""
    with tempfile.TemporaryDirectory(prefix="cryoet-release-auth-") as private:
        if engine.kind == "docker":
            session = Engine(engine.kind, DockerClient(client_type="docker", config=private), engine.buildkit)
            restore = None
        else:
            session = engine
            restore = os.environ.get("REGISTRY_AUTH_FILE")
            os.environ["REGISTRY_AUTH_FILE"] = str(Path(private) / "auth.json")
        try:
            try:
                session.client.login(host, username=username, password=password)
            except DockerException as error:
                raise EngineError(f"{engine.kind} login to {host} failed:\n{_tail(error)}") from error
            yield session
        finally:
            if engine.kind == "podman":
                if restore is None:
                    os.environ.pop("REGISTRY_AUTH_FILE", None)
                else:
                    os.environ["REGISTRY_AUTH_FILE"] = restore


def push(engine: Engine, reference: str, log: LogSink) -> str | None:
    """Push one `name:tag`; returns the manifest digest the registry now holds for it, as the engine reports it."""
    reported = None
    with tempfile.TemporaryDirectory(prefix="cryoet-release-push-") as private:
        digest_file = Path(private) / "digest"
        try:
            if engine.kind == "podman":
                # podman reports the pushed digest only through --digestfile, which python-on-whales' push lacks.
                command = [*engine.client.docker_cmd, "image", "push", "--digestfile", str(digest_file), reference]
                lines: Iterable[bytes] = (line for _, line in stream_stdout_and_stderr(command))
            else:
                lines = (line for _, line in engine.client.image.push(reference, stream_logs=True) or ())
            for raw in lines:
                line = raw.decode(errors="replace").rstrip()
                log(line)
                found = _DOCKER_DIGEST.search(line)
                reported = found.group(1) if found else reported
        except DockerException as error:
            raise EngineError(f"{engine.kind} push of {reference} failed:\n{_tail(error)}") from error
        if digest_file.is_file():
            reported = digest_file.read_text().strip() or reported
    return reported


def build_command(engine_kind: str, spec: BuildSpec) -> str:
    """The build command line as `--dry-run` shows it."""
    argv = [engine_kind, "build", "--file", str(spec.dockerfile), "--platform", spec.platform]
    for name in spec.tags:
        argv += ["--tag", name]
    for key, value in spec.labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in spec.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    return shlex.join([*argv, str(spec.context)])


def login_command(engine_kind: str, host: str, username: str) -> str:
    return (
        shlex.join([engine_kind, "login", "--username", username, "--password-stdin", host]) + "  # password on stdin"
    )


def tag_command(engine_kind: str, source: str, target: str) -> str:
    return shlex.join([engine_kind, "tag", source, target])


def push_command(engine_kind: str, reference: str) -> str:
    return shlex.join([engine_kind, "push", reference])


def _tail(error: DockerException, lines: int = 15) -> str:
    """The engine's own words (its stderr), never the command line python-on-whales puts first."""
    text = (error.stderr or error.stdout or "").strip()
    return "\n".join(text.splitlines()[-lines:]) or f"exit code {error.return_code}"
