from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryoet_release.config import load_config
from cryoet_release.errors import ConfigError
from tests.conftest import invoke


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ingestion_tools" / "scripts").mkdir(parents=True)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_the_portal_setup(repo: Path) -> None:
    loaded = load_config(cwd=repo, environ={})
    assert loaded.path is None
    assert loaded.root == repo.resolve()
    assert loaded.config.images["ingestor"].repository == "cryoet-staging"
    assert loaded.config.images["apiv2"].repository == "apiv2-x86"
    assert loaded.config.images["apiv2"].platform == "linux/amd64"
    assert loaded.config.protected_tags == ["main"]
    assert loaded.config.environments["prod"].bucket == "cryoet-data-portal-public"
    assert loaded.config.environments["staging"].state_machine_name("staging") == (
        "cryoet-ingestion-staging-default-wdl"
    )
    assert set(loaded.sources.values()) == {"default"}


def test_file_is_found_walking_up_to_the_git_root(repo: Path) -> None:
    config = write(repo / "cryoet-release.toml", '[images.ingestor]\nrepository = "my-ingestor"\n')
    loaded = load_config(cwd=repo / "ingestion_tools" / "scripts", environ={})
    assert loaded.path == config
    assert loaded.config.images["ingestor"].repository == "my-ingestor"
    assert loaded.config.images["ingestor"].context == "ingestion_tools"  # merged with the default
    assert loaded.sources["images.ingestor.repository"] == "file"
    assert loaded.sources["images.ingestor.context"] == "default"


def test_walk_stops_at_the_git_root(repo: Path) -> None:
    write(repo.parent / "cryoet-release.toml", 'protected_tags = ["outside"]\n')
    try:
        loaded = load_config(cwd=repo / "ingestion_tools", environ={})
    finally:
        (repo.parent / "cryoet-release.toml").unlink()
    assert loaded.path is None
    assert loaded.config.protected_tags == ["main"]


def test_precedence_default_file_env_flag(repo: Path) -> None:
    write(repo / "cryoet-release.toml", 'registry = "file.example:5000"\nengine = "docker"\n')
    environ = {"CRYOET_RELEASE_REGISTRY": "env.example:5000"}
    loaded = load_config(cwd=repo, environ=environ, flags={"engine": "podman"})
    assert loaded.config.registry == "env.example:5000"
    assert loaded.sources["registry"] == "env"
    assert loaded.config.engine == "podman"
    assert loaded.sources["engine"] == "flag"


def test_explicit_path_and_env_variable(repo: Path, tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "other.toml", 'protected_tags = ["main", "release"]\n')
    assert load_config(cwd=repo, environ={"CRYOET_RELEASE_CONFIG": str(elsewhere)}).config.protected_tags == [
        "main",
        "release",
    ]
    assert load_config(explicit=elsewhere, cwd=repo, environ={}).path == elsewhere


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bogus = 1\n", "bogus: unknown key"),
        ("[images.ingestor]\nrepo = 'x'\n", "images.ingestor.repo: unknown key"),
        ("protected_tags = 'main'\n", "protected_tags: Input should be a valid list"),
        ("protected_tags = ['.bad']\n", "protected_tags.0: '.bad' is not valid"),
        ("registry_account = '12'\n", "registry_account: '12' is not valid"),
        (
            "engine = 'containerd'\n",
            "engine: 'containerd' is not a registered container engine; registered: docker, podman",
        ),
        ("registry_account = 'abc'\n", "registry_account: 'abc' is not valid: an AWS account id is exactly 12 digits"),
        (
            "[images.ingestor]\nrepository = 'UPPER'\n",
            "images.ingestor.repository: 'UPPER' is not a valid ECR",
        ),
        ("[images.extra]\ncontext = 'x'\n", "images.extra.repository: Field required"),
        ("[environments.dev]\nbucket = 'b'\nhttps_prefix = 'h'\n", "environments.dev.[key]: Input should be"),
        ("[environments.prod]\nbucket = 3\n", "environments.prod.bucket: Input should be a valid string"),
        ("not toml = = =\n", "not valid TOML"),
        ("registry = 'http://127.0.0.1:5000'\n", "registry: 'http://127.0.0.1:5000' is not valid: a registry is host"),
        ("[images.ingestor]\nplatform = 'linux'\n", "images.ingestor.platform: 'linux' is not valid: a platform is"),
    ],
)
def test_every_error_names_the_file_and_the_key(repo: Path, text: str, expected: str) -> None:
    config = write(repo / "cryoet-release.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=repo, environ={})
    assert str(caught.value).startswith(f"{config}: ")
    assert expected in str(caught.value)


def test_bad_env_override_names_the_variable(repo: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable CRYOET_RELEASE_ENGINE: engine: "):
        load_config(cwd=repo, environ={"CRYOET_RELEASE_ENGINE": "lxc"})
    with pytest.raises(ConfigError, match="environment variable CRYOET_RELEASE_REGISTRY: registry: 'http://x:5000'"):
        load_config(cwd=repo, environ={"CRYOET_RELEASE_REGISTRY": "http://x:5000"})
    assert load_config(cwd=repo, environ={"CRYOET_RELEASE_REGISTRY": "127.0.0.1:5000"}).config.registry == (
        "127.0.0.1:5000"
    )


def test_missing_explicit_file(repo: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(explicit=repo / "nope.toml", cwd=repo, environ={})


def test_config_show_reports_values_and_sources(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / "cryoet-release.toml", 'protected_tags = ["main", "prod"]\n')
    monkeypatch.chdir(repo / "ingestion_tools")
    monkeypatch.setenv("CRYOET_RELEASE_ENGINE", "podman")
    result = invoke("--json", "config", "show", entry_points=())
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["file"] == str(repo / "cryoet-release.toml")
    assert document["values"]["protected_tags"] == {"value": ["main", "prod"], "source": "file"}
    assert document["values"]["engine"] == {"value": "podman", "source": "env"}
    assert document["values"]["images.apiv2.repository"] == {"value": "apiv2-x86", "source": "default"}


def test_config_show_writes_values_as_toml_and_says_what_unset_means(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo / "cryoet-release.toml", 'protected_tags = ["main", "prod"]\n')
    monkeypatch.chdir(repo)
    table = invoke("config", "show", entry_points=()).stdout
    rows = {line.split()[1]: line for line in table.splitlines() if line.startswith("│ ")}
    assert '│ ["main", "prod"] ' in rows["protected_tags"]
    assert "(discovered at run time: docker if its daemon answers, else podman)" in rows["engine"]
    swipe = "(discovered at run time: the bucket with swipe-comms and the environment in its name)"
    assert swipe in rows["environments.staging.swipe_comms_bucket"]
    document = json.loads(invoke("--json", "config", "show", entry_points=()).stdout)
    assert document["values"]["compare.scratch"] == {
        "value": None, "source": "default", "unset": "none: compare queue then needs --scratch",
    }  # fmt: skip


def test_config_error_through_the_cli_is_exit_2_without_traceback(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / "cryoet-release.toml", "bogus = true\n")
    monkeypatch.chdir(repo)
    result = invoke("config", "show", entry_points=())
    assert result.exit_code == 2
    assert "cryoet-release.toml: bogus: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
