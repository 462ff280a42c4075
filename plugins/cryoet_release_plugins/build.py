"""`cryoet-release build`: build the images and push them to ECR under a tag."""

from typing import Annotated

import typer

from cryoet_release.context import GlobalOptions
from cryoet_release_plugins.release.options import CreateRepository, Engine, Force, Images, Tag

app = typer.Typer(help="Build the images and push them to ECR under a tag.", subcommand_metavar="")


@app.callback(invoke_without_command=True)
def build(
    ctx: typer.Context,
    tag: Tag = None,
    image: Images = None,
    platform: Annotated[
        str | None, typer.Option(metavar="PLATFORM", help="Target platform [default: per image, linux/amd64].")
    ] = None,
    no_push: Annotated[bool, typer.Option("--no-push", help="Build only; push later with `push`.")] = False,
    build_arg: Annotated[
        list[str] | None, typer.Option(metavar="KEY=VALUE", help="Build argument (repeatable).")
    ] = None,
    sha_tag: Annotated[bool, typer.Option("--sha-tag", help="Also tag sha-<short git sha>.")] = False,
    create_repository: CreateRepository = False,
    force: Force = False,
    engine: Engine = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the commands and pushes; do nothing.")] = False,
) -> None:
    """Build each image from its context with OCI labels, log in to ECR, and push."""
    from cryoet_release import git
    from cryoet_release_plugins.release.requests import BuildRequest, parse_build_args
    from cryoet_release_plugins.release.workflows import run_build

    opts = ctx.ensure_object(GlobalOptions)
    request = BuildRequest(
        tag=tag if tag is not None else git.default_tag(opts.config().root, opts.environ),
        image=image or [],
        region=opts.region,
        platform=platform,
        push=not no_push,
        build_arg=parse_build_args(build_arg or []),
        sha_tag=sha_tag,
        create_repository=create_repository,
        force=force,
        engine=engine,
    )
    run_build(opts, request, dry_run=dry_run)
