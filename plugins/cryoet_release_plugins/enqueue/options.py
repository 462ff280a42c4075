"""The options the enqueue subcommands share, each default written once (with cryoet_release_plugins.options).

Kept free of pydantic and boto3: `--help` and shell completion import this module and nothing heavier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand


@dataclass(frozen=True)
class KindDefaults:
    wdl_key: str
    memory: int


# The old enqueue_runs.py's defaults per subcommand.
DEFAULTS = {
    "db-import": KindDefaults("db_import-v0.0.3.wdl", 4000),
    "sync": KindDefaults("sync-v0.0.1.wdl", 4000),
    "validate": KindDefaults("validate_dataset-v0.0.2.wdl", 4000),
    "source-validate": KindDefaults("validate_dataset-v0.0.2.wdl", 4000),
    "queue": KindDefaults("standardize_dirs.wdl-v0.0.1.wdl", 24000),
}
DEFAULT_TAG = "main"
RAW_DATA_BUCKET = "cryoetportal-rawdatasets-dev"


def wdl_key_option(kind: str) -> Any:
    return typer.Option(
        "--swipe-wdl-key", help=f"Key of the WDL in the swipe-wdl bucket [default: {DEFAULTS[kind].wdl_key}]."
    )


def memory_option(kind: str) -> Any:
    return typer.Option("--memory", help=f"Memory per job, MB; 0 means the default [default: {DEFAULTS[kind].memory}].")


Environment = Annotated[
    str, typer.Option(help="staging | prod: which state machine, buckets and defaults.", metavar="ENV")
]
EcrRepo = Annotated[
    str | None,
    typer.Option(
        help="ECR repository of the image the jobs run [default: images.ingestor.repository, cryoet-staging]."
    ),
]
EcrTag = Annotated[str | None, typer.Option(help=f"Image tag the jobs run [default: {DEFAULT_TAG}].")]
PinDigest = Annotated[
    bool,
    typer.Option(
        "--pin-digest", help="Run the image by digest, resolved now, so a moving tag cannot mix images in a batch."
    ),
]
SkipImageCheck = Annotated[
    bool, typer.Option("--skip-image-check", help="Do not check that the image tag exists before submitting.")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the plan (with --json, every input) and submit nothing.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before submitting to prod.")]
BatchName = Annotated[
    str | None, typer.Option("--batch", help="Batch name (default: UTC time + random); names the ledger.")
]
S3Prefix = Annotated[
    str, typer.Option(help="List datasets under this key prefix (a plain string prefix: 100 lists 10000/, 10001/).")
]
IncludeDataset = Annotated[
    list[str] | None, typer.Option(metavar="ID", help="Only this dataset id (exact; repeatable).")
]
FilterDatasets = Annotated[
    list[str] | None,
    typer.Option(metavar="REGEX", help="Only dataset ids this regex matches at the start (repeatable)."),
]
ExcludeDataset = Annotated[
    list[str] | None,
    typer.Option(metavar="REGEX", help="Skip dataset ids this regex matches at the start (repeatable)."),
]


def in_command_line_order(ctx: typer.Context, values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """`values` (parameter name -> value) in the order click collected them: given options first, in the order of
    their first appearance on the command line, as the old script's `to_args` wrote them."""
    order = {name: position for position, name in enumerate(ctx.params)}
    return sorted(values.items(), key=lambda item: order.get(item[0], len(order)))


class KeepsOptionOrder(TyperCommand):
    """Records each occurrence of `ordered_options` with its value, in command-line order (in `ctx.meta`).

    aws s3 sync applies --include and --exclude in the order given, so their interleaving must survive parsing.
    """

    ordered_options = ("include", "exclude")

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's vendored click Context
        values, _, order = self.make_parser(ctx).parse_args(args=list(args))
        remaining = {name: list(values.get(name) or []) for name in self.ordered_options}
        ctx.meta["option_order"] = [
            (param.name, remaining[param.name].pop(0)) for param in order if param.name in remaining
        ]
        return super().parse_args(ctx, args)


def option_order(ctx: typer.Context) -> list[tuple[str, str]]:
    return list(ctx.meta.get("option_order", []))
