"""The dataset selection db-import and sync share: declared once, as a dataclass both kinds extend.

No `from __future__ import annotations` here: the kinds' dataclass `__init__`s, made in their own modules, must see
these fields' annotations as objects, not as names of this module.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from cryoet_release.params import allows_empty

if TYPE_CHECKING:
    from cryoet_release.lookup import DatasetSelection

PANEL = "Datasets"


@dataclass(frozen=True)
class DatasetOptions:
    s3_prefix: Annotated[
        str,
        typer.Option(
            parser=allows_empty,
            metavar="PREFIX",
            help="List datasets under this key prefix, a plain string prefix: 100 lists 10000/, 10001/"
            " (empty: the whole bucket, as before).",
            rich_help_panel=PANEL,
        ),
    ] = ""
    include_dataset: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ID",
            help="Only this dataset id (exact; repeatable). A folder: use --s3-prefix.",
            rich_help_panel=PANEL,
        ),
    ] = None
    filter_datasets: Annotated[
        list[str] | None,
        typer.Option(
            parser=allows_empty,
            metavar="REGEX",
            help="Only dataset ids this regex matches at the start (repeatable; empty matches every id, as before).",
            rich_help_panel=PANEL,
        ),
    ] = None
    exclude_dataset: Annotated[
        list[str] | None,
        typer.Option(
            parser=allows_empty,
            metavar="REGEX",
            help="Skip dataset ids this regex matches at the start (repeatable; empty matches every id, as before).",
            rich_help_panel=PANEL,
        ),
    ] = None

    def __post_init__(self) -> None:
        self.selection()  # bad ids and regexes are usage errors before anything happens

    def selection(self) -> "DatasetSelection":
        """Raises UsageError naming the option and the value."""
        from pydantic import ValidationError

        from cryoet_release.errors import UsageError
        from cryoet_release.lookup import DatasetSelection
        from cryoet_release.models import option_of, validation_problems

        try:
            return DatasetSelection.model_validate(
                {
                    "s3_prefix": self.s3_prefix,
                    "include_dataset": self.include_dataset or [],
                    "filter_datasets": self.filter_datasets or [],
                    "exclude_dataset": self.exclude_dataset or [],
                }
            )
        except ValidationError as error:
            field, message = validation_problems(error)[0]
            if field.startswith("include_dataset"):
                message += " (for a folder of datasets, use --s3-prefix)"
            raise UsageError(f"{option_of(field)}: {message}") from None
