"""The root command: global options, plugin mounting, and the single error boundary (errors -> exit codes)."""

import os
import sys
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import Context  # typer vendors click and exposes no public alias of its base Context
from typer.core import TyperGroup

from cryoet_release import plugins as plugin_registry
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import ExitCode, PluginLoadError, ReleaseError

# Global options are accepted anywhere on the command line, as the AWS CLI accepts them:
# `cryoet-release push --tag x --region us-west-2` means the same as `cryoet-release --region us-west-2 push ...`.
_GLOBAL_WITH_VALUE = ("--profile", "--region", "--config")
_GLOBAL_FLAGS = ("--json", "--verbose", "-v")


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move global options found after a subcommand name to the front (up to a `--`)."""
    front: list[str] = []
    rest: list[str] = []
    tokens = iter(args)
    for arg in tokens:
        if arg == "--":
            rest.append(arg)
            rest.extend(tokens)
            break
        if arg in _GLOBAL_FLAGS or arg.startswith(tuple(f"{o}=" for o in _GLOBAL_WITH_VALUE)):
            front.append(arg)
        elif arg in _GLOBAL_WITH_VALUE:
            front.append(arg)
            following = next(tokens, None)
            if following is not None:
                front.append(following)
        else:
            rest.append(arg)
    return front + rest


class ReleaseGroup(TyperGroup):
    """The root group: turns every error into one message and an exit code."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.TyperException, typer.Abort):
            raise
        except ReleaseError as error:
            _report(ctx, error.message, error.exit_code, error.hint)
        except KeyboardInterrupt:
            _report(ctx, "interrupted", ExitCode.INTERRUPTED)
        except Exception as error:  # noqa: BLE001 - the one place that reports unexpected errors
            from pydantic import ValidationError

            if isinstance(error, ValidationError):
                _report(ctx, "\n".join(_validation_lines(error)), ExitCode.USAGE)
            from rich.console import Console

            Console(stderr=True).print_exception(show_locals=False)
            _report(ctx, f"unexpected error: {type(error).__name__}: {error}", ExitCode.FAILED)


def _validation_lines(error: Any) -> list[str]:
    from cryoet_release.models import validation_problems

    return [f"{(field or 'value').replace('_', '-')}: {message}" for field, message in validation_problems(error)]


def _report(ctx: Context, message: str, code: ExitCode, hint: str | None = None) -> None:
    opts = ctx.find_object(GlobalOptions)
    output = opts.output if opts else Output()
    output.error(message, code, hint)
    raise typer.Exit(int(code))


def _version_text(plugins: Iterable[plugin_registry.Plugin]) -> str:
    lines = [f"cryoet-release {_own_version()}"]
    lines += [f"  {p.name}: {p.origin}" for p in plugins if p.status == "loaded"]
    return "\n".join(lines)


def _own_version() -> str:
    try:
        return version("cryoet-release")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _configure_logging(output: Output, *, verbose: bool) -> None:
    """-v: the tool's own debug log on stderr. Never botocore's, whose debug log prints response bodies (tokens)."""
    import logging

    log = logging.getLogger("cryoet_release")
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        from rich.logging import RichHandler

        log.addHandler(RichHandler(console=output.stderr, show_path=False, show_time=False))


def config_show(ctx: typer.Context) -> None:
    """Print the effective config and where each value came from (default, file, env, flag)."""
    opts: GlobalOptions = ctx.ensure_object(GlobalOptions)
    loaded = opts.config()
    flat = loaded.flat()
    values = {key: {"value": value, "source": loaded.sources.get(key, "default")} for key, value in flat.items()}
    file = str(loaded.path) if loaded.path else None
    opts.output.result(
        {"file": file, "root": str(loaded.root), "values": values},
        lambda: opts.output.table(
            ["key", "value", "source"],
            ([key, entry["value"], entry["source"]] for key, entry in values.items()),
            title=f"config file: {file or 'none (built-in defaults)'}",
        ),
    )


CORE_COMMANDS = ("plugins", "config")


def create_app(plugins: Sequence[plugin_registry.Plugin]) -> typer.Typer:
    """The root Typer app with the core commands and every loaded plugin mounted under its name."""
    app = typer.Typer(
        name="cryoet-release",
        cls=ReleaseGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def show_version(value: bool) -> None:
        if value:
            lines = [f"cryoet-release {_own_version()}"]
            lines += [f"  {p.name}: {p.origin}" for p in plugins if p.status == "loaded"]
            typer.echo("\n".join(lines))
            raise typer.Exit()

    @app.callback()
    def root(
        ctx: typer.Context,
        profile: Annotated[
            str | None, typer.Option(help="AWS profile to use (else AWS_PROFILE, else the default chain).")
        ] = None,
        region: Annotated[str | None, typer.Option(help="AWS region (else AWS_REGION, else the profile's).")] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print one JSON document on stdout; diagnostics go to stderr.")
        ] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
        config: Annotated[
            Path | None,
            typer.Option(
                help="Config file (else $CRYOET_RELEASE_CONFIG, else cryoet-release.toml upward to the git root).",
                dir_okay=False,
            ),
        ] = None,
        _version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=show_version,
                is_eager=True,
                help="Show the versions (plugins too) and exit.",
            ),
        ] = False,
    ) -> None:
        """Build, push and exercise the CryoET Data Portal's ingestion images."""
        ctx.obj = GlobalOptions(profile=profile, region=region, json=json_output, verbose=verbose, config_path=config)
        _configure_logging(ctx.obj.output, verbose=verbose)

    @app.command("plugins")
    def list_plugins(ctx: typer.Context) -> None:
        """List installed plugins: name, distribution, version, module, status."""
        output = ctx.ensure_object(GlobalOptions).output
        rows = [p.as_json() for p in plugins]
        output.result(
            {"plugins": rows},
            lambda: output.table(
                ["name", "distribution", "version", "module", "status"],
                (
                    [
                        r["name"],
                        r["distribution"],
                        r["version"],
                        r["module"],
                        f"{r['status']}: {r['reason']}" if r["reason"] else r["status"],
                    ]
                    for r in rows
                ),
            ),
        )

    config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
    config_app.command("show")(config_show)
    app.add_typer(config_app, name="config")
    for plugin in plugins:
        if plugin.app is not None:
            app.add_typer(plugin.app, name=plugin.name)
    return app


def build_app(entry_points: Iterable[EntryPoint] | None = None) -> typer.Typer:
    """Discover plugins, warn about the broken ones (or refuse, in strict mode), and build the app."""
    loaded = plugin_registry.load_plugins(entry_points, reserved=CORE_COMMANDS)
    warnings = plugin_registry.problems(loaded)
    if warnings and os.environ.get(plugin_registry.STRICT_ENV) == "1":
        raise PluginLoadError("\n".join(warnings))
    for line in warnings:
        Output().warn(line)
    return create_app(loaded)


def main(argv: Sequence[str] | None = None, entry_points: Iterable[EntryPoint] | None = None) -> None:
    try:
        app = build_app(entry_points)
    except ReleaseError as error:
        Output().error(error.message, error.exit_code, error.hint)
        sys.exit(int(error.exit_code))
    app(args=list(argv) if argv is not None else None, prog_name="cryoet-release")
