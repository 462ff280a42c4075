"""`build` and `push`, start to end: validate, check the registry, build, log in, push, report."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from cryoet_release import engines, git
from cryoet_release.context import GlobalOptions
from cryoet_release.engines.base import BuildSpec, Engine, auth_root
from cryoet_release.errors import EngineError, UsageError
from cryoet_release_plugins.release.publish import live_line, push_images
from cryoet_release_plugins.release.registry import Registry, check_repositories, cross_account, registry_for
from cryoet_release_plugins.release.report import Released, Status, report
from cryoet_release_plugins.release.requests import BuildRequest, ReleaseRequest, refuse_protected


def _labels(root: Path, tag: str) -> dict[str, str]:
    revision = git.revision(root)
    labels = {
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.version": tag,
        "org.opencontainers.image.revision": revision.label if revision else "unknown",
    }
    if source := git.remote_url(root):
        labels["org.opencontainers.image.source"] = source
    return labels


def run_build(opts: GlobalOptions, request: BuildRequest, *, dry_run: bool) -> None:
    """Build the chosen images and (unless --no-push) push them. Validates everything before any side effect."""
    output = opts.output
    loaded = opts.config(engine=request.engine)
    images = request.images(loaded)
    if request.push:
        refuse_protected(request.tag, loaded, opts.environ, force=request.force)
    contexts = {key: loaded.root / image.context for key, image in images.items()}
    for key, image in images.items():
        if not (contexts[key] / image.dockerfile).is_file():
            inside = "the portal checkout" if (loaded.root / ".git").exists() else "the current folder (no git root)"
            raise UsageError(
                f"image {key}: no Dockerfile at {contexts[key] / image.dockerfile}; build looks for"
                f" images.{key}.context ({image.context}) in {inside}",
                hint=f"Run it inside a portal checkout, or set images.{key}.context (and .dockerfile) in"
                " cryoet-release.toml",
            )
    tags = [request.tag]
    if request.sha_tag:
        revision = git.revision(loaded.root)
        if revision is None:
            raise UsageError(f"--sha-tag needs a git checkout; {loaded.root} is not one")
        tags.append(f"sha-{revision.short}")
    labels = _labels(loaded.root, request.tag)
    aws, registry = registry_for(opts, request, loaded)
    targets = {key: [registry.ref(image.repository, t) for t in tags] for key, image in images.items()}
    created = []
    if request.push:
        with cross_account(aws, registry):
            created = check_repositories(aws, registry, targets, create=request.create_repository, dry_run=dry_run)
    for name in created:
        output.info(f"{'would create' if dry_run else 'created'} ECR repository {name}")

    specs = {
        key: BuildSpec(
            context=contexts[key],
            dockerfile=contexts[key] / image.dockerfile,
            tags=[ref.tagged for ref in targets[key]],
            labels=labels,
            build_args=request.build_arg,
            platform=request.platform or image.platform,
        )
        for key, image in images.items()
    }

    if dry_run:
        renders = _dry_run_engine(opts, loaded.config.engine)
        released = []
        for key, image in images.items():
            commands = [renders.build_command(specs[key])]
            if request.push:
                commands.append(renders.login_command(registry.host, "AWS"))
                commands += [renders.push_command(ref.tagged) for ref in targets[key]]
            status: Status = "would push" if request.push else "would build"
            released.append(
                Released(key, image.repository, [r.tagged for r in targets[key]], status, commands=commands)
            )
        report(output, released, opts.environ, dry_run=True)
        return

    engine = engines.connect(loaded.config.engine, opts.environ, output.warn)
    with output.activity() as live, ThreadPoolExecutor(max_workers=len(images)) as pool:

        def build_one(key: str) -> Released:
            show = live_line(live, key, "build")
            built = engine.build(specs[key], show)
            show(f"built {built.id[:19]}", done=True)
            refs = [ref.tagged for ref in targets[key]]
            return Released(key, images[key].repository, refs, "built", size=built.size, image_id=built.id)

        # Images build side by side: the engine serialises what must be, and each gets its own live line.
        released = list(pool.map(build_one, images))
    if request.push:
        push_images(engine, aws, registry, released, output, _auth_root(opts))
    report(output, released, opts.environ)


def run_push(opts: GlobalOptions, request: ReleaseRequest, *, dry_run: bool) -> None:
    """Push images already built here; never builds. A local image tagged for another region is retagged."""
    output = opts.output
    loaded = opts.config(engine=request.engine)
    images = request.images(loaded)
    refuse_protected(request.tag, loaded, opts.environ, force=request.force)
    aws, registry = registry_for(opts, request, loaded)
    engine = engines.connect(loaded.config.engine, opts.environ, output.warn)
    local = engine.local_tags()
    released, retags = [], []
    for key, image in images.items():
        target = registry.ref(image.repository, request.tag).tagged
        found = engine.inspect(target)
        commands = []
        if found is None:
            source = next((name for name in local if _same_image(name, image.repository, request.tag, registry)), None)
            if source is None:
                raise EngineError(
                    f"no local image for {key}: {target} is not in {engine.name}'s image store",
                    hint=f"Build it first: cryoet-release build --no-push --tag {request.tag} --image {key}"
                    f" --region {registry.region}",
                )
            found = engine.inspect(source)
            retags.append((source, target))
            commands.append(engine.tag_command(source, target))
        commands.append(engine.push_command(target))
        status: Status = "would push" if dry_run else "pushed"
        size, image_id = (found.size, found.id) if found else (None, None)
        released.append(Released(key, image.repository, [target], status, size, image_id=image_id, commands=commands))
    targets = {item.key: [registry.ref(item.repository, request.tag)] for item in released}
    with cross_account(aws, registry):
        check_repositories(aws, registry, targets, create=request.create_repository, dry_run=dry_run)
    if dry_run:
        report(output, released, opts.environ, dry_run=True)
        return
    for source, target in retags:
        output.info(f"retagging {source} as {target}")
        engine.tag(source, target)
    push_images(engine, aws, registry, released, output, _auth_root(opts))
    report(output, released, opts.environ)


def _auth_root(opts: GlobalOptions) -> Path:
    return auth_root(opts.process.runtime_dir(), opts.process.state_dir())


def _dry_run_engine(opts: GlobalOptions, chosen: str | None) -> type[Engine]:
    """The engine whose commands a dry run prints: the chosen one, else the one that would be detected, else
    docker (a dry run needs no engine at all)."""
    try:
        name = chosen or engines.detect(opts.environ)
    except EngineError:
        name = "docker"
    return engines.engine_class(name, opts.environ)


def _same_image(name: str, repository: str, tag: str, registry: Registry) -> bool:
    """`name` is repository:tag in an ECR registry of any region (or in the override registry)."""
    hosts = r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?"
    if registry.override:
        hosts += "|" + re.escape(registry.override)
    return re.fullmatch(rf"(?:{hosts})/{re.escape(repository)}:{re.escape(tag)}", name) is not None
