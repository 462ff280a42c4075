"""The portal's dataset configs: reading them (`config`), walking S3 as s3fs globs (`glob`), the map files they
name (`maps`), and the runs their finders find (`finders`); the ingest options each run's job gets (`ingest`)."""
