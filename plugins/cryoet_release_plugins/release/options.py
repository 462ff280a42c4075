"""The options `build` and `push` both declare. Light on purpose: `--help` and completion import it."""

from typing import Annotated

import typer

Tag = Annotated[str | None, typer.Option(help="Image tag (default: the current git branch, sanitised).")]
Images = Annotated[
    list[str] | None, typer.Option("--image", metavar="KEY", help="Only this image (repeatable; default: all).")
]
CreateRepository = Annotated[bool, typer.Option("--create-repository", help="Create a missing ECR repository.")]
Force = Annotated[bool, typer.Option("--force", help="Allow pushing a protected tag (main) outside CI.")]
Engine = Annotated[str | None, typer.Option(help="docker | podman (default: config, else detected).")]
