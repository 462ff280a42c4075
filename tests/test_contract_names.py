"""Execution names and input sizes: pure functions, checked without AWS."""

from __future__ import annotations

import re

from cryoet_release.contract import MAX_INPUT_BYTES, Target, execution_name, make_jobs, new_batch_id, oversized
from cryoet_release.kinds import JobSpec

NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")
TARGET = Target(region="us-west-2", state_machine_arn="arn:x", comms_bucket="c", wdl_bucket="w")


def test_plain_names_are_kept_as_they_are() -> None:
    assert execution_name("20261126T070000Z-ab12", "db-import", "10000") == "20261126T070000Z-ab12-db-import-10000"


def test_names_are_deterministic_valid_and_never_collide() -> None:
    batch = "b" * 40
    keys = [f"dataset_configs/{'x' * 60}/{n}.yaml" for n in range(500)] + ["a.b", "a-b", "a/b", "a b"]
    names = [execution_name(batch, "source-validate", key) for key in keys]
    assert all(NAME.fullmatch(name) for name in names)
    assert len(set(names)) == len(keys)
    assert names == [execution_name(batch, "source-validate", key) for key in keys]


def test_batch_ids_are_sortable_and_distinct() -> None:
    ids = {new_batch_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", batch) for batch in ids)


def test_oversized_inputs_are_found_by_their_utf8_size() -> None:
    small = JobSpec("1", {"flags": "x"})
    big = JobSpec("2", {"flags": "é" * (MAX_INPUT_BYTES // 2)})  # fewer characters than bytes
    jobs = make_jobs([small, big], TARGET, batch="b", kind="k", image="i", wdl_key="w", memory=1)
    assert [job.key for job in oversized(jobs)] == ["2"]


def test_attempt_names_are_valid_deterministic_and_distinct() -> None:
    from cryoet_release.contract import attempt_name

    short = execution_name("b1", "validate", "10000")
    assert attempt_name(short, 1) == f"{short}-r1"
    long = execution_name("b" * 40, "source-validate", "x" * 60)
    names = [attempt_name(long, n) for n in range(1, 12)]
    assert all(NAME.fullmatch(name) for name in names)
    assert len(set(names)) == len(names)
    assert names == [attempt_name(long, n) for n in range(1, 12)]
