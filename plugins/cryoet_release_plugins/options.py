"""Options more than one first-party plugin declares (enqueue, status, batches, compare), and where batches live.
Light: `--help` and every TAB import it."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

SANDBOX_ENV = "CRYOET_RELEASE_SANDBOX"
"""Set (by `sandbox serve`'s exports) in a shell that rehearses on the sandbox: its batches are kept apart."""


def ledger_folder(state_dir: Path, environ: Mapping[str, str], override: Path | None = None) -> Path:
    """--ledger-dir, else the state folder's batches/ ($XDG_STATE_HOME/cryoet-release/batches); in a shell that
    rehearses on the sandbox, its sandbox/batches/, apart from the real ones."""
    if override is not None:
        return override
    return state_dir / "sandbox" / "batches" if environ.get(SANDBOX_ENV) else state_dir / "batches"


def batch_ids(ctx: Any, incomplete: str) -> list[str]:
    """Shell completion: the batches in the ledger folder, newest first (read from the disk, never AWS)."""
    from cryoet_release.context import Process

    given = ctx.params.get("ledger_dir")  # as typed: click converts values only when the command runs
    folder = ledger_folder(Process().state_dir(), os.environ, Path(given) if given else None)
    try:
        found = [(p.stat().st_mtime, p.name.removesuffix(".jsonl")) for p in folder.glob(f"{incomplete}*.jsonl")]
    except OSError:
        return []
    return [name for _, name in sorted(found, reverse=True) if "." not in name]  # not <batch>.final.jsonl


DEFAULT_PARALLELISM = 20
MAX_PARALLELISM = 256

Parallelism = Annotated[
    int,
    typer.Option(metavar="N", min=1, max=MAX_PARALLELISM, help="Concurrent AWS requests (submissions and lookups)."),
]
ReadParallelism = Annotated[
    int, typer.Option(metavar="N", min=1, max=MAX_PARALLELISM, help="Concurrent AWS requests (reads).")
]
LedgerDir = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Where batch ledgers live [default: $XDG_STATE_HOME/cryoet-release/batches].",
        file_okay=False,
        show_default=False,
    ),
]
