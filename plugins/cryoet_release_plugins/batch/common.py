"""The options every enqueue kind takes, declared once (`Common`), and the one mechanism that makes a command of a
kind: its own options (the kind's fields), the options data declares for it (`Kind.extra_options`), then these.

Light on purpose: `--help` and shell completion import it. No `from __future__ import annotations`: typer reads the
options' annotations, and objects cost it less than strings to evaluate at every `--help`.
"""

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

from cryoet_release.kinds import ExtraOption, Kind
from cryoet_release.names import Environment
from cryoet_release.params import text_allowing_empty
from cryoet_release_plugins.options import DEFAULT_PARALLELISM, LedgerDir, Parallelism

if TYPE_CHECKING:
    from cryoet_release.config import ReleaseConfig
    from cryoet_release_plugins.batch.plan import CommonOptions

DEFAULT_TAG = "main"
PANEL = "Options of every kind"


@dataclass(frozen=True)
class Common:
    """The options every enqueue kind takes, as typed; `resolve` gives the validated values a batch runs with."""

    environment: Annotated[
        Environment,
        typer.Option(metavar="[staging|prod]", help="Which state machine, buckets and defaults."),
    ] = Environment.STAGING
    ecr_repo: Annotated[
        str | None,
        typer.Option(
            metavar="REPOSITORY",
            help="ECR repository of the image the jobs run [default: the config's images.ingestor.repository,"
            " cryoet-staging].",
        ),
    ] = None
    ecr_tag: Annotated[
        str | None, typer.Option(metavar="TAG", help=f"Image tag the jobs run [default: {DEFAULT_TAG}].")
    ] = None
    memory: Annotated[
        int | None, typer.Option(metavar="MB", help="Memory per job, MB; 0 means the default.", show_default=False)
    ] = None
    parallelism: Parallelism = DEFAULT_PARALLELISM
    swipe_wdl_key: Annotated[
        str | None, typer.Option(metavar="KEY", help="Key of the WDL in the swipe-wdl bucket.", show_default=False)
    ] = None
    pin_digest: Annotated[
        bool,
        typer.Option(
            "--pin-digest", help="Run the image by digest, resolved now, so a moving tag cannot mix images in a batch."
        ),
    ] = False
    skip_image_check: Annotated[
        bool, typer.Option("--skip-image-check", help="Do not check that the image tag exists before submitting.")
    ] = False
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the plan and submit nothing (with --json or --show-input: every input)."),
    ] = False
    show_input: Annotated[
        bool, typer.Option("--show-input", help="With --dry-run, print each job's Step Functions input in full.")
    ] = False
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before submitting to prod.")] = False
    batch: Annotated[
        str | None,
        typer.Option("--batch", metavar="NAME", help="Batch name [default: UTC time + random]; names the ledger."),
    ] = None
    ledger_dir: LedgerDir = None

    def resolve(self, kind: type[Kind], config: "ReleaseConfig") -> "CommonOptions":
        """The values a batch of `kind` runs with: defaults filled in (the kind's, the config's), every value
        validated. Raises UsageError naming the option."""
        from pydantic import ValidationError

        from cryoet_release.errors import UsageError
        from cryoet_release.models import option_of, validation_problems
        from cryoet_release_plugins.batch.plan import CommonOptions

        if self.show_input and not self.dry_run:  # it shows what a dry run would send: without one, jobs go out
            raise UsageError("show-input: only with --dry-run: it prints the inputs a dry run would send")
        try:
            return CommonOptions(
                environment=self.environment,
                ecr_repo=self.ecr_repo or config.images["ingestor"].repository,
                ecr_tag=self.ecr_tag or DEFAULT_TAG,
                tag_defaulted=self.ecr_tag is None,
                memory=self.memory or kind.memory,
                parallelism=self.parallelism,
                swipe_wdl_key=self.swipe_wdl_key or kind.wdl_key,
                pin_digest=self.pin_digest,
                skip_image_check=self.skip_image_check,
                dry_run=self.dry_run,
                show_input=self.show_input,
                yes=self.yes,
                batch=self.batch,
                ledger_dir=self.ledger_dir,
            )
        except ValidationError as error:
            field, message = validation_problems(error)[0]
            raise UsageError(f"{option_of(field)}: {message}") from None


