"""Names options choose from. Light on purpose: `--help` shows them as choices."""

from enum import StrEnum


class Environment(StrEnum):
    STAGING = "staging"
    PROD = "prod"
