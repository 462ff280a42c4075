"""GlobalOptions: what the root options say, updated by the same options given after a command name; and Process,
what the tool sees of the process, read once and passed in."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from cryoet_release.context import GlobalOptions, Process


def test_options_given_later_update_what_the_root_set() -> None:
    options = GlobalOptions(profile="a", region="us-east-1", process=Process(environ={}))
    output = options.output
    options.update(region="eu-west-1", json_output=True, verbose=True, config=Path("x.toml"))
    assert (options.profile, options.region, options.config_path) == ("a", "eu-west-1", Path("x.toml"))
    assert options.json
    assert output.json_mode  # the output already handed out switches too
    assert logging.getLogger("cryoet_release").level == logging.DEBUG
    options.update()  # options not given change nothing
    assert (options.profile, options.region, options.json) == ("a", "eu-west-1", True)


def test_config_is_loaded_once_per_set_of_flags_from_the_environment_given(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('engine = "podman"\n')
    options = GlobalOptions(process=Process(environ={"CRYOET_RELEASE_CONFIG": str(tmp_path / "c.toml")}, cwd=tmp_path))
    first = options.config()
    assert first is options.config()
    assert first.config.engine == "podman"
    assert options.config(engine="docker").config.engine == "docker"
    assert options.config(engine=None) is first


def test_sessions_get_the_profile_the_region_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    options = GlobalOptions(profile=None, region=None, process=Process(environ={"AWS_REGION": "ap-south-1"}))
    assert options.aws(max_pool_connections=7).region == "ap-south-1"
    assert options.aws(region="eu-north-1").region == "eu-north-1"
    assert options.aws(max_pool_connections=7).max_pool_connections == 7


@pytest.mark.parametrize(
    ("typed", "answer"),
    [("y\n", True), ("YES\n", True), ("n\n", False), ("\n", False), ("", False)],
    ids=["y", "YES", "n", "enter", "end-of-input"],
)
def test_a_question_reads_the_answer_from_the_process_stdin(typed: str, answer: bool) -> None:
    stdin, stderr = io.StringIO(typed), io.StringIO()
    options = GlobalOptions(process=Process(stdin=stdin, stderr=stderr, stdin_is_terminal=True))
    assert options.process.interactive
    assert options.confirm("Submit?") is answer
    assert stderr.getvalue().startswith("Submit? [y/N]: ")
    assert stderr.getvalue().endswith("\n")  # the next message starts a line of its own


def test_the_working_folder_is_the_one_given(tmp_path: Path) -> None:
    """The config is searched from the process's working folder, as handed in, not from os.getcwd()."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "cryoet-release.toml").write_text('engine = "podman"\n')
    options = GlobalOptions(process=Process(environ={}, cwd=tmp_path))
    assert options.config().path == tmp_path / "cryoet-release.toml"
