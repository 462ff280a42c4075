"""Plugin discovery with real distributions: dist-info folders on sys.path, found by importlib.metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cryoet_release.cli import main
from cryoet_release.plugins import GROUP, discover, load_plugins
from tests.conftest import invoke

HELLO = textwrap.dedent(
    '''
    import typer

    app = typer.Typer(help="Say hello from a third party.")

    @app.command()
    def greet(name: str = "portal") -> None:
        """Greet someone."""
        typer.echo(f"hello {name} from MODULE")
    '''
)


def make_distribution(root: Path, name: str, version: str, plugins: dict[str, str]) -> None:
    """A distribution as pip would install it: a module plus a dist-info with entry_points.txt.

    `plugins` maps entry-point name -> module source; each module is named after the distribution.
    """
    module = name.replace("-", "_")
    lines = [f"[{GROUP}]"]
    for index, (entry, source) in enumerate(plugins.items()):
        (root / f"{module}{index}.py").write_text(source.replace("MODULE", f"{module}{index}"))
        lines.append(f"{entry} = {module}{index}:app")
    info = root / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *distributions: tuple[str, dict[str, str]]) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    for name, plugins in distributions:
        make_distribution(site, name, "1.2.3", plugins)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_third_party_plugin_shows_in_help_runs_and_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    third_party(tmp_path, monkeypatch, ("portal-hello", {"hello": HELLO}))

    help_text = invoke("--help").stdout
    assert "hello" in help_text
    assert "Say hello from a third party." in help_text

    result = invoke("hello", "greet", "--name", "ada")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "hello ada from portal_hello0"

    listed = json.loads(invoke("--json", "plugins").stdout)["plugins"]
    hello = next(p for p in listed if p["name"] == "hello")
    assert hello == {
        "group": "cryoet_release.plugins",
        "name": "hello",
        "distribution": "portal-hello",
        "version": "1.2.3",
        "module": "portal_hello0:app",
        "status": "loaded",
        "reason": None,
    }


def test_broken_plugins_are_isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    third_party(
        tmp_path,
        monkeypatch,
        ("portal-hello", {"hello": HELLO}),
        ("broken-import", {"crashy": "import not_a_module_anywhere\n"}),
        ("not-typer", {"plain": "app = 42\n"}),
    )
    result = invoke("hello", "greet")
    assert result.exit_code == 0, result.output
    warnings = capsys.readouterr().err
    assert "plugin 'crashy' from broken-import 1.2.3 (broken_import0:app) failed to load: ModuleNotFoundError" in (
        " ".join(warnings.split())
    )
    assert "plugin 'plain' from not-typer 1.2.3" in warnings
    assert "is a int, not a typer.Typer" in " ".join(warnings.split())

    listed = {p["name"]: p for p in json.loads(invoke("--json", "plugins").stdout)["plugins"]}
    assert listed["crashy"]["status"] == "failed"
    assert "not_a_module_anywhere" in listed["crashy"]["reason"]
    assert listed["plain"]["status"] == "failed"
    assert listed["hello"]["status"] == "loaded"
    assert "crashy" not in invoke("--help").stdout


def test_strict_mode_turns_a_broken_plugin_into_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    third_party(tmp_path, monkeypatch, ("broken-import", {"crashy": "raise RuntimeError('boom at import')\n"}))
    monkeypatch.setenv("CRYOET_RELEASE_STRICT_PLUGINS", "1")
    with pytest.raises(SystemExit) as caught:
        main(["plugins"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "RuntimeError: boom at import" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as caught:
        main(["plugins", "--json"])
    assert caught.value.code == 2
    document = json.loads(capsys.readouterr().out)  # one document on stdout, as every --json error
    assert "boom at import" in document["error"]["message"]


def test_same_name_twice_has_a_deterministic_winner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    third_party(tmp_path, monkeypatch, ("zeta-tools", {"hello": HELLO}), ("alpha-tools", {"hello": HELLO}))
    both = sorted(str(ep.distribution) for ep in discover() if ep.name == "hello")
    assert both == ["alpha-tools", "zeta-tools"]  # the clash is real: two installed plugins claim the name
    forward = load_plugins([ep for ep in discover() if ep.name == "hello"])
    reverse = load_plugins(list(reversed([ep for ep in discover() if ep.name == "hello"])))
    for plugins in (forward, reverse):
        by_dist = {p.distribution: p for p in plugins}
        assert by_dist["alpha-tools"].status == "loaded"
        assert by_dist["zeta-tools"].status == "shadowed"
        assert "alpha-tools 1.2.3" in str(by_dist["zeta-tools"].reason)


def test_a_plugin_cannot_replace_a_core_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    third_party(tmp_path, monkeypatch, ("squatter", {"plugins": HELLO}))
    listed = json.loads(invoke("--json", "plugins").stdout)["plugins"]
    squatter = next(p for p in listed if p["distribution"] == "squatter")
    assert squatter["status"] == "shadowed"
    assert squatter["reason"] == "name already used by a built-in command"


def test_injected_entry_points_decide_exactly_which_plugins_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    third_party(tmp_path, monkeypatch, ("portal-hello", {"hello": HELLO}))
    assert "hello" not in invoke("--help", entry_points=[]).stdout
    only = [ep for ep in discover() if ep.name == "hello"]
    assert json.loads(invoke("--json", "plugins", entry_points=only).stdout)["plugins"][0]["name"] == "hello"


def test_a_pip_style_plugin_works_through_the_real_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = third_party(tmp_path, monkeypatch, ("portal-hello", {"hello": HELLO}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    run = subprocess.run(
        [sys.executable, "-m", "cryoet_release", "hello", "greet", "--name", "sub"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello sub from portal_hello0"


def test_the_cache_of_entry_points_follows_what_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = {item.name for item in discover()}
    assert "hello" not in before
    assert {item.name for item in discover()} == before  # read back from the cache
    make_distribution(site, "portal-hello", "1.2.3", {"hello": HELLO})  # installed after the cache was written
    assert "hello" in {item.name for item in discover()}


def test_a_cached_run_reads_no_distribution_metadata(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    argv = [sys.executable, "-X", "importtime", "-m", "cryoet_release", "--help"]
    runs = [subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=60) for _ in range(2)]
    assert "importlib.metadata" in runs[0].stderr  # the first run fills the cache
    assert "importlib.metadata" not in runs[1].stderr
    assert runs[0].stdout == runs[1].stdout
