"""What every command's parameters share: the rules the root command applies to all of them, and the click types
plugins declare options with.

Typer vendors click (`typer._click`) and exports none of its types or exceptions; this module is the one place that
reaches into it, so a typer upgrade changes one file. Light on purpose: `--help` and completion import it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

from typer._click import exceptions, types
from typer._click.core import ParameterSource
from typer._types import TyperChoice
from typer.models import TyperPath

ClickException = exceptions.ClickException
NoArgsIsHelp = exceptions.NoArgsIsHelpError
NoSuchOption = exceptions.NoSuchOption
"""Every error click raises while parsing (usage errors, bad parameters, missing arguments)."""


def allows_empty(value: str) -> str:
    """The parser of a text option for which an empty value has a meaning of its own (the old script's, kept and
    documented in the migration guide): `typer.Option(parser=allows_empty, metavar=...)`. Every other text option
    refuses an empty value (rule R6)."""
    return value


def text_allowing_empty() -> Any:
    """The click type of a text option declared without typer for which an empty value has a meaning."""
    return types.FuncParamType(allows_empty)


def choice(names: Iterable[str]) -> Any:
    """A click type accepting exactly `names` (shown as `[a|b]` in --help; anything else fails with the list)."""
    return TyperChoice(list(names))


def apply_rules(param: Any) -> None:
    """Give `param` the rules every value typed on the command line follows:

    - an empty text or path is refused: it is never 'not given' (`--ecr-tag "$TAG"` with TAG unset must not run
      the default), unless the option declares a meaning for it (`allows_empty`);
    - a number is finite (`--interval nan` passes any range check, since every comparison with nan is false).

    Defaults are not checked: only values given on the command line or through an environment variable.
    """
    kind = param.type
    if getattr(kind, "checked_by_cryoet_release", False):
        return
    if isinstance(kind, types.StringParamType | TyperPath):
        check: Callable[[Any], str | None] = _not_empty
    elif isinstance(kind, types.FloatParamType):
        check = _finite
    else:
        return
    checked = copy.copy(kind)  # types.STRING is one object shared by every parameter
    convert = kind.convert

    def converting(value: Any, param: Any, ctx: Any) -> Any:
        given = ctx is None or ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT
        problem = check(value) if given else None
        if problem == EMPTY and param.param_type_name == "option":
            problem += ": give a value, or leave the option out for its default"
        if problem is not None:
            checked.fail(problem, param, ctx)
        return convert(value, param, ctx)

    checked.convert = converting
    checked.checked_by_cryoet_release = True
    param.type = checked


EMPTY = "it is empty"


def _not_empty(value: Any) -> str | None:
    return EMPTY if isinstance(value, str) and value == "" else None


def _finite(value: Any) -> str | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None  # the type's own conversion says what is wrong
    return None if math.isfinite(number) else f"{value!r} is not a finite number"
