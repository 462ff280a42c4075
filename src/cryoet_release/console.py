"""Everything the tool prints.

Human output goes to stdout as rich tables; diagnostics and progress go to stderr. Under `--json` stdout carries
exactly one JSON document and nothing else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    from rich.text import Text


_PROCESS: Any = object()
"""Default for a stream: the process's own (sys.stdout / sys.stderr when the output is made)."""


class Output:
    def __init__(
        self, *, json_mode: bool = False, stdout: IO[str] | None = _PROCESS, stderr: IO[str] | None = _PROCESS
    ):
        self.json_mode = json_mode
        self._out = sys.stdout if stdout is _PROCESS else stdout
        self._err = sys.stderr if stderr is _PROCESS else stderr
        self._stdout: Console | None = None
        self._stderr: Console | None = None
        self._emitted = False

    @property
    def stdout(self) -> Console:
        if self._stdout is None:
            self._stdout = _console(self._out)
        return self._stdout

    @property
    def stderr(self) -> Console:
        if self._stderr is None:
            self._stderr = _console(self._err)
        return self._stderr

    def ask(self, question: str, stdin: IO[str] | None) -> bool:
        """`question [y/N]` on stderr, the answer read from `stdin`: True for y/yes. End of input (Ctrl-D) is a no,
        said on a line of its own; Ctrl-C raises KeyboardInterrupt as anywhere else."""
        self.stderr.print(f"{question} [y/N]: ", end="", highlight=False, markup=False)
        self.stderr.file.flush()
        try:
            answer = stdin.readline() if stdin is not None else ""
        except KeyboardInterrupt:
            self.stderr.print("")  # the error that follows starts a line of its own
            raise
        if not answer or not _echoes(stdin):  # nothing echoed the Enter that ends the answer
            self.stderr.print("")
        return answer.strip().lower() in {"y", "yes"}

    def info(self, message: str) -> None:
        self.stderr.print(message, highlight=False, markup=False)

    def warn(self, message: str) -> None:
        self.stderr.print("[yellow]warning:[/] ", end="", highlight=False)
        self.stderr.print(message, highlight=False, markup=False)

    def error(self, message: str, exit_code: int, hint: str | None = None) -> None:
        """An error on stderr; under --json also the error document, unless a result was already printed."""
        self.stderr.print("[bold red]error:[/] ", end="", highlight=False)
        self.stderr.print(message if hint is None else f"{message}\n{hint}", highlight=False, markup=False)
        self.error_document(message, exit_code, hint)

    def error_document(self, message: str, exit_code: int, hint: str | None = None) -> None:
        """Under --json, the error as the one document on stdout (unless a result was already printed)."""
        if self.json_mode and not self._emitted:
            self._write_json({"error": {"message": message, "hint": hint, "exit_code": exit_code}})

    def result(self, document: Any, render: Callable[[], None]) -> None:
        """The command's result: the JSON document under --json, else what `render` prints."""
        if self.json_mode:
            self._write_json(document)
        else:
            render()

    def _write_json(self, document: Any) -> None:
        self._emitted = True
        if self._out is None:  # closed (>&-): nowhere to write, and nothing to crash on
            return
        import json

        self._out.write(json.dumps(document, indent=2, default=str) + "\n")
        self._out.flush()

    def plain(self, text: str) -> None:
        """Text on stdout as it is: no markup, no highlighting, no wrapping of long lines."""
        self.stdout.print(text, markup=False, highlight=False, soft_wrap=True)

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None, ids: int = 1
    ) -> None:
        """Rows as a table; the first `ids` columns hold identifiers a person copies (batch ids, execution names,
        links), never folded. When the table does not fit the terminal, one block per row instead, as gh does: the
        identifier on a line of its own, then each other column as `name: value`."""
        self.stdout.print(fitted(self.stdout, columns, list(rows), title=title, ids=ids), soft_wrap=True)

    def activity(self) -> Progress:
        """A live list of spinners, one per piece of work, each showing its latest step (on stderr)."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=self.stderr)

    def progress(self, *, transient: bool = False) -> Progress:
        """A progress display on stderr (so it never mixes with --json on stdout)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.stderr,
            transient=transient,
        )


def plural(count: int, noun: str) -> str:
    """`1 job`, `2 jobs`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _echoes(stream: IO[str] | None) -> bool:
    """The stream is a terminal, which echoes what is typed (the Enter too)."""
    try:
        return stream is not None and stream.isatty()
    except ValueError:
        return False


def _console(stream: IO[str] | None) -> Console:
    """A console on the stream. Off a terminal (a pipe, a file) it is as wide as a line needs: identifiers (batch
    names, tags, digests, ARNs, links) are printed whole, on one line, for whatever reads them."""
    from rich.console import Console

    console = Console(file=_open_or_null(stream), soft_wrap=True)
    if not console.is_terminal:
        console.width = 100_000
    return console


def _open_or_null(stream: IO[str] | None) -> IO[str]:
    """The stream, or the null device when it was closed (2>&- leaves sys.stderr None, and rich would then
    print to stdout, mixing diagnostics into --json)."""
    return stream if stream is not None else open(os.devnull, "w", encoding="utf-8")


def configure_logging(output: Output, *, verbose: bool) -> None:
    """-v: the tool's own debug log on stderr. Never botocore's, whose debug log prints response bodies (tokens)."""
    if not verbose and "logging" not in sys.modules:
        return  # nothing was ever configured, and importing logging is a tenth of a --help
    import logging

    log = logging.getLogger("cryoet_release")
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose and output.stderr.is_terminal:
        from rich.logging import RichHandler

        log.addHandler(RichHandler(console=output.stderr, show_path=False, show_time=False, markup=False))
    elif verbose:  # a file or a pipe: one plain line per record, as long as its message and no longer
        handler = logging.StreamHandler(output.stderr.file)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        log.addHandler(handler)


def make_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None, ids: int = 0
) -> Table:
    from rich.table import Table
    from rich.text import Text

    # Text, not str: a value such as `[/x]` is data, never rich markup. The identifier columns are never wrapped;
    # another long value is folded onto more lines, never cut short with an ellipsis.
    table = Table(title=Text(title) if title else None, title_justify="left")
    for number, column in enumerate(columns):
        table.add_column(Text(column), overflow="fold", no_wrap=number < ids)
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
    return table


def fitted(
    console: Console, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None, ids: int = 1
) -> Any:
    """A table when it fits the console with no cell folded, else one block per row (as gh does): the row's
    identifiers on a line of their own, then `column: value` lines. An identifier is never folded or cut."""
    from rich.console import Group
    from rich.measure import Measurement
    from rich.text import Text

    table = make_table(columns, rows, title=title, ids=ids)
    unbounded = console.options.update_width(1_000_000)  # a measurement is clamped to the width it is given
    if not console.is_terminal or Measurement.get(console, unbounded, table).maximum <= console.width:
        return table
    blocks: list[Any] = [Text(title, style="bold")] if title else []
    for row in rows:
        head = "  ".join(str(cell) for cell in row[:ids] if cell not in (None, ""))
        blocks.append(Text(head, style="bold", no_wrap=True, overflow="ignore"))
        for column, cell in zip(columns[ids:], row[ids:], strict=True):
            if cell not in (None, ""):
                blocks.append(Text.assemble(f"  {column}: ", _cell(cell)))
    return Group(*blocks)


def _cell(value: Any) -> Text:
    from rich.text import Text

    text = "" if value is None else str(value)
    # A link is clickable where the terminal supports it (OSC 8), and plain text elsewhere.
    return Text(text, style=f"link {text}") if text.startswith("https://") else Text(text)
