"""The first-party enqueue kinds, one module each, registered in pyproject.toml exactly as a third party's would be
(`cryoet_release.enqueue_kinds`). `selection` holds the dataset options db-import and sync share.

The kinds' modules do without `from __future__ import annotations`: typer reads a kind's options from its fields'
annotations at every `--help`, and objects cost it less than strings it must compile and evaluate."""
