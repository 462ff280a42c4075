"""cryoet-release: build, push and exercise the CryoET Data Portal's ingestion images."""
