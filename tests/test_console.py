"""Output: one JSON document under --json, diagnostics on stderr only, values never taken for markup."""

from __future__ import annotations

import io
import json
import sys

import pytest

from cryoet_release.console import Output


def test_json_mode_prints_the_document_and_not_the_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    output = Output(json_mode=True)
    output.result({"a": 1}, lambda: print("table"))
    output.error("late", 3)  # a result was printed already: no second document
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"a": 1}
    assert captured.err == "error: late\n"


def test_an_error_under_json_is_the_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    Output(json_mode=True).error("no such bucket", 3, "create it")
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": {"message": "no such bucket", "hint": "create it", "exit_code": 3}}
    assert captured.err == "error: no such bucket\ncreate it\n"


def test_without_json_only_the_rendering_reaches_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    output = Output()
    output.result({"a": 1}, lambda: output.table(["batch"], [["[/x] [bold]b[/]"]]))
    output.warn("careful with [/x]")
    output.info("plain [red]text[/]")
    captured = capsys.readouterr()
    assert "[/x] [bold]b[/]" in captured.out  # a value is data, never markup (and never a MarkupError)
    assert captured.err == "warning: careful with [/x]\nplain [red]text[/]\n"


def test_a_closed_stderr_never_sends_diagnostics_to_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", None)  # what Python makes of `2>&-`
    monkeypatch.setattr(sys, "stdout", out)
    output = Output(json_mode=True)
    output.info("progress")
    output.error("failed", 1)
    assert json.loads(out.getvalue()) == {"error": {"message": "failed", "hint": None, "exit_code": 1}}


def test_a_closed_stdout_under_json_is_no_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    Output(json_mode=True).result({"a": 1}, lambda: None)


ARN = "arn:aws:states:us-west-2:123456789012:execution:cryoet-ingestion-staging-default-wdl:" + "b" * 70
DIGEST = "sha256:" + "e" * 64
URL = "https://us-west-2.console.aws.amazon.com/states/home?region=us-west-2#/v2/executions/details/" + ARN


def test_piped_output_prints_every_identifier_whole_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    Output().table(["batch", "digest", "execution", "console"], [["day1-kinesin-rerun", DIGEST, ARN, URL]])
    out = capsys.readouterr().out
    for identifier in ("day1-kinesin-rerun", DIGEST, ARN, URL):
        assert identifier in out.splitlines()[-2]  # the row: one line, every cell whole
    assert "…" not in out


def test_a_narrow_terminal_gets_a_block_per_row_with_every_identifier_whole() -> None:
    from rich.console import Console

    from cryoet_release.console import fitted

    console = Console(width=80, force_terminal=True, record=True, file=io.StringIO(), soft_wrap=True)
    console.print(fitted(console, ["execution", "digest"], [[ARN, DIGEST]]), soft_wrap=True)
    assert console.export_text() == f"{ARN}\n  digest: {DIGEST}\n"
    wide = Console(width=400, force_terminal=True, record=True, file=io.StringIO())
    wide.print(fitted(wide, ["execution", "digest"], [[ARN, DIGEST]]))
    assert f"│ {ARN} │ {DIGEST} │" in wide.export_text()  # a table where it fits unfolded
