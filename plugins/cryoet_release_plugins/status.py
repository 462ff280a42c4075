"""`cryoet-release status BATCH` and `cryoet-release batches`: what was queued, and what became of it."""

from typing import Annotated

import typer

from cryoet_release.context import GlobalOptions
from cryoet_release_plugins.options import DEFAULT_PARALLELISM, LedgerDir, ReadParallelism, batch_ids

# A group whose callback is the command: interspersed arguments let options follow the BATCH argument.
app = typer.Typer(
    help="Show the state of a batch's executions.",
    context_settings={"allow_interspersed_args": True},
    subcommand_metavar="",
)
batches_app = typer.Typer(help="List the batches queued from this machine, newest first.", subcommand_metavar="")


@app.callback(invoke_without_command=True)
def status(
    ctx: typer.Context,
    batch: Annotated[
        str | None,
        typer.Argument(metavar="[BATCH]", help="The batch (see `cryoet-release batches`).", autocompletion=batch_ids),
    ] = None,
    latest: Annotated[bool, typer.Option("--latest", help="The newest batch.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until every execution is closed.")] = False,
    interval: Annotated[
        float, typer.Option(metavar="SECONDS", min=1, max=3600, help="Seconds between refreshes with --watch.")
    ] = 10,
    parallelism: ReadParallelism = DEFAULT_PARALLELISM,
    ledger_dir: LedgerDir = None,
    exit_status: Annotated[
        bool,
        typer.Option(
            "--exit-status",
            help="Exit 1 if a job's latest attempt failed (with --watch: once all end); 130 if Ctrl-C stops the watch"
            " while jobs run.",
        ),
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh", help="Read every job's state again, even those recorded as finished (a redriven execution)."
        ),
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every job, not a summary.")] = False,
) -> None:
    """Counts by state, the failed executions with their error and console link; --watch until all are closed."""
    from cryoet_release_plugins.status_view import StatusRequest, show_status

    request = StatusRequest(
        batch, latest=latest, watch=watch, interval=interval, parallelism=parallelism, ledger_dir=ledger_dir,
        exit_status=exit_status, refresh=refresh, show_all=show_all,
    )  # fmt: skip
    show_status(ctx.ensure_object(GlobalOptions), request)


@batches_app.callback(invoke_without_command=True)
def list_batches(ctx: typer.Context, ledger_dir: LedgerDir = None) -> None:
    """Every batch in the ledger folder: when, what, where, and how many jobs were confirmed started."""
    from cryoet_release_plugins.status_view import show_batches

    show_batches(ctx.ensure_object(GlobalOptions), ledger_dir)
