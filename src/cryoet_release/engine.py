"""Every container-engine call, through python-on-whales: docker or podman, chosen or detected.

The engine is configured by its own means (DOCKER_HOST, CONTAINERS_STORAGE_CONF, ...); this module adds none.
Registry passwords go to the engine on stdin only, into an auth store in a private folder (see auth_root) that is
removed after the push, so no secret outlives the command or reaches an argv. This module changes no environment
variable: each call says what it needs in its own arguments. Import it inside command bodies.
"""

from __future__ import annotations

import logging
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
from python_on_whales.utils import run, stream_stdout_and_stderr

from cryoet_release.errors import EngineError
from cryoet_release.models import loopback

logger = logging.getLogger("cryoet_release.engine")
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
    authfile: Path | None = None
    """podman, logged in: the throw-away auth store its login and pushes use (docker's is the client's --config)."""

    def auth_args(self, host: str) -> list[str]:
        """podman's options for talking to `host`: the session's auth store, and plain HTTP for a loopback
        registry (docker treats 127.0.0.0/8 as insecure by itself), so no registries.conf needs editing."""
        args = ["--authfile", str(self.authfile)] if self.authfile else []
        if self.kind == "podman" and loopback(host):
            args.append("--tls-verify=false")
        return args


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
    logger.debug("%s", build_command(engine.kind, spec))
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
    logger.debug("%s image inspect %s", engine.kind, reference)
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
    logger.debug("%s image ls", engine.kind)
    try:
        images = engine.client.image.list()
    except DockerException as error:
        raise EngineError(f"{engine.kind} image list failed:\n{_tail(error)}") from error
    return [tag for image in images for tag in image.repo_tags or ()]


def tag(engine: Engine, source: str, target: str) -> None:
    logger.debug("%s", tag_command(engine.kind, source, target))
    try:
        engine.client.image.tag(source, target)
    except DockerException as error:
        raise EngineError(f"{engine.kind} tag {source} {target} failed:\n{_tail(error)}") from error


def remove(engine: Engine, references: Sequence[str]) -> None:
    """Untag (and delete when no tag is left) local images; missing ones are ignored."""
    for reference in references:
        logger.debug("%s image rm %s", engine.kind, reference)
        try:
            engine.client.image.remove(reference)
        except NoSuchImage:
            continue
        except DockerException as error:
            raise EngineError(f"{engine.kind} image rm {reference} failed:\n{_tail(error)}") from error


def auth_root(environ: Mapping[str, str]) -> Path:
    """Where throw-away auth stores live: the user's private runtime folder (a tmpfs that does not survive a
    reboot) when there is one, else a private folder in the user's state folder; never a world-listable one."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "cryoet-release"
    state = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cryoet-release" / "auth"


def remove_stale_auth(root: Path) -> list[Path]:
    """Remove the auth stores of processes that are gone (killed before they could clean up); returns them."""
    removed = []
    for folder in root.glob("auth-*") if root.is_dir() else ():
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def logged_in(engine: Engine, host: str, username: str, password: str, root: Path) -> Iterator[Engine]:
    """An engine logged in to `host` through a throw-away auth store under `root` (see auth_root), removed on the
    way out (SIGTERM and Ctrl-C included; after a SIGKILL, by the next run); the password goes on stdin only."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    root.chmod(0o700)
    remove_stale_auth(root)
    with tempfile.TemporaryDirectory(prefix=f"auth-{os.getpid()}-", dir=root) as private:
        if engine.kind == "docker":
            session = Engine(engine.kind, DockerClient(client_type="docker", config=private), engine.buildkit)
        else:
            session = Engine(engine.kind, engine.client, engine.buildkit, authfile=Path(private) / "auth.json")
        login = [*session.client.docker_cmd, "login", *session.auth_args(host), "--username", username]
        logger.debug("%s", login_command(engine.kind, host, username))
        try:
            # python-on-whales' login lets the engine print "Login Succeeded!" on our stdout, where --json's
            # document goes; its run() with the output captured does the same call.
            run([*login, "--password-stdin", host], capture_stdout=True, capture_stderr=True, input=password.encode())
        except DockerException as error:
            raise EngineError(f"{engine.kind} login to {host} failed:\n{_tail(error)}") from error
        yield session


def push(engine: Engine, reference: str, log: LogSink) -> str | None:
    """Push one `name:tag`; returns the manifest digest the registry now holds for it, as the engine reports it."""
    reported = None
    logger.debug("%s", push_command(engine.kind, reference))
    with tempfile.TemporaryDirectory(prefix="cryoet-release-push-") as private:
        digest_file = Path(private) / "digest"
        try:
            if engine.kind == "podman":
                # podman reports the pushed digest only through --digestfile, which python-on-whales' push lacks.
                command = [
                    *engine.client.docker_cmd, "image", "push", *engine.auth_args(reference.split("/", 1)[0]),
                    "--digestfile", str(digest_file), reference,
                ]  # fmt: skip
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
