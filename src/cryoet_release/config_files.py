"""The config's built-in defaults and where its file is found: light (no validation library), so that shell
completion can read the image keys on every TAB. config.py validates and layers them."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG_FILENAME = "cryoet-release.toml"
CONFIG_ENV = "CRYOET_RELEASE_CONFIG"

DEFAULTS: dict[str, Any] = {
    "images": {
        "ingestor": {"context": "ingestion_tools", "repository": "cryoet-staging"},
        "apiv2": {"context": "apiv2", "repository": "apiv2-x86"},
    },
    "protected_tags": ["main"],
    "environments": {
        "staging": {
            "bucket": "cryoet-data-portal-staging",
            "https_prefix": "https://files.cryoet.staging.si.czi.technology",
        },
        "prod": {
            "bucket": "cryoet-data-portal-public",
            "https_prefix": "https://files.cryoetdataportal.cziscience.com",
        },
    },
}


def find_git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def find_config_file(start: Path) -> Path | None:
    """The nearest cryoet-release.toml from `start` up to the git root (or the filesystem root)."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def image_keys(cwd: Path, environ: Mapping[str, str], explicit: Path | None = None) -> list[str]:
    """The image keys (ingestor, apiv2, and any the config file adds), without validating anything."""
    keys = list(DEFAULTS["images"])
    path = explicit or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else find_config_file(cwd))
    try:
        images = tomllib.loads(path.read_text()).get("images", {}) if path else {}
    except (OSError, ValueError):
        return keys
    return keys + [key for key in images if isinstance(images, dict) and key not in keys]
