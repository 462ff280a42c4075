"""Output as a person meets it: a real terminal of 60 and 80 columns, Ctrl-C during a watch, a pipe, a file.

Against the real emulator (moto server). Its executions stay RUNNING unless the test stops them or lets moto run
its state machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.portal import client, seed, state_machine_arn
from tests.terminal import on_terminal

BATCH = "20261201T161745Z-2b4355"  # as long as a batch id gets


def failing_machine() -> None:
    """Every job fails at once, with an error and a cause."""
    definition = {"StartAt": "Broken", "States": {"Broken": {"Type": "Fail", "Error": "Import", "Cause": "no runs"}}}
    client("stepfunctions").update_state_machine(
        stateMachineArn=state_machine_arn("staging"), definition=json.dumps(definition)
    )


def arn(name: str) -> str:
    return f"{state_machine_arn('staging').replace(':stateMachine:', ':execution:')}:{name}"


@pytest.mark.parametrize("columns", [60, 80])
def test_identifiers_are_whole_on_one_line_at_any_width(executing: None, tmp_path: Path, columns: int) -> None:
    seed()
    failing_machine()
    assert invoke("enqueue", "validate", "10000", "10001", "--batch", BATCH).exit_code == 0
    time.sleep(1)
    code, status = on_terminal(["status", BATCH], columns=columns)
    assert code == 0, status
    names = [f"{BATCH}-validate-10000", f"{BATCH}-validate-10001"]
    urls = [
        f"https://us-west-2.console.aws.amazon.com/states/home?region=us-west-2#/v2/executions/details/{arn(name)}"
        for name in names
    ]
    lines = status.splitlines()
    for identifier in (BATCH, *names, *urls):
        assert any(identifier in line for line in lines), f"{identifier} is not whole on a line:\n{status}"
    # The rows are blocks, as gh prints them on a narrow terminal: no table whose cells fold.
    assert (
        f"\n{names[0]}\n  job: 10000\n  state: FAILED\n  error: Import\n  cause: no runs\n  console: {urls[0]}\n"
        in status
    )
    assert "│ F │" not in status
    assert "FAILE\n" not in status

    code, listed = on_terminal(["batches"], columns=columns)
    assert code == 0, listed
    assert any(BATCH in line for line in listed.splitlines()), listed
    assert "warning" not in listed  # status's record of final states, beside the ledger, is not a batch
    assert f"\n{BATCH}\n  created: " in listed  # a block per batch: its id on a line of its own


@pytest.mark.parametrize(("exit_status", "code"), [(True, 130), (False, 0)])
def test_ctrl_c_during_a_watch(aws: str, exit_status: bool, code: int) -> None:
    """With --exit-status a script must not read an interrupted watch as success: 130. Without it, 0."""
    seed()
    assert invoke("enqueue", "validate", "10000", "10001", "--batch", "watched").exit_code == 0
    args = ["status", "watched", "--watch", "--interval", "1", *(["--exit-status"] if exit_status else [])]
    returned, shown = on_terminal(args, columns=100, interrupt_when=lambda text: "RUNNING 2" in text)
    assert returned == code, shown
    if exit_status:
        assert "error: interrupted: 2 jobs still running" in shown


def test_a_piped_watch_says_each_change_as_it_happens(aws: str) -> None:
    seed()
    assert invoke("enqueue", "validate", "10000", "10001", "--batch", "piped").exit_code == 0
    watch = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "status", "piped", "--watch", "--interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watch.stderr is not None
    lines = [watch.stderr.readline()]  # the first reading, at once
    sfn = client("stepfunctions")
    for name in ("piped-validate-10000", "piped-validate-10001"):
        sfn.stop_execution(executionArn=arn(name))
        lines.append(watch.stderr.readline())  # each change, when it happens
    out, rest = watch.communicate(timeout=60)
    assert watch.returncode == 0, rest
    said = [line.split(" ", 1)[1].rstrip("\n") for line in lines]
    assert said == [
        "batch piped: RUNNING 2 (2 jobs)",
        "batch piped: RUNNING 1, ABORTED 1 (2 jobs)",
        "batch piped: ABORTED 2 (2 jobs)",
    ]
    assert "ABORTED 2" in out


def test_verbose_to_a_file_is_lines_as_long_as_their_message(aws: str, tmp_path: Path) -> None:
    seed()
    assert invoke("enqueue", "validate", "10000", "--batch", "logged").exit_code == 0
    with (tmp_path / "v.err").open("w") as log:
        subprocess.run(
            [sys.executable, "-m", "cryoet_release", "-v", "status", "logged"],
            stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "COLUMNS": "80"}, check=True, timeout=60,
        )  # fmt: skip
    lines = (tmp_path / "v.err").read_text().splitlines()
    assert any(line.startswith("DEBUG ") for line in lines), lines
    assert all(line == line.rstrip() for line in lines)  # never padded to a width
    assert max(len(line) for line in lines) < 400
