"""Reading batches back at the least cost: final states recorded once (and the record's crash safety), pages rather
than calls for the jobs still running, the client-side rate limits, and a summary for a person instead of every row.

Against the real emulator (moto server); Step Functions calls are counted at the HTTP session (tests/faults.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cryoet_release import batches, quotas
from cryoet_release.executions import FinalStates
from tests.conftest import invoke
from tests.faults import Fault, count_calls, inject, throttled
from tests.portal import client, seed, state_machine_arn

SFN = ("DescribeExecution", "ListExecutions", "StartExecution")


def ledger_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cryoet-release" / "batches"


def datasets(count: int, first: int = 50000) -> list[str]:
    ids = [str(first + n) for n in range(count)]
    s3 = client("s3")
    for dataset in ids:
        s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{dataset}/dataset_metadata.json", Body=b"{}")
    return ids


def fail_some(names: set[str]) -> None:
    """A machine whose Fail state catches the chosen datasets' jobs: the rest succeed at once."""
    choices = [{"Variable": "$.Input.Run.dataset", "StringEquals": name, "Next": "Broken"} for name in sorted(names)]
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": choices, "Default": "Done"},
            "Broken": {"Type": "Fail", "Error": "ValidationError", "Cause": "tests failed"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    client("stepfunctions").update_state_machine(
        stateMachineArn=state_machine_arn("staging"), definition=json.dumps(definition)
    )


def wait_until_closed(count: int) -> None:
    deadline = time.monotonic() + 60
    sfn = client("stepfunctions")
    while time.monotonic() < deadline:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn("staging"))
        statuses = Counter(e["status"] for page in pages for e in page["executions"])
        if statuses.get("RUNNING", 0) == 0 and sum(statuses.values()) >= count:
            return
        time.sleep(0.2)
    pytest.fail("executions still running after 60 s")


def sfn_calls(calls: Counter[str]) -> dict[str, int]:
    return {name: calls[name] for name in SFN if calls[name]}


