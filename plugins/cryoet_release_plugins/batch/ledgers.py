"""Finding a batch's ledger the way every batch command does: by name, or the newest; unknown ones say how to list."""

from __future__ import annotations

from pathlib import Path

from cryoet_release import batches
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import UsageError

LIST_HINT = "List them with: cryoet-release batches"


def folder(opts: GlobalOptions, override: Path | None) -> Path:
    """--ledger-dir, else the state folder's batches/ ($XDG_STATE_HOME/cryoet-release/batches)."""
    return override if override is not None else opts.process.state_dir() / "batches"


def load_batch(directory: Path, batch: str) -> batches.Ledger:
    """The batch's ledger; an unknown batch says how to list them."""
    try:
        return batches.load(directory, batch)
    except batches.UnknownBatch as error:
        raise UsageError(error.message, hint=LIST_HINT) from None


def readable_ledgers(output: Output, directory: Path) -> list[batches.Ledger]:
    """Every ledger of the folder, newest first; a file that is not one is a warning, not the end of the list."""
    ledgers, problems = batches.list_ledgers(directory)
    for problem in problems:
        output.warn(f"skipped: {problem}")
    return ledgers


def pick_ledger(opts: GlobalOptions, batch: str | None, *, latest: bool, ledger_dir: Path | None) -> batches.Ledger:
    directory = folder(opts, ledger_dir)
    if latest == (batch is not None):
        raise UsageError("give a BATCH or --latest (one of them)")
    if batch is not None:
        return load_batch(directory, batch)
    newest = readable_ledgers(opts.output, directory)
    if not newest:
        raise UsageError(f"no batches in {directory}")
    return newest[0]
