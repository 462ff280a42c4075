"""Batches: the ledger, exactly-once resume after faults, and status, against the real emulator (moto server).

Faults are injected at the outermost boundary, the HTTP session under botocore (tests/faults.py), after botocore's
own retries (AWS_MAX_ATTEMPTS=1 here, so each injected fault is final for that call).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cryoet_release import batches
from tests.conftest import invoke
from tests.faults import dropped, heal, inject, lost, throttled, when
from tests.portal import client, seed, started_inputs, state_machine_arn
from tests.terminal import on_terminal

DATASETS = [str(n) for n in range(30000, 30012)]
NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")
CHOICE_MACHINE = json.dumps(
    {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.Input.Run.flags", "StringMatches": "*30003*", "Next": "Broken"}],
                "Default": "Done",
            },
            "Broken": {"Type": "Fail", "Error": "ImportError", "Cause": "dataset 30003 is broken"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
)


@pytest.fixture
def portal(aws: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    if "executing" in request.fixturenames:
        request.getfixturevalue("executing")  # moto keeps executing state machines apart: switch on first
    seed()
    s3 = client("s3")
    for dataset in DATASETS:
        s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{dataset}/dataset_metadata.json", Body=b"{}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return aws


def ledger_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cryoet-release" / "batches"


def enqueue(*args: str) -> Any:
    return invoke("--json", "enqueue", "db-import", "--filter-datasets", "300..", "--parallelism", "4", *args)


def executions_per_job() -> Counter[str]:
    sfn = client("stepfunctions")
    names: Counter[str] = Counter()
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn("staging")):
        names.update(execution["name"] for execution in page["executions"])
    return names


def test_ledger_records_every_job(portal: str, tmp_path: Path) -> None:
    result = enqueue("--batch", "first-batch")
    assert result.exit_code == 0, result.output
    ledger = batches.load(ledger_dir(tmp_path), "first-batch")
    assert ledger.counts() == {"planned": 0, "started": len(DATASETS), "failed": 0}
    assert {e.execution_arn for e in ledger.entries.values()} == {
        e["execution_arn"] for e in json.loads(result.stdout)["executions"]
    }
    assert ledger.header.parameters["ecr_tag"] == "main"
    assert "testing" not in ledger.path.read_text()  # the access key never lands in the ledger


def test_throttled_and_dropped_submissions_then_resume(
    portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Counter[str]()

    def first_five_fail(request: Any, body: Any, send: Callable[[], Any]) -> Any:
        calls["n"] += 1
        fault = throttled if calls["n"] <= 3 else dropped if calls["n"] <= 5 else None
        return fault(request, body, send) if fault else send()

    inject(monkeypatch, "StartExecution", first_five_fail)
    result = enqueue("--batch", "faulty", "--parallelism", "1")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    codes = Counter(e["error_code"] for e in report["executions"] if e["status"] == "failed")
    assert codes == {"ThrottlingException": 3, "ConnectionClosedError": 2}
    ledger = batches.load(ledger_dir(tmp_path), "faulty")
    assert ledger.counts() == {"planned": 0, "started": len(DATASETS) - 5, "failed": 5}
    assert "enqueue resume faulty" in result.stderr

    heal(monkeypatch)
    planned = json.loads(invoke("--json", "enqueue", "resume", "faulty", "--dry-run").stdout)
    assert len(planned["to_submit"]) == 5
    assert sum(executions_per_job().values()) == len(DATASETS) - 5  # the dry run submitted nothing
    resumed = invoke("--json", "enqueue", "resume", "faulty")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["submitted"] == 5
    assert batches.load(ledger_dir(tmp_path), "faulty").counts()["started"] == len(DATASETS)
    per_job = executions_per_job()
    assert len(per_job) == len(DATASETS)
    assert set(per_job.values()) == {1}
    print(f"throttle+connection: planned {len(DATASETS)}, in moto {sum(per_job.values())}, duplicates 0")


@pytest.mark.parametrize("closed", [False, True], ids=["still-running", "already-closed"])
def test_a_response_lost_after_the_server_applied_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed: bool, request: pytest.FixtureRequest
) -> None:
    if closed:
        request.getfixturevalue("executing")
    request.getfixturevalue("portal")

    inject(monkeypatch, "StartExecution", when(lambda body: int(body["name"][-2:]) % 3 == 0, lost))
    result = enqueue("--batch", "lossy")
    assert result.exit_code == 1, result.output
    unanswered = [e["name"] for e in json.loads(result.stdout)["executions"] if e["status"] == "failed"]
    assert len(unanswered) == 4
    assert sum(executions_per_job().values()) == len(DATASETS)

    heal(monkeypatch)
    resumed = invoke("--json", "enqueue", "resume", "lossy")
    assert resumed.exit_code == 0, resumed.output
    recorded = {e["name"]: e["execution_arn"] for e in json.loads(resumed.stdout)["executions"]}
    assert set(recorded) == set(unanswered)
    per_job = executions_per_job()
    assert set(per_job.values()) == {1}
    assert len(per_job) == len(DATASETS)
    ledger = batches.load(ledger_dir(tmp_path), "lossy")
    assert all(ledger.entries[name].execution_arn == arn for name, arn in recorded.items())


def test_kill_9_mid_batch_then_resume(portal: str, tmp_path: Path) -> None:
    many = [str(n) for n in range(31000, 31060)]
    s3 = client("s3")
    for dataset in many:
        s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{dataset}/dataset_metadata.json", Body=b"{}")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "enqueue", "db-import", "--batch", "killed",
         "--filter-datasets", "310..", "--parallelism", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    path = ledger_dir(tmp_path) / "killed.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().count('"type":"started"') >= 10:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the enqueue did not get 10 jobs in within 60 s")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    ledger = batches.load(ledger_dir(tmp_path), "killed")  # parses, even if cut mid-line
    assert 10 <= ledger.counts()["started"] < len(many)

    resumed = invoke("--json", "enqueue", "resume", "killed")
    assert resumed.exit_code == 0, resumed.output
    per_job = executions_per_job()
    assert len(per_job) == len(many)
    assert set(per_job.values()) == {1}
    assert batches.load(ledger_dir(tmp_path), "killed").counts()["started"] == len(many)
    print(f"kill -9: planned {len(many)}, in moto {sum(per_job.values())}, duplicates 0")


def test_two_resumes_of_one_batch_one_refuses(portal: str, tmp_path: Path) -> None:
    assert enqueue("--batch", "shared").exit_code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from cryoet_release.batches import locked\n"
         "with locked(Path(sys.argv[1]), 'shared'):\n    print('held', flush=True); time.sleep(30)",
         str(ledger_dir(tmp_path))],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        result = invoke("enqueue", "resume", "shared")
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert result.exit_code == 1
    assert f"batch 'shared' is being submitted by process {holder.pid}" in result.stderr


def test_status_counts_match_moto(executing: None, portal: str, tmp_path: Path) -> None:
    client("stepfunctions").update_state_machine(
        stateMachineArn=state_machine_arn("staging"), definition=CHOICE_MACHINE
    )
    assert enqueue("--batch", "watched").exit_code == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = Counter(
            e["status"]
            for e in client("stepfunctions").list_executions(stateMachineArn=state_machine_arn("staging"))["executions"]
        )
        if "RUNNING" not in statuses:
            break
        time.sleep(0.2)
    result = invoke("--json", "status", "--latest", "--watch", "--interval", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["closed"] is True
    assert {k: v for k, v in report["counts"].items() if v} == dict(statuses)
    assert statuses == {"SUCCEEDED": len(DATASETS) - 1, "FAILED": 1}
    (failed,) = [e for e in report["executions"] if e["state"] == "FAILED"]
    assert failed["key"] == "30003"
    assert failed["error"] == "ImportError"
    assert failed["cause"] == "dataset 30003 is broken"
    assert failed["console_url"] == (
        "https://us-west-2.console.aws.amazon.com/states/home?region=us-west-2#/v2/executions/details/"
        + failed["execution_arn"]
    )
    human = invoke("status", "watched")
    assert human.exit_code == 0
    assert "ImportError" in human.stdout
    assert "30003" in human.stdout


def test_status_of_jobs_never_started(portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inject(monkeypatch, "StartExecution", dropped)
    assert enqueue("--batch", "nothing").exit_code == 1
    heal(monkeypatch)
    report = json.loads(invoke("--json", "status", "nothing").stdout)
    assert report["counts"]["NOT_STARTED"] == len(DATASETS)
    assert started_inputs() == {}


def test_dry_run_writes_no_ledger_and_unknown_batches_are_exit_2(portal: str, tmp_path: Path) -> None:
    assert enqueue("--dry-run", "--batch", "dry").exit_code == 0
    assert not (ledger_dir(tmp_path) / "dry.jsonl").exists()
    result = invoke("enqueue", "resume", "dry")
    assert result.exit_code == 2
    assert f"no batch 'dry' in {ledger_dir(tmp_path)}" in result.stderr


def test_no_batches_yet_is_one_line_not_an_empty_table(tmp_path: Path) -> None:
    listed = invoke("batches")
    assert (listed.exit_code, listed.stdout) == (0, "")
    assert listed.stderr == f"no batches in {ledger_dir(tmp_path)}\n"
    assert json.loads(invoke("--json", "batches").stdout)["batches"] == []


def test_a_batch_name_is_used_once_and_batches_lists_newest_first(portal: str, tmp_path: Path) -> None:
    assert enqueue("--batch", "aaa-older", "--include-dataset", "30000").exit_code == 0
    time.sleep(1.1)
    assert enqueue("--batch", "zzz-newer", "--include-dataset", "30001").exit_code == 0
    again = enqueue("--batch", "aaa-older", "--include-dataset", "30000")
    assert again.exit_code == 2
    assert "enqueue resume aaa-older" in again.stderr
    listed = json.loads(invoke("--json", "batches").stdout)["batches"]
    assert [b["batch"] for b in listed] == ["zzz-newer", "aaa-older"]
    assert listed[0]["started"] == 1
    assert enqueue("--batch", "bad name!").exit_code == 2


def validate_ids(count: int) -> list[str]:
    """`count` dataset ids, each seeded as a dataset (validate queues only those that are)."""
    from concurrent.futures import ThreadPoolExecutor

    ids = [str(40000 + n) for n in range(count)]
    s3 = client("s3")
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda d: s3.put_object(Bucket="cryoet-data-portal-staging", Key=f"{d}/dataset_metadata.json"), ids
            )
        )
    return ids


def child_enqueue(tmp_path: Path, batch: str, *, file_size_limit: int | None = None) -> subprocess.Popen[str]:
    """A 100-job `enqueue validate` in a child process; with a real file-size limit (RLIMIT_FSIZE) if given."""
    limit = (
        f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size_limit}, {file_size_limit}))\n"
        if file_size_limit
        else ""
    )
    code = f"{limit}import sys; from cryoet_release.cli import main; main(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, "enqueue", "validate", *validate_ids(100), "--batch", batch, "--parallelism", "8"],
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_ledger_that_cannot_be_written_whole_submits_nothing(portal: str, tmp_path: Path) -> None:
    """`ulimit -f 40`: the plan (about 100 KB) cannot be written. Nothing is submitted and nothing is left, so
    the same command runs whole afterwards."""
    process = child_enqueue(tmp_path, "limited", file_size_limit=40 * 1024)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "cannot write the ledger" in stderr
    assert "nothing was submitted" in stderr
    assert "Traceback" not in stderr
    assert executions_per_job() == Counter()
    assert sorted(p.name for p in ledger_dir(tmp_path).iterdir()) == ["limited.lock"]  # no ledger, no temporary

    again = invoke("--json", "enqueue", "validate", *validate_ids(100), "--batch", "limited")
    assert again.exit_code == 0, again.output
    assert len(executions_per_job()) == 100
    print("ulimit -f 40: planned 100, in moto 0 after the crash; 100 after the re-run, duplicates 0")


def test_kill_9_while_the_plan_is_written_leaves_it_whole_or_absent(portal: str, tmp_path: Path) -> None:
    process = child_enqueue(tmp_path, "early")
    folder = ledger_dir(tmp_path)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not (folder.is_dir() and any(folder.glob("*early.jsonl*"))):
            time.sleep(0.001)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    if (folder / "early.jsonl").exists():  # the rename happened: the plan is whole, submissions may have begun
        assert len(batches.load(folder, "early").entries) == 100
        assert invoke("enqueue", "resume", "early").exit_code == 0
    else:  # killed before the rename: nothing was submitted, and the same command runs whole
        assert executions_per_job() == Counter()
        assert invoke("enqueue", "validate", *validate_ids(100), "--batch", "early").exit_code == 0
    per_job = executions_per_job()
    assert len(per_job) == 100
    assert set(per_job.values()) == {1}


def test_resume_after_a_cut_last_line_repairs_the_ledger(
    portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash cut the last line; resume appends after the repaired tail, and the ledger stays readable."""

    inject(monkeypatch, "StartExecution", when(lambda body: body["name"].endswith(("30001", "30002")), dropped))
    assert enqueue("--batch", "cut").exit_code == 1
    heal(monkeypatch)
    path = ledger_dir(tmp_path) / "cut.jsonl"
    with path.open("a") as file:
        file.write('{"type":"started","name":"cut-db-imp')  # a crash in the middle of a line
    resumed = invoke("--json", "enqueue", "resume", "cut")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["started"] == 2
    ledger = batches.load(ledger_dir(tmp_path), "cut")
    assert not ledger.truncated_tail
    assert ledger.counts()["started"] == len(DATASETS)
    status = invoke("--json", "status", "cut")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["counts"]["RUNNING"] == len(DATASETS)


