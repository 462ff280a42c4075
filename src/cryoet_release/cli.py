"""The root command: global options, plugin mounting, and the single error boundary (errors -> exit codes)."""

import copy
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
from typer.core import TyperGroup

from cryoet_release import plugins as plugin_registry
from cryoet_release.completion import regions
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions, Process
from cryoet_release.errors import ExitCode, PluginLoadError, ReleaseError, Terminated
from cryoet_release.params import ClickException, NoArgsIsHelp, NoSuchOption, apply_rules

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

# Global options are accepted anywhere on the command line, as the AWS CLI accepts them:
# `cryoet-release push --tag x --region us-west-2` means the same as `cryoet-release --region us-west-2 push ...`.
# Each command gets its own copy of them, so click parses them knowing every option's arity: the value of another
# option (`--extra-args --json`) is never taken for one.
GLOBAL_OPTIONS = ("profile", "region", "json_output", "verbose", "config")


def _given_anywhere(ctx: Any, param: Any, value: Any) -> None:
    """A global option given after a command name: it updates what the root command set."""
    source = ctx.get_parameter_source(param.name)
    if source is not None and source.name == "COMMANDLINE":
        options = ctx.find_object(GlobalOptions)
        if options is not None:
            options.update(**{param.name: value})


def _attach_global_options(command: Any, globals_: Sequence[Any]) -> None:
    """Give `command` and every command below it, now or when a group makes it later (a plugin may build its
    subcommands when used), a copy of each global option its own options do not shadow, and the rules every
    parameter follows (params.apply_rules)."""
    if getattr(command, "cryoet_release_prepared", False):
        return
    command.cryoet_release_prepared = True
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for option in globals_:
        if not taken.intersection(option.opts):
            copied = copy.copy(option)
            copied.expose_value = False
            copied.callback = _given_anywhere
            command.params.append(copied)
    for param in command.params:
        apply_rules(param)
    if hasattr(command, "commands"):
        make = command.get_command

        def get_command(ctx: Any, name: str) -> Any:
            found = make(ctx, name)
            if found is not None:
                _attach_global_options(found, globals_)
            return found

        command.get_command = get_command
        for child in command.commands.values():
            _attach_global_options(child, globals_)


