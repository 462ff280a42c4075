"""The contract: the 45 command lines recorded by running the old enqueue_runs.py on a seeded emulator.

Each case is replayed against the real emulator seeded exactly as `world.json` says; the exit code and the multiset
of raw StartExecution inputs must equal the recording, byte for byte (the execution name written `{name}`, the
image account `{account}`). Where a case names a `rule`, it holds the deliberate difference (see
docs/migration.md).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.portal import raw_inputs, seed_world

DATA = Path(__file__).parent.parent / "data" / "contract"
CASES = json.loads((DATA / "enqueue-cases.json").read_text())
WORLD = json.loads((DATA / "world.json").read_text())


@pytest.fixture
def world(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seed_world(WORLD)
    config = tmp_path / "cryoet-release.toml"
    config.write_text(f'registry_account = "{WORLD["account"]}"\n')
    monkeypatch.setenv("CRYOET_RELEASE_CONFIG", str(config))
    return WORLD


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_the_same_command_line_queues_the_same_jobs(world: dict[str, Any], case: dict[str, Any]) -> None:
    args = list(case["args"])
    if "prod" in args:
        args.append("--yes")
    result = invoke("enqueue", *args)
    assert result.exit_code == case["exit"], result.output
    assert raw_inputs(world) == Counter(job["raw"] for job in case["jobs"])
    if case["exit"]:
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr  # the error and its hint, no traceback


def test_every_recorded_case_is_replayed() -> None:
    assert len(CASES) == 45
    assert len({case["case"] for case in CASES}) == 45
