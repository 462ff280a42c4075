"""`compare queue`'s options: its own (declared once, as a dataclass), then every option of the `queue` kind but
OUTPUT_PATH (the scratch tree is the output), taken from the kind itself. Light: `--help` imports it."""

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from cryoet_release.names import Environment
from cryoet_release_plugins.options import DEFAULT_PARALLELISM, LedgerDir, Parallelism

QUEUE = "queue"
REPLACED = frozenset({"output_path"})


@dataclass(frozen=True)
class CompareQueueOptions:
    """A standardization change's regression test. The same runs of a dataset config on two images, base and head,
    each into a scratch tree of its own on staging, then what each produced compared run by run."""

    scratch: Annotated[
        str | None,
        typer.Option(
            metavar="S3_PREFIX",
            help="Where both outputs go, s3://bucket/prefix [default: the config's compare.scratch]; never an"
            " environment's data bucket.",
        ),
    ] = None
    base: Annotated[str, typer.Option(metavar="TAG", help="The image tag to compare against.")] = "main"
    head: Annotated[
        str | None,
        typer.Option(metavar="TAG", help="The image tag of the change [default: the branch's, as build names it]."),
    ] = None
    base_tree: Annotated[
        str | None,
        typer.Option(
            metavar="S3_PREFIX",
            help="Compare against this existing tree (what staging holds) instead of running the base: half the"
            " compute.",
        ),
    ] = None
    exclude: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="Leave out keys matching it (repeatable; * matches across folders too)."),
    ] = None
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Submit and return; `compare show ID` compares later.")] = (
        False
    )
    interval: Annotated[
        float, typer.Option(min=1, max=3600, metavar="SECONDS", help="Seconds between looks while waiting.")
    ] = 30
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print both plans and submit nothing.")] = False
    environment: Annotated[
        Environment,
        typer.Option(metavar="[staging|prod]", help="Accepted for staging only: a comparison never runs on prod."),
    ] = Environment.STAGING
    ecr_repo: Annotated[
        str | None,
        typer.Option(metavar="REPOSITORY", help="ECR repository of both images [default: images.ingestor's]."),
    ] = None
    memory: Annotated[
        int | None, typer.Option(metavar="MB", help="Memory per job, MB [default: queue's, 24000].", show_default=False)
    ] = None
    parallelism: Parallelism = DEFAULT_PARALLELISM
    swipe_wdl_key: Annotated[
        str | None, typer.Option(metavar="KEY", help="Key of the WDL [default: queue's].", show_default=False)
    ] = None
    pin_digest: Annotated[bool, typer.Option("--pin-digest", help="Run each image by the digest its tag has now.")] = (
        False
    )
    skip_image_check: Annotated[
        bool, typer.Option("--skip-image-check", help="Do not check that the tags exist before submitting.")
    ] = False
    ledger_dir: LedgerDir = None


class CompareQueueCommand(TyperCommand):
    """The queue kind's options (but OUTPUT_PATH) first, then compare's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from cryoet_release.kinds import load_kinds
        from cryoet_release_plugins.batch.common import kind_parameters

        self.own = [str(param.name) for param in self.params]
        kinds, _ = load_kinds(only=QUEUE)
        self.queue = kinds[0] if kinds else None
        taken = kind_parameters(self.queue) if self.queue else []
        taken = [param for param in taken if param.name not in REPLACED]
        self.queue_names = [str(param.name) for param in taken if param.expose_value]
        self.params = [*taken, *self.params]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from cryoet_release_plugins.batch.common import record_command_line

        record_command_line(self, ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        from cryoet_release.context import GlobalOptions
        from cryoet_release.errors import UsageError
        from cryoet_release_plugins.compare.runs import run_regression

        if self.queue is None:
            raise UsageError("compare queue needs the enqueue kind `queue`, which is not installed")
        make_options: Any = self.callback
        options = make_options(**{name: ctx.params[name] for name in self.own})
        queue_values = {name: ctx.params[name] for name in self.queue_names}
        run_regression(
            ctx.find_object(GlobalOptions), self.queue, queue_values, options,
            command_line=ctx.meta.get("command_line", []),
        )  # fmt: skip
