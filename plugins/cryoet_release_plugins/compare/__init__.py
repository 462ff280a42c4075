"""`cryoet-release compare ...`: the verdict on a change, from what two images produced.

- `compare trees A B`: what differs between two S3 trees (exit 0 identical, 1 they differ);
- `compare queue CONFIG INPUT_BUCKET --scratch S3`: a standardization change's regression test, in one command: the
  same runs queued on the base tag and on the head tag, each into its own scratch tree, then compared run by run;
- `compare show ID`: the comparison of an earlier `compare queue --no-wait`, once its jobs have run.
"""

import inspect
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cryoet_release.context import GlobalOptions
from cryoet_release_plugins.options import DEFAULT_PARALLELISM, ReadParallelism

QUEUE = "queue"


class CompareGroup(TyperGroup):
    """`compare queue` takes every option of the `queue` kind: it is built when used, so that the other commands'
    --help (and the list of subcommands, from its docstring) import no kind."""

    def list_commands(self, ctx: Any) -> list[str]:
        """trees, queue, show: from the simplest to the one that follows queue."""
        names = [name for name in super().list_commands(ctx) if name != QUEUE]
        return [*names[:1], QUEUE, *names[1:]]

    def get_command(self, ctx: Any, name: str) -> Any:
        if name == QUEUE and name not in self.commands:
            from cryoet_release_plugins.batch.common import typer_command
            from cryoet_release_plugins.compare.options import CompareQueueCommand, CompareQueueOptions

            self.add_command(typer_command(CompareQueueOptions, name=QUEUE, cls=CompareQueueCommand), QUEUE)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        from cryoet_release.cli import format_commands_lazily
        from cryoet_release_plugins.compare.options import CompareQueueOptions

        format_commands_lazily(self, ctx, formatter, {QUEUE: inspect.getdoc(CompareQueueOptions)})


app = typer.Typer(
    cls=CompareGroup, help="Compare what two images produced: the verdict on a change.", no_args_is_help=True
)

Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", metavar="GLOB", help="Leave out keys matching it (repeatable; * matches across folders too)."
    ),
]


@app.command("trees")
def trees(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(metavar="A", help="The first tree, s3://bucket/prefix.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The second tree, s3://bucket/prefix.")],
    exclude: Exclude = None,
    profile_b: Annotated[
        str | None, typer.Option("--profile-b", metavar="PROFILE", help="Read B with this AWS profile.")
    ] = None,
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="Read B without credentials (a public bucket).")
    ] = False,
    parallelism: ReadParallelism = DEFAULT_PARALLELISM,
) -> None:
    """What differs between two S3 trees. Exit 0 when identical, 1 when they differ."""
    from cryoet_release_plugins.compare.runs import compare_trees

    compare_trees(
        ctx.ensure_object(GlobalOptions), a, b, exclude=exclude or [], profile_b=profile_b, anonymous=anonymous,
        parallelism=parallelism,
    )  # fmt: skip


@app.command("show")
def show(
    ctx: typer.Context,
    compare_id: Annotated[str, typer.Argument(metavar="COMPARE_ID", help="What `compare queue` printed.")],
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Show where the jobs are now; compare only when they have ended.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=1, max=3600, metavar="SECONDS", help="Seconds between looks while waiting.")
    ] = 30,
    parallelism: ReadParallelism = DEFAULT_PARALLELISM,
) -> None:
    """The verdict of an earlier `compare queue`. Waits for its jobs, then compares run by run."""
    from cryoet_release_plugins.compare.runs import show_comparison

    show_comparison(
        ctx.ensure_object(GlobalOptions), compare_id, wait=not no_wait, interval=interval, parallelism=parallelism
    )
