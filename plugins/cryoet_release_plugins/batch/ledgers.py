"""Finding a batch's ledger the way every batch command does: by name, or the newest; unknown ones say how to list."""

from __future__ import annotations

import shlex
from pathlib import Path

from cryoet_release import batches
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import AwsError, Unreachable, UsageError
from cryoet_release_plugins.options import ledger_folder

LIST_HINT = "List them with: cryoet-release batches"


def folder(opts: GlobalOptions, override: Path | None) -> Path:
    """Where the batches are (options.ledger_folder)."""
    return ledger_folder(opts.process.state_dir(), opts.environ, override)


def batch_command(opts: GlobalOptions, verb: str, batch: batches.Ledger | str, directory: Path | None = None) -> str:
    """The command line that goes on with a batch (`verb`: "enqueue resume", "enqueue retry", ...). It names the
    ledger folder when that is not the default one: without it, the command would find another batch, or none."""
    if isinstance(batch, batches.Ledger):
        name, directory = batch.batch, batch.path.parent
    else:
        name = batch
    elsewhere = directory is not None and directory.resolve() != folder(opts, None).resolve()
    return f"cryoet-release {verb} {name}" + (f" --ledger-dir {shlex.quote(str(directory))}" if elsewhere else "")


def sandbox_gone(ledger: batches.Ledger, error: AwsError) -> AwsError:
    """An AWS endpoint that does not answer, said for what it is when the batch was made in a sandbox."""
    if ledger.header.sandbox is None or not isinstance(error, Unreachable):
        return error
    return AwsError(
        f"{error.message}: batch {ledger.batch} was made in the sandbox at {ledger.header.sandbox}, which is not"
        " running any more",
        hint="A sandbox's batches end with it: `cryoet-release sandbox serve` starts a new one, to enqueue again",
    )


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
