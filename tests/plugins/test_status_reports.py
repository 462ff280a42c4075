"""Validation results in `status`: the Allure reports the validate and source-validate jobs write, read from where
each job's own input says (seeded in the real emulator: a fresh one with failures, a stale one, none)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import invoke
from tests.faults import count_object_reads
from tests.portal import client, seed, state_machine_arn


def allure(bucket: str, folder: str, *, started: datetime, tests: dict[str, str]) -> None:
    """An Allure report's two widgets, as `allure generate` writes them."""
    statistic = {status: sum(value == status for value in tests.values()) for status in
                 ("failed", "broken", "skipped", "passed", "unknown")}  # fmt: skip
    start = int(started.timestamp() * 1000)
    summary = {
        "reportName": "Allure Report",
        "testRuns": [],
        "statistic": {**statistic, "total": len(tests)},
        "time": {"start": start, "stop": start + 5000, "duration": 5000},
    }
    chart = [
        {"uid": f"u{n}", "name": name, "time": {"start": start, "stop": start + 10, "duration": 10}, "status": status}
        for n, (name, status) in enumerate(tests.items())
    ]
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key=f"{folder}/widgets/summary.json", Body=json.dumps(summary).encode())
    s3.put_object(Bucket=bucket, Key=f"{folder}/widgets/status-chart.json", Body=json.dumps(chart).encode())
    s3.put_object(Bucket=bucket, Key=f"{folder}/index.html", Body=b"<html>allure</html>")
    for n in range(50):  # the report's tree, which status must never read
        s3.put_object(Bucket=bucket, Key=f"{folder}/data/test-cases/{n}.json", Body=b"{}")


def wait_closed() -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = client("stepfunctions").list_executions(stateMachineArn=state_machine_arn("staging"))["executions"]
        if listed and all(e["status"] != "RUNNING" for e in listed):
            return
        time.sleep(0.2)
    pytest.fail("still running")


@pytest.fixture
def validated(executing: None, aws: str) -> None:
    seed()
    client("s3").put_object(Bucket="cryoet-data-portal-staging", Key="10002/notes.txt", Body=b"")
    assert invoke("enqueue", "validate", "10000", "10001", "10002", "--batch", "checked").exit_code == 0
    wait_closed()
    now = datetime.now(UTC)
    bucket = "cryoet-data-portal-staging"
    allure(bucket, "staging_validation/10000", started=now + timedelta(seconds=1), tests={
        "test_tomogram_shape": "passed", "test_voxel_spacing": "failed", "test_metadata_keys": "broken",
        "test_frames": "skipped", **{f"test_passing_{n}": "passed" for n in range(8)},
    })  # fmt: skip
    allure(bucket, "staging_validation/10001", started=now - timedelta(days=3), tests={"test_old": "failed"})


def test_status_shows_each_validation_jobs_tests(validated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = count_object_reads(monkeypatch)
    result = invoke("--json", "status", "checked")
    assert result.exit_code == 0, result.output
    jobs = {e["key"]: e for e in json.loads(result.stdout)["executions"]}
    fresh = jobs["10000"]["tests"]
    assert {k: fresh[k] for k in ("passed", "failed", "broken", "skipped", "unknown", "total")} == {
        "passed": 9, "failed": 1, "broken": 1, "skipped": 1, "unknown": 0, "total": 12,
    }  # fmt: skip
    assert fresh["failed_tests"] == ["test_voxel_spacing", "test_metadata_keys"]
    assert fresh["report"] == "s3://cryoet-data-portal-staging/staging_validation/10000/"
    assert fresh["link"] == "https://files.cryoet.staging.si.czi.technology/staging_validation/10000/index.html"
    assert "stale" not in fresh
    assert jobs["10001"]["tests"]["stale"] is True  # written three days before this job started
    assert jobs["10002"]["tests"] is None  # no report yet
    # Two small GETs a report, concurrently; never the report's tree.
    assert not any("/data/" in path for path in reads)
    assert sum(reads[p] for p in reads if "staging_validation" in p) == 2 + 2 + 1


def test_a_person_sees_counts_names_and_the_link(validated: None) -> None:
    result = invoke("status", "checked")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "  passed 9, failed 1, broken 1, skipped 1 (of 12)" in text
    assert "  failed or broken: test_voxel_spacing, test_metadata_keys" in text
    assert "  report: https://files.cryoet.staging.si.czi.technology/staging_validation/10000/index.html" in text
    assert "an earlier run's report" in text


def test_exit_status_fails_on_failed_tests_but_not_on_a_stale_report(validated: None) -> None:
    result = invoke("status", "checked", "--exit-status")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: tests failed or broke in 1 job's report")
    client("s3").put_object(
        Bucket="cryoet-data-portal-staging",
        Key="staging_validation/10000/widgets/status-chart.json",
        Body=b"[]",
    )
    allure("cryoet-data-portal-staging", "staging_validation/10000", started=datetime.now(UTC) + timedelta(seconds=1),
           tests={"test_all_good": "passed"})  # fmt: skip
    assert invoke("status", "checked", "--exit-status").exit_code == 0  # the stale failing one does not count


def test_a_report_outside_the_portals_buckets_links_to_the_s3_console(
    executing: None, aws: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report is read where the job's own input says (its output bucket then), whatever the config says now."""
    seed()
    s3 = client("s3")
    s3.create_bucket(Bucket="elsewhere-reports", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    config = tmp_path / "cryoet-release.toml"
    config.write_text('[environments.staging]\nbucket = "elsewhere-reports"\n')
    queued = invoke("--config", str(config), "enqueue", "source-validate", "configs/10000.v2.yaml", "--batch", "src")
    assert queued.exit_code == 0, queued.output
    wait_closed()
    allure("elsewhere-reports", "source_validation/10000", started=datetime.now(UTC) + timedelta(seconds=1),
           tests={"test_source": "passed"})  # fmt: skip
    (job,) = json.loads(invoke("--json", "status", "src").stdout)["executions"]
    assert job["tests"]["report"] == "s3://elsewhere-reports/source_validation/10000/"  # up to the first dot
    assert job["tests"]["passed"] == 1
    assert job["tests"]["link"] == (
        "https://s3.console.aws.amazon.com/s3/buckets/elsewhere-reports?region=us-west-2&prefix=source_validation/10000/"
    )
