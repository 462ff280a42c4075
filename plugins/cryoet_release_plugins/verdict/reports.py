"""The test reports the validation jobs write: the portal's pytest suites run with Allure, and each job puts its
generated report at `s3://<output_bucket>/<output_dir>/<identifier>/` (the identifier is the dataset id for
`validate`, and the config file's name up to its first dot for `source-validate`; data_validation/shared/
allure_runner.py). The bucket and folder are the job's own input's, read from the ledger.

A report costs two small GETs: `widgets/summary.json` (the counts, and when the run started) and
`widgets/status-chart.json` (each test's name and status); the report's tree is never read.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release.aws import Aws
from cryoet_release.errors import AwsError

COUNTS = ("passed", "failed", "broken", "skipped", "unknown", "total")
FAILING = frozenset({"failed", "broken"})


@dataclass(frozen=True)
class ReportPlace:
    bucket: str
    folder: str
    """`<output_dir>/<identifier>`, without a trailing '/'."""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.folder}/"


def report_place(document: str) -> ReportPlace | None:
    """Where a job's input says its report goes; None for a job that is not a validation job."""
    try:
        run = json.loads(document)["Input"]["Run"]
    except (ValueError, KeyError, TypeError):
        return None
    entity, bucket, folder = run.get("test_entity"), run.get("output_bucket"), run.get("output_dir")
    if entity not in {"standardized", "source"} or not bucket or not folder:
        return None
    if entity == "standardized":
        identifier = str(run.get("dataset") or "")
    else:  # the config file's name up to its first dot, as allure_tests.py names it
        identifier = posixpath.basename(str(run.get("config_file") or "")).split(".")[0]
    return ReportPlace(bucket, f"{folder.strip('/')}/{identifier}") if identifier else None


@dataclass
class TestReport:
    place: ReportPlace
    counts: dict[str, int]
    failed_tests: list[str] = field(default_factory=list)
    """The failed and broken tests' names."""
    started: datetime | None = None
    stale: bool = False
    """The report predates the job's start: another run wrote it, and it does not count."""
    link: str | None = None

    @property
    def failing(self) -> bool:
        """Tests failed or broke, in a report of this run."""
        return not self.stale and (self.counts["failed"] + self.counts["broken"]) > 0

    def as_json(self) -> dict[str, Any]:
        return {
            **self.counts,
            "failed_tests": self.failed_tests,
            "report": self.place.url,
            "link": self.link,
            "started": self.started.isoformat() if self.started else None,
            **({"stale": True} if self.stale else {}),
        }


def read_report(aws: Aws, place: ReportPlace, *, job_started: str | None) -> TestReport | None:
    """The job's report; None while there is none. A report older than the job's start is stale."""
    summary = _json(aws, place, "widgets/summary.json")
    if not isinstance(summary, Mapping):
        return None
    statistic = summary.get("statistic") or {}
    counts = {name: int(statistic.get(name) or 0) for name in COUNTS}
    start_ms = (summary.get("time") or {}).get("start")
    started = datetime.fromtimestamp(start_ms / 1000, tz=UTC) if isinstance(start_ms, int | float) else None
    stale = started is not None and job_started is not None and started < datetime.fromisoformat(job_started)
    chart = _json(aws, place, "widgets/status-chart.json")
    tests = chart if isinstance(chart, list) else []
    failing = [str(test.get("name")) for test in tests if isinstance(test, Mapping) and test.get("status") in FAILING]
    return TestReport(place, counts, failing, started, stale)


def _json(aws: Aws, place: ReportPlace, name: str) -> Any:
    try:
        data = cloud.read_object(aws, place.bucket, f"{place.folder}/{name}")
    except AwsError:
        return None
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def read_reports(aws: Aws, jobs: Sequence[tuple[str, str, str | None]], *, parallelism: int) -> dict[str, TestReport]:
    """(job name, its input document, its execution's start) -> the report of each validation job that has one,
    read concurrently."""
    places = [(name, report_place(document), started) for name, document, started in jobs]
    wanted = [(name, place, started) for name, place, started in places if place is not None]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        found = pool.map(lambda job: read_report(aws, job[1], job_started=job[2]), wanted)
        return {name: report for (name, _, _), report in zip(wanted, found, strict=True) if report is not None}


def report_link(place: ReportPlace, https_prefixes: Mapping[str, str], region: str) -> str:
    """The report's page: on the portal's file server when the bucket is an environment's, else in the S3 console."""
    prefix = https_prefixes.get(place.bucket)
    if prefix:
        return f"{prefix.rstrip('/')}/{place.folder}/index.html"
    return f"https://s3.console.aws.amazon.com/s3/buckets/{place.bucket}?region={region}&prefix={place.folder}/"
