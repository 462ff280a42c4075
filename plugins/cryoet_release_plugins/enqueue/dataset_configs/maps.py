"""The map files a dataset config names (SPEC §5): each must exist and parse (Q2). Their contents do not change which
runs are found."""

from __future__ import annotations

import csv
import io
import posixpath

from cryoet_release.errors import UsageError
from cryoet_release_plugins.enqueue.dataset_configs.config import DatasetConfig
from cryoet_release_plugins.enqueue.dataset_configs.glob import Storage

MAP_FILES = ("run_to_tomo_map_csv", "run_to_frame_map_csv", "run_to_ts_map_csv", "run_data_map_file")


def check_map_files(config: DatasetConfig, input_bucket: str, storage: Storage) -> None:
    """Every configured map file exists and parses (Q2). Their contents do not change which runs are found."""
    for setting in MAP_FILES:
        name = getattr(config.settings, setting)
        if not name:
            continue
        path = posixpath.join(f"{input_bucket}/{config.settings.source_prefix}", name)
        bucket, _, key = path.partition("/")
        data = storage.read(bucket, key) if bucket and key else None
        where = f"{config.file}: standardization_config.{setting}"
        if data is None:
            raise UsageError(f"{where}: {path} does not exist")
        try:
            text = data.decode()
            problem = _table_problem(text, name) if setting == "run_data_map_file" else _pairs_problem(text)
        except (UnicodeDecodeError, csv.Error) as error:
            problem = str(error)
        if problem:
            raise UsageError(f"{where}: {path}: {problem}")


def _pairs_problem(text: str) -> str | None:
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        if len(row) < 2:
            return f"line {reader.line_num} has {len(row)} cell(s); every line maps a run name to a second cell"
    return None


def _table_problem(text: str, name: str) -> str | None:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith("tsv") else ",")
    if any("run_name" not in row for row in reader):
        return "it has rows but no run_name column"
    return None
