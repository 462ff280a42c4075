"""A portal dataset config (`ingestion_tools/dataset_configs/*.yaml`), read and checked as the portal reads it
(shared/queue/SPEC.md §4): its standardization settings and the finders of its first three levels."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from cryoet_release.errors import UsageError
from cryoet_release.models import validation_problems


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
    return pattern


def _names_with_a_group(pattern: str) -> str:
    if pattern and re.compile(pattern).groups < 1:
        raise ValueError(f"{pattern!r} has no group: the name is what its first (...) matches")
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
NameRegex = Annotated[str, AfterValidator(_compiles), AfterValidator(_names_with_a_group)]
Name = str | int | float


class _Strict(BaseModel):
    # The finder keys are passed to the portal's finders as keyword arguments: an unknown one was a TypeError.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceGlob(_Strict):
    list_glob: str
    match_regex: Regex | None = None
    name_regex: NameRegex | None = None


class DestinationGlob(SourceGlob):
    match_regex: Regex | None
    name_regex: NameRegex | None


class SourceMultiGlob(_Strict):
    list_globs: list[str]


class LiteralNames(_Strict):
    value: list[Name] | dict[Name, str | None]


class ParentFilters(_Strict):
    include: dict[str, list[Regex]] = {}
    exclude: dict[str, list[Regex]] = {}


FINDER_KEYS = ("source_glob", "source_multi_glob", "destination_glob", "literal", "destination_filter")


class Source(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None
    destination_glob: DestinationGlob | None = None
    literal: LiteralNames | None = None
    destination_filter: Any = None
    exclude: list[Regex] = []
    parent_filters: ParentFilters = ParentFilters()

    @model_validator(mode="before")
    @classmethod
    def _first_truthy_finder(cls, data: Any) -> Any:
        """The first finder key with a truthy value is the one used; the others are ignored, valid or not (§7.2)."""
        if not isinstance(data, dict):
            return data
        chosen = next((key for key in FINDER_KEYS if data.get(key)), None)
        if chosen is None:
            raise ValueError(f"no finder: a source needs one of {', '.join(FINDER_KEYS)}")
        return {key: value for key, value in data.items() if key not in FINDER_KEYS or key == chosen}

    @property
    def finder(self) -> object:
        return next(getattr(self, key) for key in FINDER_KEYS if getattr(self, key) is not None)


class Entry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sources: list[Source] = []


class StandardizationConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    source_prefix: str
    run_to_tomo_map_csv: str | None = None
    run_to_frame_map_csv: str | None = None
    run_to_ts_map_csv: str | None = None
    run_data_map_file: str | None = None
    run_name_regex: Regex | None = None

    @model_validator(mode="after")
    def _every_regex_compiles(self) -> StandardizationConfig:
        # The portal compiles every setting whose key contains "regex" when it loads the config.
        for key, value in (self.model_extra or {}).items():
            if "regex" in key:
                if not isinstance(value, str):
                    raise ValueError(f"{key}: a regular expression must be text")
                _compiles(value)
        return self


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    standardization_config: StandardizationConfig
    depositions: list[Entry] | None = None
    datasets: list[Entry] | None = None
    runs: list[Entry] | None = None

    @field_validator("depositions", "datasets", "runs", mode="before")
    @classmethod
    def _falsy_is_absent(cls, value: Any) -> Any:
        return value or None


LEVELS = {"deposition": "depositions", "dataset": "datasets", "run": "runs"}


@dataclass(frozen=True)
class DatasetConfig:
    """What discovery reads of a dataset config: its settings and the finders of the first three levels."""

    file: str
    settings: StandardizationConfig
    finders: Mapping[str, Sequence[Entry]]
    """deposition | dataset | run -> its entries (none: nothing is found at that level)."""


def load_config(path: str | Path, name: str | None = None) -> DatasetConfig:
    """Read and check a dataset config; `name` is how messages call it (default: the path). Raises UsageError naming
    the file and the key at fault."""
    shown = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such dataset config") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{shown}: cannot read the dataset config: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise UsageError(f"{shown}: not valid YAML{line}: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{shown}: not a dataset config (its top level is not a mapping)")
    try:
        parsed = _ConfigFile.model_validate(data)
    except ValidationError as error:
        problems = validation_problems(error)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UsageError(f"{shown}: {problems[0][0]}: {problems[0][1]}{more}") from None
    finders = {level: tuple(getattr(parsed, plural) or ()) for level, plural in LEVELS.items()}
    return DatasetConfig(shown, parsed.standardization_config, finders)
