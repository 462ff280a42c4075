"""The options `build` and `push` both declare. Light on purpose: `--help` and completion import it."""

from typing import Annotated

import typer

from cryoet_release import engines
from cryoet_release.completion import image_keys
from cryoet_release.params import choice

Tag = Annotated[str | None, typer.Option(metavar="TAG", help="Image tag [default: the current git branch, sanitised].")]
Images = Annotated[
    list[str] | None,
    typer.Option(
        "--image", metavar="KEY", help="Only this image (repeatable) [default: all].", autocompletion=image_keys
    ),
]
CreateRepository = Annotated[bool, typer.Option("--create-repository", help="Create a missing ECR repository.")]
Force = Annotated[bool, typer.Option("--force", help="Allow pushing a protected tag (main) outside CI.")]
Engine = Annotated[
    str | None,
    typer.Option(
        click_type=choice(engines.names()),
        metavar=f"[{'|'.join(engines.names())}]",
        help="Container engine [default: the config's engine, else docker if its daemon answers, else podman].",
        show_default=False,
    ),
]
