"""What a container engine is: one class, through python-on-whales. Subclasses (one module each) say how an engine
differs: how it logs in, how it reports a pushed digest, how it talks to a loopback registry.

The engine is configured by its own means (DOCKER_HOST, CONTAINERS_STORAGE_CONF, ...); this package adds none.
Registry passwords go to the engine on stdin only, into an auth store in a private folder (see auth_root) that is
removed after the push, so no secret outlives the command or reaches an argv. No environment variable is changed:
each call says what it needs in its own arguments. Import it inside command bodies: it imports python-on-whales.
"""

from __future__ import annotations

import logging
import os
import platform
import shlex
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from python_on_whales import DockerClient, DockerException
from python_on_whales.exceptions import NoSuchImage
from python_on_whales.utils import run

from cryoet_release.context import pid_alive
from cryoet_release.errors import EngineError

logger = logging.getLogger("cryoet_release.engine")
LogSink = Callable[[str], None]


@dataclass(frozen=True)
class LocalImage:
    id: str
    size: int


@dataclass(frozen=True)
class BuildSpec:
    """One image to build: what both the build and its `--dry-run` rendering take."""

    context: Path
    dockerfile: Path
    tags: Sequence[str]
    labels: Mapping[str, str]
    build_args: Mapping[str, str]
    platform: str


