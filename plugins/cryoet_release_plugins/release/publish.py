"""Log in to the registry with an ECR token and push, showing each image's latest step live."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryoet_release import aws as cloud
from cryoet_release.console import Output
from cryoet_release.engines.base import Engine
from cryoet_release_plugins.release.registry import Registry, cross_account
from cryoet_release_plugins.release.report import Released

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger("cryoet_release.release")


def push_images(
    engine: Engine,
    aws: cloud.Aws,
    registry: Registry,
    released: Sequence[Released],
    output: Output,
    auth_root: Path,
) -> None:
    """Log in to the registry with an ECR token and push every ref; fills in digest and status."""
    host = registry.host
    with cross_account(aws, registry):
        before = {
            item.key: cloud.image_digest(
                aws, registry_id=registry.account, repository=item.repository, tag=item.tags[0]
            )
            for item in released
        }
        credentials = cloud.registry_login(aws, registry_id=registry.account)
    with (
        engine.logged_in(host, credentials.username, credentials.password, auth_root) as session,
        output.activity() as live,
        ThreadPoolExecutor(max_workers=len(released)) as pool,
    ):

        def push_one(item: Released) -> None:
            show = live_line(live, item.key, "push")
            for ref in item.refs:
                digest = session.push(ref, show)
                item.digest = item.digest or digest
            # Compared with what ECR held for the tag before this push.
            item.status = "already there" if before[item.key] and before[item.key] == item.digest else "pushed"
            show(item.status, done=True)

        list(pool.map(push_one, released))


class _LiveLine(Protocol):
    def __call__(self, line: str, *, done: bool = False) -> None: ...


def live_line(live: Progress, key: str, step: str) -> _LiveLine:
    """A log sink that shows the latest line of one image's step, and logs every line at debug level."""
    task = live.add_task(f"{key}: {step}", total=None)

    def show(line: str, *, done: bool = False) -> None:
        log.debug("%s %s: %s", key, step, line)
        if done:
            live.update(task, description=f"{key}: {line[:100]}", completed=1, total=1)
        else:
            live.update(task, description=f"{key}: {line[:100]}")

    return show
