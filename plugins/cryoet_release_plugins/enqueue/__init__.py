"""`cryoet-release enqueue ...`: queue Step Functions jobs that run a chosen image tag.

One subcommand per registered kind (entry-point group `cryoet_release.enqueue_kinds`; the first-party ones are in
`kinds/`), each made by one mechanism (batch.common.KindCommand: the kind's options, then those every kind takes);
then `resume` and `retry` of a batch. The heavy modules are imported when a command runs, so `--help` stays light.
"""

import inspect
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cryoet_release.context import GlobalOptions
from cryoet_release_plugins.options import DEFAULT_PARALLELISM, LedgerDir, Parallelism, batch_ids

if TYPE_CHECKING:
    from cryoet_release.kinds import Kind


class KindsGroup(TyperGroup):
    """The kinds become commands when used, one by one: a `--help` of another command imports none of them, running
    one (or its --help) imports and builds only it, and the list of subcommands reads only their summaries. The
    kinds come first, in their order; resume and retry last."""

    _kinds: "dict[str, type[Kind]] | None" = None

    def kinds(self, only: str | None = None) -> "dict[str, type[Kind]]":
        """The kinds that load (or only the one named so), by name; the broken ones are warnings."""
        if self._kinds is not None:
            return self._kinds
        from cryoet_release.console import Output
        from cryoet_release.kinds import load_kinds

        found, problems = load_kinds(only=only)
        for line in problems:
            Output().warn(line)
        loaded = {kind.name: kind for kind in found if kind.name not in self.commands}
        if only is None:
            self._kinds = loaded
        return loaded

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.kinds(), *(name for name in super().list_commands(ctx) if name not in self.kinds())]

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in self.commands:
            kind = self.kinds(only=name).get(name)
            if kind is not None:
                from cryoet_release_plugins.batch.common import kind_command, typer_command

                self.commands[name] = typer_command(kind, name=name, cls=kind_command(kind))
        return super().get_command(ctx, name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The list of subcommands needs their summaries only: the kinds not built yet are listed from their
        docstrings, without building their options."""
        from cryoet_release.cli import format_commands_lazily

        format_commands_lazily(
            self, ctx, formatter, {name: inspect.getdoc(kind) for name, kind in self.kinds().items()}
        )


app = typer.Typer(
    cls=KindsGroup,
    help="Queue the ingestion jobs that run an image tag. Each is a Step Functions execution.",
    no_args_is_help=True,
)


@app.command("resume")
def resume(
    ctx: typer.Context,
    batch: Annotated[
        str,
        typer.Argument(
            metavar="BATCH", help="The batch to resume (see `cryoet-release batches`).", autocompletion=batch_ids
        ),
    ],
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    ledger_dir: LedgerDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the jobs it would submit; submit nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before resuming a prod batch.")] = False,
) -> None:
    """Submit what a batch has not started. Same names and inputs, so never twice."""
    from cryoet_release_plugins.batch.flow import resume as resume_batch

    opts = ctx.ensure_object(GlobalOptions)
    resume_batch(opts, batch, parallelism=parallelism, ledger_dir=ledger_dir, dry_run=dry_run, yes=yes)


@app.command("retry")
def retry(
    ctx: typer.Context,
    batch: Annotated[
        str,
        typer.Argument(metavar="BATCH", help="The batch (see `cryoet-release batches`).", autocompletion=batch_ids),
    ],
    include_aborted: Annotated[
        bool, typer.Option("--include-aborted", help="Also retry jobs whose latest attempt was ABORTED.")
    ] = False,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    ledger_dir: LedgerDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the new attempts; submit nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before retrying a prod batch.")] = False,
) -> None:
    """Retry the jobs that failed. A new attempt (<name>-r1, -r2, ...) of each whose latest FAILED or TIMED_OUT."""
    from cryoet_release_plugins.batch.flow import retry as retry_batch

    retry_batch(
        ctx.ensure_object(GlobalOptions), batch, parallelism=parallelism, ledger_dir=ledger_dir,
        include_aborted=include_aborted, dry_run=dry_run, yes=yes,
    )  # fmt: skip