def typer_command(function: Callable[..., Any], *, name: str | None = None, cls: Any = None) -> Any:
    """The click command typer makes of `function` (a dataclass, here): its parameters, and a callback that converts
    the parsed values and returns what `function` returns."""
    app = typer.Typer(add_completion=False, rich_markup_mode=None)  # plain help, as every command's
    app.command(name, cls=cls)(function)
    return typer.main.get_command(app)


@cache
def common_command() -> Any:
    return typer_command(Common)


def extra_parameter(option: ExtraOption) -> TyperOption:
    """A click option for an option declared from data; its value reaches the kind through the command line."""
    return TyperOption(
        param_decls=[option.name],
        multiple=option.takes_value,
        is_flag=not option.takes_value,
        default=() if option.takes_value else False,
        metavar="REGEX" if option.takes_value else None,
        type=text_allowing_empty() if option.allows_empty else None,
        help=option.help,
        expose_value=False,
        rich_help_panel=option.panel,
    )


def kind_parameters(kind: type[Kind]) -> list[Any]:
    """The kind's own parameters (its fields), then those declared from data."""
    return [*typer_command(kind).params, *(extra_parameter(option) for option in kind.extra_options)]


def record_command_line(command: Any, ctx: Any, args: Sequence[str]) -> None:
    """Record each option occurrence with its value, in command-line order, in `ctx.meta["command_line"]` (kinds read
    the order: aws s3 sync applies --include and --exclude in the order given; the importer's flags keep theirs)."""
    if ctx.resilient_parsing:  # completion: nothing runs
        return
    values, _, order = command.make_parser(ctx).parse_args(args=list(args))
    remaining = {param.name: list(values.get(param.name) or []) for param in order if getattr(param, "multiple", False)}
    ctx.meta["command_line"] = [
        (param.name, remaining[param.name].pop(0) if param.name in remaining else values.get(param.name))
        for param in order
    ]


class KindCommand(TyperCommand):
    """`cryoet-release enqueue <kind>`: the kind's options, then the common ones; invoking it builds the kind (the
    dataclass typer fills in), resolves the common options and runs the batch."""

    kind: type[Kind]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.own = [str(param.name) for param in self.params]
        self.params += [extra_parameter(option) for option in self.kind.extra_options]
        self.common = common_command()
        self.params += [self._for_this_kind(param) for param in self.common.params]

    def _for_this_kind(self, param: Any) -> Any:
        """A copy of a common option, saying this kind's defaults."""
        param = copy.copy(param)
        param.rich_help_panel = PANEL
        if param.name == "environment":
            param.help = self.kind.environment_help
        elif param.name == "memory":
            param.help = f"Memory per job, MB; 0 means the default [default: {self.kind.memory}]."
        elif param.name == "yes" and self.kind.runs_on is not None:
            param.help = (
                f"Accepted, and changes nothing: these jobs run on {self.kind.runs_on.value}, nothing is asked."
            )
        elif param.name == "swipe_wdl_key":
            param.help = f"Key of the WDL in the swipe-wdl bucket [default: {self.kind.wdl_key}]."
        return param

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        record_command_line(self, ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        from cryoet_release.context import GlobalOptions
        from cryoet_release_plugins.batch.flow import enqueue_kind

        make_kind: Any = self.callback  # typer made it of the kind's dataclass: it returns the kind
        kind = make_kind(**{name: ctx.params[name] for name in self.own})
        common = self.common.callback(**{str(param.name): ctx.params[param.name] for param in self.common.params})
        opts = ctx.find_object(GlobalOptions)
        enqueue_kind(opts, kind, common, command_line=ctx.meta.get("command_line", []))


def kind_command(kind: type[Kind]) -> type[KindCommand]:
    return type(f"{kind.__name__}Command", (KindCommand,), {"kind": kind})
