"""`cryoet-release push`: push images already built here to ECR; never builds."""

from typing import Annotated

import typer

from cryoet_release.context import GlobalOptions

app = typer.Typer(help="Push images already built here to ECR (never rebuilds).", subcommand_metavar="")


@app.callback(invoke_without_command=True)
def push(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option(help="Image tag (default: the current git branch, sanitised).")] = None,
    image: Annotated[
        list[str] | None, typer.Option(metavar="KEY", help="Image key to push (repeatable; default: all).")
    ] = None,
    create_repository: Annotated[
        bool, typer.Option("--create-repository", help="Create a missing ECR repository.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Allow pushing a protected tag (main) outside CI.")] = False,
    engine: Annotated[str | None, typer.Option(help="docker | podman (default: config, else detected).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the retags and pushes; do nothing.")] = False,
) -> None:
    """Push the local images of a tag to the region's registry, retagging them if built for another region."""
    from cryoet_release import git
    from cryoet_release_plugins.release import ReleaseRequest, run_push

    opts = ctx.ensure_object(GlobalOptions)
    request = ReleaseRequest(
        tag=tag if tag is not None else git.default_tag(opts.config().root),
        image=image or [],
        region=opts.region,
        create_repository=create_repository,
        force=force,
        engine=engine,
    )
    run_push(opts, request, dry_run=dry_run)