class Engine(ABC):
    """A container engine: build, push, log in, inspect. `connect()` gives one that answers."""

    name: ClassVar[str]
    """The `--engine` value, and the program's name on PATH."""
    client_type: ClassVar[Literal["docker", "podman"]]
    """The command-line dialect python-on-whales speaks to it."""
    preference: ClassVar[int] = 100
    """Detection order when no engine is chosen: lower first."""
    install_hint: ClassVar[str] = ""
    start_hint: ClassVar[str] = ""

    def __init__(self, client: DockerClient) -> None:
        self.client = client

    # --- finding one ---------------------------------------------------------------------------------------------

    @classmethod
    def unusable(cls) -> str | None:
        """Why this engine cannot be used here (for detection), or None."""
        return None if shutil.which(cls.name) else f"{cls.name} is not installed"

    @classmethod
    def connect(cls) -> Engine:
        """An engine that answers. Raises EngineError saying how to install or start it."""
        if shutil.which(cls.name) is None:
            raise EngineError(f"{cls.name} is not installed (not on PATH)", hint=cls.install_hint or None)
        engine = cls(DockerClient(client_call=[cls.name], client_type=cls.client_type))
        if not engine.answers():
            raise EngineError(f"the {cls.name} engine is not answering", hint=cls.start_hint or None)
        return engine

    def answers(self) -> bool:
        try:
            self.client.version()
        except DockerException:
            return False
        return True

    # --- building ------------------------------------------------------------------------------------------------

    def build(self, spec: BuildSpec, log: LogSink) -> LocalImage:
        """Build one image, streaming its steps to `log`. Raises EngineError."""
        logger.debug("%s", self.build_command(spec))
        try:
            self._build(spec, log)
        except DockerException as error:
            raise EngineError(f"{self.name} build of {spec.context} failed:\n{_tail(error)}") from error
        image = self.inspect(spec.tags[0])
        if image is None:
            raise EngineError(f"{self.name} reported success but {spec.tags[0]} is not in its image store")
        return image

    def _build(self, spec: BuildSpec, log: LogSink) -> None:
        lines = self.client.build(
            spec.context, file=spec.dockerfile, tags=list(spec.tags), labels=dict(spec.labels),
            build_args=dict(spec.build_args), platforms=[spec.platform], stream_logs=True, progress="plain",
            load=self._loads_what_it_builds(),
        )  # fmt: skip
        for line in lines if isinstance(lines, Iterator) else ():
            log(str(line).rstrip())

    def _loads_what_it_builds(self) -> bool:
        """The build must be told to load its image into the engine's store (BuildKit)."""
        return False

    # --- the image store -----------------------------------------------------------------------------------------

    def inspect(self, reference: str) -> LocalImage | None:
        logger.debug("%s image inspect %s", self.name, reference)
        try:
            image = self.client.image.inspect(reference)
        except NoSuchImage:
            return None
        except DockerException as error:
            raise EngineError(f"{self.name} image inspect {reference} failed:\n{_tail(error)}") from error
        return LocalImage(id=image.id, size=int(image.size or 0))

    def local_tags(self) -> list[str]:
        """Every `name:tag` in the engine's image store."""
        logger.debug("%s image ls", self.name)
        try:
            images = self.client.image.list()
        except DockerException as error:
            raise EngineError(f"{self.name} image list failed:\n{_tail(error)}") from error
        return [tag for image in images for tag in image.repo_tags or ()]

    def tag(self, source: str, target: str) -> None:
        logger.debug("%s", self.tag_command(source, target))
        try:
            self.client.image.tag(source, target)
        except DockerException as error:
            raise EngineError(f"{self.name} tag {source} {target} failed:\n{_tail(error)}") from error

    def remove(self, references: Sequence[str]) -> None:
        """Untag (and delete when no tag is left) local images; missing ones are ignored."""
        for reference in references:
            logger.debug("%s image rm %s", self.name, reference)
            try:
                self.client.image.remove(reference)
            except NoSuchImage:
                continue
            except DockerException as error:
                raise EngineError(f"{self.name} image rm {reference} failed:\n{_tail(error)}") from error

    # --- the registry --------------------------------------------------------------------------------------------

    @contextmanager
    def logged_in(self, host: str, username: str, password: str, root: Path) -> Iterator[Engine]:
        """This engine logged in to `host` through a throw-away auth store under `root` (see auth_root), removed on
        the way out (SIGTERM and Ctrl-C included; after a SIGKILL, by the next run); the password goes on stdin
        only."""
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.chmod(0o700)
        remove_stale_auth(root)
        with tempfile.TemporaryDirectory(prefix=f"auth-{os.getpid()}-", dir=root) as private:
            session = self._session(Path(private))
            login = [*session.client.docker_cmd, "login", *session._registry_args(host), "--username", username]
            logger.debug("%s", self.login_command(host, username))
            try:
                # python-on-whales' login lets the engine print "Login Succeeded!" on our stdout, where --json's
                # document goes; its run() with the output captured does the same call.
                run([*login, "--password-stdin", host], capture_stdout=True, capture_stderr=True,
                    input=password.encode())  # fmt: skip
            except DockerException as error:
                raise EngineError(f"{self.name} login to {host} failed:\n{_tail(error)}") from error
            yield session

    @abstractmethod
    def _session(self, private: Path) -> Engine:
        """This engine with its auth store in the folder `private`."""

    def _registry_args(self, host: str) -> list[str]:
        """Options of login and push for talking to `host` (the session's auth store, plain HTTP, ...)."""
        return []

    def push(self, reference: str, log: LogSink) -> str | None:
        """Push one `name:tag`; returns the manifest digest the registry now holds for it, as the engine reports
        it. Raises EngineError."""
        logger.debug("%s", self.push_command(reference))
        try:
            return self._push(reference, log)
        except DockerException as error:
            raise EngineError(f"{self.name} push of {reference} failed:\n{_tail(error)}") from error

    @abstractmethod
    def _push(self, reference: str, log: LogSink) -> str | None:
        """Push, streaming the engine's lines to `log`; the digest the engine reports."""

    # --- what --dry-run prints -----------------------------------------------------------------------------------

    @classmethod
    def build_command(cls, spec: BuildSpec) -> str:
        argv = [cls.name, "build", "--file", str(spec.dockerfile), "--platform", spec.platform]
        for name in spec.tags:
            argv += ["--tag", name]
        for key, value in spec.labels.items():
            argv += ["--label", f"{key}={value}"]
        for key, value in spec.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        return shlex.join([*argv, str(spec.context)])

    @classmethod
    def login_command(cls, host: str, username: str) -> str:
        return (
            shlex.join([cls.name, "login", "--username", username, "--password-stdin", host]) + "  # password on stdin"
        )

    @classmethod
    def tag_command(cls, source: str, target: str) -> str:
        return shlex.join([cls.name, "tag", source, target])

    @classmethod
    def push_command(cls, reference: str) -> str:
        return shlex.join([cls.name, "push", reference])


def native_platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"linux/{machine}"


def auth_root(runtime: Path | None, state: Path) -> Path:
    """Where throw-away auth stores live: the user's private runtime folder (a tmpfs that does not survive a
    reboot) when there is one, else a private folder in the user's state folder; never a world-listable one."""
    return runtime if runtime is not None else state / "auth"


def remove_stale_auth(root: Path) -> list[Path]:
    """Remove the auth stores of processes that are gone (killed before they could clean up); returns them."""
    removed = []
    for folder in root.glob("auth-*") if root.is_dir() else ():
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _tail(error: DockerException, lines: int = 15) -> str:
    """The engine's own words (its stderr), never the command line python-on-whales puts first."""
    text = (error.stderr or error.stdout or "").strip()
    return "\n".join(text.splitlines()[-lines:]) or f"exit code {error.return_code}"