def test_a_throttled_lookup_while_adopting_fails_that_job_only(
    executing: None, portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The executions exist (and close at once), and two answers are lost.
    inject(monkeypatch, "StartExecution", when(lambda body: body["name"].endswith(("30001", "30002")), lost))
    assert enqueue("--batch", "adopt").exit_code == 1
    heal(monkeypatch)

    lookups = Counter[str]()

    def throttle_the_first(request: Any, body: Any, send: Callable[[], Any]) -> Any:
        lookups["n"] += 1
        return throttled(request, body, send) if lookups["n"] == 1 else send()

    inject(monkeypatch, "DescribeExecution", throttle_the_first)
    resumed = invoke("--json", "enqueue", "resume", "adopt")
    assert resumed.exit_code == 1, resumed.output  # one job failed; not the whole resume (exit 3)
    report = json.loads(resumed.stdout)
    assert Counter(e["status"] for e in report["executions"]) == {"started": 1, "failed": 1}
    assert [e["error_code"] for e in report["executions"] if e["status"] == "failed"] == ["ThrottlingException"]
    heal(monkeypatch)
    assert invoke("enqueue", "resume", "adopt").exit_code == 0
    assert set(executions_per_job().values()) == {1}


def test_resuming_a_prod_batch_asks_first(portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inject(monkeypatch, "StartExecution", when(lambda body: body["name"].endswith("30001"), dropped))
    prod = ("--environment", "prod", "--yes", "--s3-bucket", "cryoet-data-portal-staging")
    assert enqueue("--batch", "prod-b", *prod).exit_code == 1
    heal(monkeypatch)
    refused = invoke("enqueue", "resume", "prod-b")  # off a terminal, without --yes
    assert refused.exit_code == 2
    assert "pass --yes" in refused.stderr
    assert len(started_inputs("prod")) == len(DATASETS) - 1
    assert invoke("enqueue", "resume", "prod-b", "--yes").exit_code == 0
    assert len(started_inputs("prod")) == len(DATASETS)


def interrupt_at(tmp_path: Path, batch: str, started: int) -> tuple[int, str]:
    """A 600-job enqueue on a real pseudo-terminal, and Ctrl-C (SIGINT to its process group) once the ledger
    holds `started` started jobs; returns the exit code and what the terminal showed."""
    path = ledger_dir(tmp_path) / f"{batch}.jsonl"
    return on_terminal(
        ["enqueue", "validate", *validate_ids(600), "--batch", batch],
        columns=200,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
        interrupt_when=lambda _: path.exists() and path.read_text().count('"type":"started"') >= started,
    )


@pytest.mark.parametrize("at", [50, 500])  # early and late: the same machinery between
def test_ctrl_c_stops_submitting_and_resume_completes_exactly_once(portal: str, tmp_path: Path, at: int) -> None:
    batch = f"ctrl-c-{at}"
    code, terminal = interrupt_at(tmp_path, batch, at)
    assert code == 130, terminal
    summary = re.search(r"interrupted: (\d+) of this run's 600 jobs started", terminal)
    assert summary is not None, terminal
    in_emulator = executions_per_job()
    ledger = batches.load(ledger_dir(tmp_path), batch)
    assert sum(in_emulator.values()) == ledger.counts()["started"] == int(summary.group(1))
    assert at <= ledger.counts()["started"] < 600
    assert f"cryoet-release enqueue resume {batch}" in terminal
    time.sleep(1)
    assert executions_per_job() == in_emulator  # nothing was sent after the summary
    print(f"Ctrl-C at {at}: started {ledger.counts()['started']} (emulator = ledger = summary)")

    resumed = invoke("--json", "enqueue", "resume", batch)
    assert resumed.exit_code == 0, resumed.output
    per_job = executions_per_job()
    assert len(per_job) == 600
    assert set(per_job.values()) == {1}


def wait_until_closed() -> Counter[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = client("stepfunctions").list_executions(stateMachineArn=state_machine_arn("staging"))
        statuses = Counter(e["status"] for e in page["executions"])
        if "RUNNING" not in statuses:
            return statuses
        time.sleep(0.2)
    pytest.fail("executions still running after 30 s")


def test_retry_redoes_only_what_failed_and_status_shows_the_latest_attempt(
    executing: None, portal: str, tmp_path: Path
) -> None:
    client("stepfunctions").update_state_machine(
        stateMachineArn=state_machine_arn("staging"), definition=CHOICE_MACHINE
    )
    assert enqueue("--batch", "flaky").exit_code == 0
    assert wait_until_closed() == {"SUCCEEDED": len(DATASETS) - 1, "FAILED": 1}

    status = invoke("status", "flaky", "--exit-status")
    assert status.exit_code == 1
    assert status.stderr.splitlines()[-1] == "Retry them with: cryoet-release enqueue retry flaky"
    assert "cryoet-release enqueue retry flaky" in invoke("status", "flaky").stderr  # exit 0, and still said

    planned = json.loads(invoke("--json", "enqueue", "retry", "flaky", "--dry-run").stdout)["attempts"]
    assert [(a["key"], a["name"].endswith("-r1")) for a in planned] == [("30003", True)]
    assert invoke("enqueue", "retry", "flaky").exit_code == 0
    per_job = executions_per_job()
    assert len(per_job) == len(DATASETS) + 1  # one new execution, for the failed job only
    (new,) = [name for name in per_job if name.endswith("-r1")]
    assert NAME.fullmatch(new)
    assert wait_until_closed() == {"SUCCEEDED": len(DATASETS) - 1, "FAILED": 2}  # it fails again

    report = json.loads(invoke("--json", "status", "flaky").stdout)
    latest = next(e for e in report["executions"] if e["key"] == "30003")
    assert (latest["name"], latest["attempt"], latest["state"]) == (new, 1, "FAILED")
    assert latest["attempts"] == [new.removesuffix("-r1"), new]
    assert sum(report["counts"].values()) == len(DATASETS)
    (listed,) = json.loads(invoke("--json", "batches").stdout)["batches"]
    assert (listed["jobs"], listed["attempts"], listed["started"]) == (len(DATASETS), len(DATASETS) + 1, len(DATASETS))
    again = json.loads(invoke("--json", "enqueue", "retry", "flaky", "--dry-run").stdout)["attempts"]
    assert [a["name"] for a in again] == [f"{new.removesuffix('-r1')}-r2"]
    assert len(executions_per_job()) == len(DATASETS) + 1  # dry runs submit nothing


def test_the_commands_a_batch_suggests_name_its_ledger_folder(
    portal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Followed as printed, a hint goes on with this batch, not with one of the same name in the default folder."""
    elsewhere = tmp_path / "my ledgers"
    inject(monkeypatch, "StartExecution", when(lambda body: body["name"].endswith("30001"), dropped))
    first = enqueue("--batch", "here", "--ledger-dir", str(elsewhere))
    assert first.exit_code == 1
    hint = f"cryoet-release enqueue resume here --ledger-dir '{elsewhere}'"
    assert first.stderr.splitlines()[-1] == f"Retry exactly those with: {hint}"
    again = enqueue("--batch", "here", "--ledger-dir", str(elsewhere))
    assert (again.exit_code, again.stderr.splitlines()[-1]) == (2, hint)
    heal(monkeypatch)
    assert invoke("enqueue", "resume", "here", "--ledger-dir", str(elsewhere)).exit_code == 0


def test_retry_with_nothing_failed_says_so_and_is_one_document(executing: None, portal: str) -> None:
    assert enqueue("--batch", "fine").exit_code == 0
    assert wait_until_closed() == {"SUCCEEDED": len(DATASETS)}
    said = invoke("enqueue", "retry", "fine")
    assert (said.exit_code, said.stderr) == (0, "batch fine: no job's latest attempt failed; nothing to retry\n")
    document = json.loads(invoke("--json", "enqueue", "retry", "fine").stdout)
    assert (document["batch"], document["jobs"], document["submitted"]) == ("fine", len(DATASETS), 0)
    assert len(executions_per_job()) == len(DATASETS)


def test_an_execution_of_the_same_name_with_another_input_is_never_taken_for_this_batchs(
    portal: str, tmp_path: Path
) -> None:
    """Another person's batch of the same name (or a reused --batch in another ledger folder) holds the execution
    names: the jobs are refused naming that execution, never recorded as started, never shown as this batch's."""
    elsewhere = tmp_path / "someone-elses-ledgers"
    theirs = invoke(
        "--json", "enqueue", "db-import", "--include-dataset", "30000", "--batch", "same-name", "--ledger-dir",
        str(elsewhere),
    )  # fmt: skip
    assert theirs.exit_code == 0, theirs.output
    (their_execution,) = json.loads(theirs.stdout)["executions"]

    mine = enqueue("--batch", "same-name", "--include-dataset", "30000", "--no-debug")  # another input
    assert mine.exit_code == 1, mine.output
    (refused,) = json.loads(mine.stdout)["executions"]
    assert refused["status"] == "failed"
    assert refused["error_code"] == "ExecutionNameTaken"
    assert f"execution {their_execution['execution_arn']} (started " in refused["error"]
    assert "has this job's name but another input" in refused["error"]
    assert batches.load(ledger_dir(tmp_path), "same-name").counts() == {"planned": 0, "started": 0, "failed": 1}

    status = json.loads(invoke("--json", "status", "same-name").stdout)
    assert status["counts"]["NOT_STARTED"] == 1  # not their RUNNING execution
    assert status["executions"][0]["execution_arn"] is None
    assert mine.stderr.splitlines()[-1] == "Enqueue again with another --batch"  # resume would meet the same name
    assert invoke("enqueue", "resume", "same-name").exit_code == 1  # refused again, never adopted
    assert executions_per_job() == Counter({their_execution["name"]: 1})
