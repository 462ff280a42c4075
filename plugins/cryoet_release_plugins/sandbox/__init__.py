"""`cryoet-release sandbox`: an embedded AWS emulator seeded like the portal, and the whole release flow on it."""

from pathlib import Path
from typing import Annotated

import typer

from cryoet_release.context import GlobalOptions

app = typer.Typer(help="Rehearse releases on an embedded AWS emulator. Needs cryoet-release[sandbox].")


@app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port on 127.0.0.1 (0: any free port).")
    ] = 0,
    fail: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="Fail the first attempt of the jobs whose dataset or name matches."),
    ] = None,
    time_out: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="Time out the first attempt of the jobs whose dataset or name matches."),
    ] = None,
    slow: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB=SECONDS", help="Let the matching jobs run that long (others: 1 s)."),
    ] = None,
    failing_tests: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="Validation jobs that match report failed and broken tests."),
    ] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            help='Serve in the background and return: eval "$(cryoet-release sandbox serve --background)".',
        ),
    ] = False,
    state_file: Annotated[
        Path | None,
        typer.Option(hidden=True, metavar="PATH", help="Where a background serve writes that it serves (internal)."),
    ] = None,
) -> None:
    """Serve the AWS emulator, seeded as the portal's staging environment. Prints the exports on stdout, then one
    line per event on stderr, until Ctrl-C. --fail, --time-out, --slow and --failing-tests are repeatable."""
    from cryoet_release_plugins.sandbox.jobs import Rules

    opts = ctx.ensure_object(GlobalOptions)
    rules = Rules.parse(fail=fail or [], time_out=time_out or [], slow=slow or [], failing_tests=failing_tests or [])
    if background:
        from cryoet_release_plugins.sandbox.background import start

        start(opts, port=port, rules=rules)
        return
    from cryoet_release_plugins.sandbox.emulator import serve_forever

    serve_forever(opts, port=port, rules=rules, state_file=state_file)


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the sandbox that `serve --background` started. Prints the line that unsets its exports, for
    eval "$(cryoet-release sandbox stop)"."""
    from cryoet_release_plugins.sandbox.background import stop as stop_background

    stop_background(ctx.ensure_object(GlobalOptions))


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Run the release flow on a fresh emulator, command by command. Build and push a head image (when an engine
    and docker-registry are here); db-import of three datasets, one of which fails, its status and its retry;
    validate, whose report has failing tests; and compare queue of main against the head image."""
    from cryoet_release_plugins.sandbox.demo import run_demo

    run_demo(ctx.ensure_object(GlobalOptions))
