"""The ledger file itself: what a crash can leave, and what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryoet_release import batches
from cryoet_release.errors import OperationFailed, UsageError

HEADER = batches.Header(
    batch="b1",
    kind="db-import",
    environment="staging",
    region="us-west-2",
    account="123456789012",
    state_machine="arn:aws:states:us-west-2:123456789012:stateMachine:cryoet-ingestion-staging-default-wdl",
    created="2026-11-26T00:00:00+00:00",
    images={},
    parameters={},
)
JOBS = [("b1-db-import-1", "1", '{"a":1}'), ("b1-db-import-2", "2", '{"a":2}')]


def test_round_trip_and_outcomes(tmp_path: Path) -> None:
    ledger = batches.create(tmp_path, HEADER, JOBS)
    ledger.record_failed("b1-db-import-1", "ThrottlingException", "Rate exceeded")
    ledger.record_started("b1-db-import-2", "arn:x:2", "2026-11-26T00:00:01+00:00")
    ledger.record_started("b1-db-import-1", "arn:x:1", "2026-11-26T00:00:02+00:00")
    again = batches.load(tmp_path, "b1")
    assert again.header == HEADER
    assert again.counts() == {"planned": 0, "started": 2, "failed": 0}
    assert again.entries["b1-db-import-1"].input_sha256 == batches.input_hash('{"a":1}')
    assert [json.loads(line)["type"] for line in again.path.read_text().splitlines()] == [
        "batch", "planned", "planned", "failed", "started", "started",
    ]  # fmt: skip


def test_a_line_cut_by_a_crash_is_ignored(tmp_path: Path) -> None:
    ledger = batches.create(tmp_path, HEADER, JOBS)
    ledger.record_started("b1-db-import-1", "arn:x:1", "2026-11-26T00:00:01+00:00")
    with ledger.path.open("a") as file:
        file.write('{"type":"started","name":"b1-db-imp')
    again = batches.load(tmp_path, "b1")
    assert again.truncated_tail
    assert [e.name for e in again.pending()] == ["b1-db-import-2"]


def test_a_corrupt_line_in_the_middle_is_refused(tmp_path: Path) -> None:
    ledger = batches.create(tmp_path, HEADER, JOBS)
    text = ledger.path.read_text().splitlines()
    ledger.path.write_text("\n".join([text[0], "not json", *text[1:]]) + "\n")
    with pytest.raises(UsageError, match=r"b1.jsonl:2: not a ledger line"):
        batches.load(tmp_path, "b1")


def test_a_batch_is_created_once_and_locked_by_one(tmp_path: Path) -> None:
    batches.create(tmp_path, HEADER, JOBS)
    with pytest.raises(UsageError, match="already exists"):
        batches.create(tmp_path, HEADER, JOBS)
    with (
        batches.locked(tmp_path, "b1"),
        pytest.raises(OperationFailed, match="is being submitted by process"),
        batches.locked(tmp_path, "b1"),
    ):
        pass
    with batches.locked(tmp_path, "b1"):  # released, so it can be taken again
        pass


def test_ledger_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cryoet_release.context import GlobalOptions
    from cryoet_release_plugins.batch.ledgers import folder

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert folder(GlobalOptions(), None) == tmp_path / "cryoet-release" / "batches"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert folder(GlobalOptions(), None) == tmp_path / ".local" / "state" / "cryoet-release" / "batches"
    assert folder(GlobalOptions(), tmp_path / "x") == tmp_path / "x"
