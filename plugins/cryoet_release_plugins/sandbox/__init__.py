"""`cryoet-release sandbox`: an embedded AWS emulator seeded like the portal, and the whole release flow on it."""

from typing import Annotated

import typer

from cryoet_release.context import GlobalOptions

app = typer.Typer(help="Rehearse releases on an embedded AWS emulator. Needs cryoet-release[sandbox].")


@app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 0,
) -> None:
    """Serve the AWS emulator until Ctrl-C. It is seeded as the portal's staging environment; prints what to export."""
    from cryoet_release_plugins.sandbox.emulator import serve_forever

    serve_forever(ctx.ensure_object(GlobalOptions), port=port)


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Run the release flow on a fresh emulator. Build and push under a tag of its own (when an engine and
    docker-registry are here), enqueue db-import of three datasets on that tag, and show the batch's status."""
    from cryoet_release_plugins.sandbox.demo import run_demo

    run_demo(ctx.ensure_object(GlobalOptions))