def test_a_finished_batch_is_read_once_and_then_costs_nothing(
    executing: None, aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed()
    ids = datasets(40)
    fail_some({ids[3], ids[7]})
    assert invoke("enqueue", "validate", *ids, "--batch", "done").exit_code == 0
    wait_until_closed(40)

    calls = count_calls(monkeypatch)
    first = invoke("-v", "--json", "status", "done")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["counts"] == {
        "RUNNING": 0, "SUCCEEDED": 38, "FAILED": 2, "TIMED_OUT": 0, "ABORTED": 0, "NOT_STARTED": 0,
    }  # fmt: skip
    # 40 unknown jobs: one page of the executions since the batch began, then the two failed ones described.
    assert sfn_calls(calls) == {"ListExecutions": 1, "DescribeExecution": 2}
    assert "list since the batch began" in " ".join(first.stderr.split())
    failed = [e for e in json.loads(first.stdout)["executions"] if e["state"] == "FAILED"]
    assert {(e["error"], e["cause"]) for e in failed} == {("ValidationError", "tests failed")}

    calls.clear()
    second = invoke("--json", "status", "done")
    assert json.loads(second.stdout)["counts"] == json.loads(first.stdout)["counts"]
    assert sfn_calls(calls) == {}  # everything is known final: no call at all
    assert json.loads(second.stdout)["executions"] == json.loads(first.stdout)["executions"]

    recorded = (ledger_dir(tmp_path) / "done.final.jsonl").read_text().splitlines()
    assert len(recorded) == 1 + 40  # the header, then each job once


def test_running_jobs_cost_pages_not_calls(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto leaves executions RUNNING: a watch of 60 of them reads one page per refresh, and describes only the
    jobs that left RUNNING (here two, stopped)."""
    seed()
    ids = datasets(60)
    assert invoke("enqueue", "validate", *ids, "--batch", "busy").exit_code == 0
    calls = count_calls(monkeypatch)
    first = invoke("-v", "--json", "status", "busy")
    assert json.loads(first.stdout)["counts"]["RUNNING"] == 60
    assert sfn_calls(calls) == {"ListExecutions": 1}  # since the batch began: all 60 in one page, none to describe

    from cryoet_release.context import GlobalOptions
    from cryoet_release.executions import Tracker

    options = GlobalOptions()
    ledger = batches.load(ledger_dir(tmp_path), "busy")
    tracker = Tracker(options.aws(), ledger, parallelism=4)
    tracker.states()  # a watch's first refresh
    sfn = client("stepfunctions")
    for entry in list(ledger.entries.values())[:2]:
        sfn.stop_execution(
            executionArn=f"{state_machine_arn('staging').replace(':stateMachine:', ':execution:')}:{entry.name}"
        )
    calls.clear()
    states = tracker.states()  # the next refresh
    assert Counter(s.state for s in states) == {"RUNNING": 58, "ABORTED": 2}
    assert sfn_calls(calls) == {"ListExecutions": 1, "DescribeExecution": 2}
    assert tracker.last.way == "list RUNNING"
    calls.clear()
    tracker.states()
    assert sfn_calls(calls) == {"ListExecutions": 1}  # the two are final now


def test_few_unknown_jobs_are_described(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed()
    assert invoke("enqueue", "validate", "10000", "10001", "--batch", "small").exit_code == 0
    calls = count_calls(monkeypatch)
    result = invoke("-v", "status", "small")
    assert result.exit_code == 0, result.output
    assert sfn_calls(calls) == {"DescribeExecution": 2}
    assert "describe each: 2 job(s) not known final" in " ".join(result.stderr.split())


def enqueue_three_the_first_refused(monkeypatch: pytest.MonkeyPatch, batch: str, fault: Fault) -> None:
    """A batch of three validate jobs whose first StartExecution meets `fault` (exit 1); the fault is then healed."""
    from tests.faults import heal, when

    seed()
    ids = datasets(3)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    inject(monkeypatch, "StartExecution", when(lambda body: body["name"].endswith(ids[0]), fault))
    assert invoke("enqueue", "validate", *ids, "--batch", batch).exit_code == 1
    heal(monkeypatch)


def test_a_job_never_started_is_asked_about_once_until_the_ledger_changes(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs StartExecution refused: a watch describes them once, not on every refresh, and again once resumed."""
    from cryoet_release.context import GlobalOptions
    from cryoet_release.executions import Tracker
    from tests.faults import denied

    enqueue_three_the_first_refused(monkeypatch, "holes", denied)
    tracker = Tracker(GlobalOptions().aws(), batches.load(ledger_dir(tmp_path), "holes"), parallelism=2)
    calls = count_calls(monkeypatch)
    assert Counter(s.state for s in tracker.states()) == {"RUNNING": 2, "NOT_STARTED": 1}
    assert sfn_calls(calls) == {"DescribeExecution": 3}
    calls.clear()
    tracker.states()
    assert sfn_calls(calls) == {"DescribeExecution": 2}  # the refused job is not asked about again
    assert invoke("enqueue", "resume", "holes").exit_code == 0  # from another shell, during the watch
    calls.clear()
    assert Counter(s.state for s in tracker.states()) == {"RUNNING": 3}
    assert sfn_calls(calls) == {"DescribeExecution": 3}


def test_a_redriven_execution_is_noticed_by_refresh(
    executing: None, aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed()
    fail_some({"10000"})
    assert invoke("enqueue", "validate", "10000", "10001", "--batch", "redriven").exit_code == 0
    wait_until_closed(2)
    assert json.loads(invoke("--json", "status", "redriven").stdout)["counts"]["FAILED"] == 1
    name = next(e.name for e in batches.load(ledger_dir(tmp_path), "redriven").entries.values() if e.key == "10000")
    redrive(name)  # the emulator cannot redrive: its execution is put back to RUNNING, as a redrive does

    cached = json.loads(invoke("--json", "status", "redriven").stdout)
    assert cached["counts"]["FAILED"] == 1  # recorded as final: not asked again
    refreshed = json.loads(invoke("--json", "status", "redriven", "--refresh").stdout)
    assert refreshed["counts"]["RUNNING"] == 1
    assert refreshed["counts"]["FAILED"] == 0
    names = {
        json.loads(line)["name"]
        for line in (ledger_dir(tmp_path) / "redriven.final.jsonl").read_text().splitlines()[1:]
    }
    assert name not in names  # the record was rewritten without it


def redrive(name: str) -> None:
    """What a redrive does to an execution, done in the emulator's own state (moto has no RedriveExecution)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-west-2"]
    for execution in backend._get_executions():
        if execution.name == name:
            execution.exec_status = ExecutionStatus.RUNNING
            execution.stop_date = None
            execution.error = execution.cause = None
            return
    pytest.fail(f"no execution {name}")


def test_a_cut_record_is_repaired_and_a_corrupt_one_rebuilt(
    executing: None, aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed()
    ids = datasets(5)
    assert invoke("enqueue", "validate", *ids, "--batch", "records").exit_code == 0
    wait_until_closed(5)
    assert invoke("status", "records").exit_code == 0
    path = ledger_dir(tmp_path) / "records.final.jsonl"
    whole = path.read_bytes()

    with path.open("ab") as file:  # a crash in the middle of an append
        file.write(b'{"name":"records-validate-5000')
    calls = count_calls(monkeypatch)
    assert json.loads(invoke("--json", "status", "records").stdout)["counts"]["SUCCEEDED"] == 5
    assert sfn_calls(calls) == {}  # the whole lines are trusted: the cut one is not a record
    ledger = batches.load(ledger_dir(tmp_path), "records")
    FinalStates(ledger).record([])  # nothing new: the file is left as it is
    assert path.read_bytes().startswith(whole)

    path.write_bytes(whole.replace(b'"status":"SUCCEEDED"', b'"status":', 1))  # not JSON any more
    calls.clear()
    assert json.loads(invoke("--json", "status", "records").stdout)["counts"]["SUCCEEDED"] == 5
    assert sum(sfn_calls(calls).values()) > 0  # not trusted: read again from Step Functions
    rebuilt = path.read_text().splitlines()
    assert len(rebuilt) == 1 + 5
    assert all(json.loads(line) for line in rebuilt)


def test_kill_9_while_records_are_written_leaves_whole_lines(executing: None, aws: str, tmp_path: Path) -> None:
    """A process appending records, killed at an unknown point: what is left reads as whole records only."""
    seed()
    ids = datasets(3)
    assert invoke("enqueue", "validate", *ids, "--batch", "killed").exit_code == 0
    wait_until_closed(3)
    assert invoke("status", "killed").exit_code == 0
    folder = ledger_dir(tmp_path)
    code = (
        "import sys, itertools\n"
        "from pathlib import Path\n"
        "from cryoet_release import batches\n"
        "from cryoet_release.executions import Final, FinalStates\n"
        "records = FinalStates(batches.load(Path(sys.argv[1]), 'killed'))\n"
        "for n in itertools.count():\n"
        "    records.record([Final(f'job-{n}-{m}', 'arn', 'SUCCEEDED', '2026-01-01T00:00:00+00:00', cause='x' * 500)"
        " for m in range(50)])\n"
    )
    for delay in (0.05, 0.2, 0.4):
        writer = subprocess.Popen([sys.executable, "-c", code, str(folder)])
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        ledger = batches.load(folder, "killed")
        records = FinalStates(ledger)
        known = records.load()
        assert records.problem is None
        assert {ledger.entries[name].key for name in ledger.entries if name in known} == set(ids)
        assert json.loads(invoke("--json", "status", "killed").stdout)["counts"]["SUCCEEDED"] == 3


def test_resume_takes_what_status_read_for_started(
    executing: None, aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose answer was lost, then read by status: resume records it started without asking Step Functions."""
    from tests.faults import lost

    enqueue_three_the_first_refused(monkeypatch, "lossy", lost)
    wait_until_closed(3)
    assert json.loads(invoke("--json", "status", "lossy").stdout)["counts"]["SUCCEEDED"] == 3
    calls = count_calls(monkeypatch)
    resumed = invoke("enqueue", "resume", "lossy")
    assert resumed.exit_code == 0, resumed.output
    assert "1 job already ran (read by status), recorded started" in resumed.stderr
    assert sfn_calls(calls) == {}
    assert batches.load(ledger_dir(tmp_path), "lossy").counts()["started"] == 3


def test_a_summary_for_a_person_and_every_job_on_request(executing: None, aws: str, tmp_path: Path) -> None:
    seed()
    ids = datasets(30)
    fail_some(set(ids[:25]))
    assert invoke("enqueue", "validate", *ids, "--batch", "many").exit_code == 0
    wait_until_closed(30)
    summary = invoke("status", "many")
    assert summary.exit_code == 0, summary.output
    assert "SUCCEEDED 5  FAILED 25" in summary.stdout
    assert "and 5 more failed: --all lists every job, --json all" in summary.stdout
    assert sum(f"many-validate-{dataset}" in summary.stdout for dataset in ids) == 20
    every = invoke("status", "many", "--all")
    assert all(f"many-validate-{dataset}" in every.stdout for dataset in ids)
    assert len(json.loads(invoke("--json", "status", "many").stdout)["executions"]) == 30


def test_the_limiter_keeps_to_its_rate_and_yields_to_throttling() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = quotas.Limiter(quotas.Quota(bucket=5, refill=10), recovery=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == []  # the bucket's worth goes at once
    for _ in range(10):
        limiter.acquire()
    assert now[0] == pytest.approx(1.0)  # then 10 a second
    limiter.throttled()
    assert limiter.rate == pytest.approx(5.0)
    start = now[0]
    for _ in range(5):
        limiter.acquire()
    assert now[0] - start == pytest.approx(1.0, rel=0.1)  # half the rate after a throttle
    now[0] += 20
    limiter.acquire()
    assert limiter.rate == pytest.approx(10.0)  # back to its limit once the recovery time has passed without one


def test_the_defaults_are_below_the_documented_quotas() -> None:
    for action in quotas.DOCUMENTED:
        for region in ("us-west-2", "eu-central-1"):
            documented, limit = quotas.documented(action, region), quotas.default_limit(action, region)
            assert limit.refill < documented.refill
            assert limit.bucket < documented.bucket
    assert quotas.default_limit("DescribeExecution", "us-west-2").refill == pytest.approx(10)
    assert quotas.default_limit("StartExecution", "us-west-2").refill == pytest.approx(285)


def test_a_throttled_read_slows_every_client_of_the_process(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed()
    assert invoke("enqueue", "validate", "10000", "--batch", "throttled").exit_code == 0
    answers = Counter[str]()

    def once(request: Any, body: Any, send: Any) -> Any:
        answers["n"] += 1
        return throttled(request, body, send) if answers["n"] == 1 else send()

    inject(monkeypatch, "DescribeExecution", once)
    result = invoke("--json", "status", "throttled")
    assert result.exit_code == 0, result.output  # botocore's retry got it
    limiter = quotas._LIMITERS[("DescribeExecution", "us-west-2")]
    assert limiter.throttles == 1
    assert limiter.rate < limiter.limit.refill


def test_rate_limits_are_configurable(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cryoet-release.toml"
    config.write_text(
        "[rate_limits.DescribeExecution]\nbucket = 2\nrefill = 50\n[rate_limits.ListExecutions]\nrefill = 1\n"
    )
    monkeypatch.setenv("CRYOET_RELEASE_CONFIG", str(config))
    seed()
    assert invoke("enqueue", "validate", "10000", "--batch", "configured").exit_code == 0
    assert invoke("status", "configured").exit_code == 0
    assert quotas._LIMITERS[("DescribeExecution", "us-west-2")].limit == quotas.Quota(2, 50)
    listing = quotas.limiter("ListExecutions", "us-west-2")  # only its refill configured: the default bucket
    assert listing is not None
    assert listing.limit == quotas.Quota(quotas.default_limit("ListExecutions", "us-west-2").bucket, 1)
    shown = invoke("config", "show").stdout
    assert "rate_limits.DescribeExecution.refill" in " ".join(shown.split())
    bad = tmp_path / "bad.toml"
    bad.write_text("[rate_limits.DeleteEverything]\nbucket = 2\nrefill = 1\n")
    refused = invoke("--config", str(bad), "config", "show")
    assert refused.exit_code == 2
    assert "rate_limits.DeleteEverything" in refused.stderr
    assert os.environ.get("CRYOET_RELEASE_CONFIG") == str(config)
