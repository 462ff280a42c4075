"""Options more than one first-party plugin declares (enqueue, status, batches). Light: `--help` imports it."""

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_PARALLELISM = 20
MAX_PARALLELISM = 256

Parallelism = Annotated[
    int, typer.Option(min=1, max=MAX_PARALLELISM, help="Concurrent AWS requests (submissions and lookups).")
]
LedgerDir = Annotated[
    Path | None,
    typer.Option(help="Where batch ledgers live (default: $XDG_STATE_HOME/cryoet-release/batches).", file_okay=False),
]
