"""The first-party plugins of cryoet-release; each module's `app` is registered as an entry point."""