class ReleaseGroup(TyperGroup):
    """The root group: plugins built when used, global options on every command, and every error turned into one
    message and an exit code."""

    plugins: ClassVar[Mapping[str, typer.Typer]] = {}
    """Plugin name -> its app, built into a click command only when that command is used (or listed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            apply_rules(param)
        self._globals = [param for param in self.params if param.name in GLOBAL_OPTIONS]
        for command in self.commands.values():
            _attach_global_options(command, self._globals)

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.plugins})

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The list of commands needs their summaries only: a plugin not built yet is listed from its app's help,
        without building (and importing) its subcommands."""
        helps = {name: app.info.help if isinstance(app.info.help, str) else None for name, app in self.plugins.items()}
        format_commands_lazily(self, ctx, formatter, helps)

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in self.commands and name in self.plugins:
            # Mounted exactly as add_typer mounts it (always a group, no completion options of its own).
            mount = typer.Typer(add_completion=False, rich_markup_mode=None)
            mount.add_typer(self.plugins[name], name=name)
            command = typer.main.get_command(mount).commands[name]  # type: ignore[attr-defined]
            _attach_global_options(command, self._globals)
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Usage errors (from click's parsing) go through the same boundary: one line, exit 2, and the
        error document under --json."""
        argv = list(sys.argv[1:] if args is None else args)
        undecodable = next((arg for arg in argv if not _is_utf8(arg)), None)
        if undecodable is not None:
            shown = undecodable.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            result: Any = _fail(None, argv, f"argument '{shown}' is not valid UTF-8", ExitCode.USAGE)
        else:
            try:
                result = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
            except typer.Abort:
                result = _fail(None, argv, "interrupted", ExitCode.INTERRUPTED)
            except NoArgsIsHelp as error:  # a command group alone: its help is what was asked for
                typer.echo(error.ctx.get_help() if error.ctx else "")
                result = 0
            except ClickException as error:  # click's usage errors: UsageError, BadParameter, NoSuchOption, ...
                result = _fail(getattr(error, "ctx", None), argv, _suggesting(error), ExitCode(error.exit_code))
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.TyperException, typer.Abort):
            raise
        except ReleaseError as error:
            _report(ctx, error.message, error.exit_code, error.hint)
        except Terminated:
            _report(ctx, "terminated (SIGTERM)", ExitCode.TERMINATED)
        except KeyboardInterrupt:
            _report(ctx, "interrupted", ExitCode.INTERRUPTED)
        except Exception as error:  # noqa: BLE001 - the one place that reports unexpected errors
            from pydantic import ValidationError

            if isinstance(error, ValidationError):
                _report(ctx, "\n".join(_validation_lines(error)), ExitCode.USAGE)
            from rich.console import Console

            Console(stderr=True).print_exception(show_locals=False)
            _report(ctx, f"unexpected error: {type(error).__name__}: {error}", ExitCode.FAILED)


def format_commands_lazily(group: Any, ctx: Any, formatter: Any, helps: Mapping[str, str | None]) -> None:
    """A group's list of subcommands, those not built yet shown from their help text alone (`helps`), so that
    listing them imports and builds none (a group that builds its subcommands when used calls it)."""
    from typer.core import TyperCommand

    built = group.commands
    group.commands = {**{name: TyperCommand(name=name, help=text) for name, text in helps.items()}, **built}
    try:
        TyperGroup.format_commands(group, ctx, formatter)
    finally:
        group.commands = built


def _suggesting(error: Any) -> str:
    """click's message, suggesting the near names only: the command a misspelt one meant, the options an unknown one
    is closest to (not every option it shares a word with)."""
    import difflib
    import re

    if isinstance(error, NoSuchOption) and error.possibilities:
        ratios = {p: difflib.SequenceMatcher(None, error.option_name, p).ratio() for p in error.possibilities}
        best = max(ratios.values())
        error.possibilities = [p for p, ratio in ratios.items() if ratio >= max(0.6, best - 0.05)]
        if len(error.possibilities) == 1:
            return f"No such option: {error.option_name}. Did you mean {error.possibilities[0]}?"
    message = str(error.format_message())
    unknown = re.fullmatch(r"No such command '(.+)'\.", message)
    ctx = getattr(error, "ctx", None)
    if unknown and ctx is not None and hasattr(ctx.command, "list_commands"):
        near = difflib.get_close_matches(unknown.group(1), ctx.command.list_commands(ctx), n=1)
        message += f" Did you mean '{near[0]}'?" if near else ""
    return message


def _is_utf8(arg: str) -> bool:
    """False for an argument the shell passed as bytes that are not UTF-8 (Python keeps them as surrogates)."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fail(ctx: Any, argv: Sequence[str], message: str, code: ExitCode) -> int:
    """An error raised outside a command (click's parsing): one line, the help hint, and under --json the error
    document."""
    options = ctx.find_root().obj if ctx is not None else None
    before_separator = argv[: argv.index("--")] if "--" in argv else argv
    wants_json = (isinstance(options, GlobalOptions) and options.json) or "--json" in before_separator
    hint = f"Try '{ctx.command_path} --help' for help." if ctx is not None else None
    Output(json_mode=wants_json).error(message, code, hint)
    return int(code)


def _validation_lines(error: Any) -> list[str]:
    from cryoet_release.models import validation_problems

    return [f"{(field or 'value').replace('_', '-')}: {message}" for field, message in validation_problems(error)]


def _report(ctx: Any, message: str, code: ExitCode, hint: str | None = None) -> None:
    opts = ctx.find_object(GlobalOptions)
    output = opts.output if opts else Output()
    output.error(message, code, hint)
    raise typer.Exit(int(code))


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cryoet-release")
    except PackageNotFoundError:
        return "unknown (not installed)"


def config_show(ctx: typer.Context) -> None:
    """Print the effective config. Each value with where it came from: default, file, env or flag."""
    import json

    from cryoet_release.config import unset_means

    opts: GlobalOptions = ctx.ensure_object(GlobalOptions)
    loaded = opts.config()
    values: dict[str, dict[str, Any]] = {}
    for key, value in loaded.flat().items():
        values[key] = {"value": value, "source": loaded.sources.get(key, "default")}
        if value in (None, "", {}, []) and (means := unset_means(key)):
            values[key]["unset"] = means

    def shown(entry: Mapping[str, Any]) -> str:
        """As the value would be written in cryoet-release.toml (lists and tables inline), or what unset means."""
        if "unset" in entry:
            return f"({entry['unset']})"
        value = entry["value"]
        return value if isinstance(value, str) else json.dumps(value)

    file = str(loaded.path) if loaded.path else None
    opts.output.result(
        {"file": file, "root": str(loaded.root), "values": values},
        lambda: opts.output.table(
            ["key", "value", "source"],
            ([key, shown(entry), entry["source"]] for key, entry in values.items()),
            title=f"config file: {file or 'none (built-in defaults)'}",
        ),
    )


CORE_COMMANDS = ("plugins", "config")


def create_app(loaded: Sequence[plugin_registry.Plugin], process: Callable[[], Process] = Process) -> typer.Typer:
    """The root Typer app with the core commands and every loaded plugin mounted under its name.

    `process` makes what the commands see of the process when one runs (the process's own, by default).
    """

    class Root(ReleaseGroup):
        plugins: ClassVar[Mapping[str, typer.Typer]] = {p.name: p.app for p in loaded if p.app is not None}

    app = typer.Typer(
        name="cryoet-release",
        cls=Root,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def show_version(value: bool) -> None:
        if value:
            lines = [f"cryoet-release {_own_version()}"]
            lines += [f"  {p.name}: {p.origin}" for p in loaded if p.status == "loaded"]
            typer.echo("\n".join(lines))
            raise typer.Exit()

    @app.callback()
    def root(
        ctx: typer.Context,
        profile: Annotated[
            str | None,
            typer.Option(metavar="NAME", help="AWS profile to use (else AWS_PROFILE, else the default chain)."),
        ] = None,
        region: Annotated[
            str | None,
            typer.Option(
                metavar="REGION", help="AWS region (else AWS_REGION, else the profile's).", autocompletion=regions
            ),
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print one JSON document on stdout; diagnostics go to stderr.")
        ] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
        config: Annotated[
            Path | None,
            typer.Option(
                metavar="PATH",
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
        ctx.obj = GlobalOptions(
            profile=profile, region=region, json=json_output, verbose=verbose, config_path=config,
            process=process(),
        )  # fmt: skip

    @app.command("plugins")
    def list_plugins(ctx: typer.Context) -> None:
        """List the installed plugins. The commands, enqueue kinds and container engines: distribution, version,
        module and status of each."""
        from cryoet_release.engines import registered_plugins
        from cryoet_release.kinds import kind_plugins

        options = ctx.ensure_object(GlobalOptions)
        options.config()  # a --config that does not exist is an error here too
        output = options.output
        every = [*loaded, *kind_plugins(options.environ), *registered_plugins(options.environ)]
        rows = [p.as_json() for p in every]
        what = {
            plugin_registry.GROUP: "command",
            plugin_registry.KINDS: "enqueue kind",
            plugin_registry.ENGINES: "engine",
        }
        output.result(
            {"plugins": rows},
            lambda: output.table(
                ["name", "what", "distribution", "version", "module", "status"],
                (
                    [
                        r["name"],
                        what.get(str(r["group"]), r["group"]),
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
    return app


def command_tree(app: typer.Typer) -> Any:
    """The root click command with every plugin's command built (for tools that walk the whole tree)."""
    root = typer.main.get_command(app)
    context = root.make_context("cryoet-release", [], resilient_parsing=True)
    for name in root.list_commands(context):  # type: ignore[attr-defined]
        root.get_command(context, name)  # type: ignore[attr-defined]
    return root


def build_app(
    entry_points: "Iterable[plugin_registry.Declared | EntryPoint] | None" = None,
    process: Callable[[], Process] = Process,
) -> typer.Typer:
    """Discover plugins, warn about the broken ones (or refuse, in strict mode), and build the app."""
    loaded = plugin_registry.load_plugins(entry_points, reserved=CORE_COMMANDS)
    warnings = plugin_registry.problems(loaded)
    if warnings and os.environ.get(plugin_registry.STRICT_ENV) == "1":
        raise PluginLoadError("\n".join(warnings))
    for line in warnings:
        Output().warn(line)
    return create_app(loaded, process)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(
    argv: Sequence[str] | None = None,
    entry_points: "Iterable[plugin_registry.Declared | EntryPoint] | None" = None,
    process: Callable[[], Process] = Process,
) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app = build_app(entry_points, process)
    except ReleaseError as error:  # before any parsing: --json is looked for as _fail does
        args = list(sys.argv[1:] if argv is None else argv)
        wants_json = "--json" in (args[: args.index("--")] if "--" in args else args)
        Output(json_mode=wants_json).error(error.message, error.exit_code, error.hint)
        sys.exit(int(error.exit_code))
    app(args=list(argv) if argv is not None else None, prog_name="cryoet-release")
