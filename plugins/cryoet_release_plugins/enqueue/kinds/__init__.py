"""The first-party enqueue kinds, one module each, registered in pyproject.toml exactly as a third party's would be
(`cryoet_release.enqueue_kinds`). `selection` holds the dataset options db-import and sync share."""
