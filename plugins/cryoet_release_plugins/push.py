"""`cryoet-release push`: push images already built here to ECR; never builds."""

from typing import Annotated

import typer

from cryoet_release.context import GlobalOptions
from cryoet_release_plugins.release.options import CreateRepository, Engine, Force, Images, Tag

app = typer.Typer(help="Push images already built here to ECR (never rebuilds).", subcommand_metavar="")


@app.callback(invoke_without_command=True)
def push(
    ctx: typer.Context,
    tag: Tag = None,
    image: Images = None,
    create_repository: CreateRepository = False,
    force: Force = False,
    engine: Engine = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the retags and pushes; do nothing.")] = False,
) -> None:
    """Push the local images of a tag to the region's registry, retagging them if built for another region."""
    from cryoet_release import git
    from cryoet_release_plugins.release.requests import ReleaseRequest
    from cryoet_release_plugins.release.workflows import run_push

    opts = ctx.ensure_object(GlobalOptions)
    request = ReleaseRequest(
        tag=tag if tag is not None else git.default_tag(opts.config().root, opts.environ),
        image=image or [],
        region=opts.region,
        create_repository=create_repository,
        force=force,
        engine=engine,
    )
    run_push(opts, request, dry_run=dry_run)
