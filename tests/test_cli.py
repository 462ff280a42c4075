"""The root command: global options anywhere, the error boundary, --json discipline, --version."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.test_plugins import third_party

PROBE = textwrap.dedent(
    """
    import typer
    from cryoet_release.aws import Aws
    from cryoet_release.context import GlobalOptions
    from cryoet_release.errors import ResourceNotFound
    from cryoet_release.models import ImageRef

    app = typer.Typer()

    @app.command()
    def fail(kind: str) -> None:
        if kind == "release":
            raise ResourceNotFound("repository 'x' not found", hint="create it")
        if kind == "validation":
            ImageRef(account="1", region="us-west-2", repository="r1", tag="main")
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "bug":
            secret = "hunter2-local-variable"
            raise ZeroDivisionError("a bug")

    @app.command()
    def whoami(ctx: typer.Context) -> None:
        opts = ctx.ensure_object(GlobalOptions)
        aws = Aws(opts.profile, opts.region)
        opts.output.result({"account": aws.account, "region": aws.region}, lambda: typer.echo(aws.account))
    """
)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    third_party(tmp_path, monkeypatch, ("probe-plugin", {"probe": PROBE}))


@pytest.mark.parametrize(
    "args",
    [
        ["probe", "whoami", "--json", "--region", "eu-west-1"],
        ["probe", "whoami", "--region=eu-west-1", "--json"],
        ["--json", "probe", "whoami", "--region", "eu-west-1"],
        ["probe", "--region", "eu-west-1", "whoami", "--json"],
    ],
)
def test_global_options_are_accepted_anywhere(probe: None, aws: str, args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"account": "123456789012", "region": "eu-west-1"}


def test_release_error_is_one_message_and_its_exit_code(probe: None) -> None:
    result = invoke("probe", "fail", "release")
    assert result.exit_code == 3
    assert result.stderr == "error: repository 'x' not found\ncreate it\n"
    assert result.stdout == ""


def test_validation_error_is_exit_2_naming_the_field(probe: None) -> None:
    result = invoke("probe", "fail", "validation")
    assert result.exit_code == 2
    assert "account: '1' is not valid: an AWS account id is exactly 12 digits" in result.stderr
    assert "Traceback" not in result.stderr


def test_interrupt_is_130(probe: None) -> None:
    assert invoke("probe", "fail", "interrupt").exit_code == 130


def test_unexpected_error_shows_a_traceback_without_locals(probe: None) -> None:
    result = invoke("probe", "fail", "bug")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    # rich's locals panel shows the value's repr (single quotes); the source excerpt shows the line as written.
    assert "'hunter2-local-variable'" not in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == "error: unexpected error: ZeroDivisionError: a bug"


def test_json_errors_are_one_document_on_stdout(probe: None) -> None:
    result = invoke("--json", "probe", "fail", "release")
    assert result.exit_code == 3
    assert json.loads(result.stdout) == {
        "error": {"message": "repository 'x' not found", "hint": "create it", "exit_code": 3}
    }


def test_usage_errors_are_exit_2(probe: None) -> None:
    assert invoke("probe", "fail").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


def test_version_lists_the_plugins(probe: None) -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cryoet-release ")
    assert "  probe: probe-plugin 1.2.3" in lines


def test_aws_foundation_through_a_plugin(probe: None, aws: str) -> None:
    result = invoke("probe", "whoami", "--json", "--region", "eu-west-1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"account": "123456789012", "region": "eu-west-1"}


def test_no_credentials_is_exit_3_with_what_to_do(probe: None, aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = invoke("probe", "whoami")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no AWS credentials found\n")
    assert "aws sso login" in result.stderr


def test_every_summary_is_whole_and_every_option_says_what_it_does() -> None:
    from cryoet_release.cli import build_app, command_tree

    pending = [("", command_tree(build_app()))]
    while pending:
        path, command = pending.pop()
        listing = invoke(*path.split(), "--help").stdout
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        names = command.list_commands(ctx) if hasattr(command, "list_commands") else []
        if names:  # a group: its subcommands, those a plugin makes when used too
            section = listing.split("Commands:", 1)[1]
            assert "..." not in section, f"a summary is cut in `{path} --help`:\n{section}"
            pending += [(f"{path} {name}".strip(), command.get_command(ctx, name)) for name in names]
        undocumented = [p.name for p in command.params if p.param_type_name == "option" and not getattr(p, "help", "")]
        assert not undocumented, f"{path or 'root'}: {undocumented}"


def test_help_is_written_one_way() -> None:
    """Values named in capitals (or the list of choices), defaults as [default: ...], on every option of every
    command, those a plugin makes when used too."""
    from cryoet_release.cli import build_app, command_tree

    pending = [("", command_tree(build_app()))]
    while pending:
        path, command = pending.pop()
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        names = command.list_commands(ctx) if hasattr(command, "list_commands") else []
        pending += [(f"{path} {name}".strip(), command.get_command(ctx, name)) for name in names]
        for param in command.params:
            if param.param_type_name != "option" or param.is_flag:
                continue
            metavar = param.make_metavar(ctx)
            assert re.fullmatch(r"[A-Z][A-Z0-9_=.]*|\[[a-z0-9|-]+\]", metavar), f"{path} {param.opts[0]}: {metavar}"
            assert "(default" not in (param.help or ""), f"{path} {param.opts[0]}: {param.help}"


def test_a_group_alone_prints_its_help() -> None:
    for path in ([], ["enqueue"], ["compare"]):
        result = invoke(*path)
        assert (result.exit_code, result.stderr) == (0, ""), result.output
        assert result.stdout.startswith(f"Usage: cryoet-release {' '.join([*path, ''])}[OPTIONS] COMMAND [ARGS]...")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["stauts"], "error: No such command 'stauts'. Did you mean 'status'?"),
        (["enqueue", "db-imprt"], "error: No such command 'db-imprt'. Did you mean 'db-import'?"),
        (["no-such-thing"], "error: No such command 'no-such-thing'."),
        (["status", "--wach"], "error: No such option: --wach. Did you mean --watch?"),
        (
            ["enqueue", "db-import", "--includ-dataset", "1"],
            "error: No such option: --includ-dataset. Did you mean --include-dataset?",
        ),
        (
            ["enqueue", "queue", "c.yaml", "b", "o", "--filter-run", "x"],
            "error: No such option: --filter-run. Did you mean --filter-run-name?",
        ),
    ],
    ids=["command", "kind", "nothing-near", "option", "not-the-opposite", "prefix"],
)
def test_a_misspelling_suggests_the_near_name_only(args: list[str], says: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == says
