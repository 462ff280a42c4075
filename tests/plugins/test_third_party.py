"""A third party's enqueue kind and container engine, each one module in a package installed with pip: the tool finds
them through their entry-point groups and gives them everything the first-party ones have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.components import require
from tests.conftest import invoke
from tests.packages import build_wheel, pip_install
from tests.portal import seed, started_inputs

REINDEX = textwrap.dedent(
    '''
    """`enqueue reindex`: reindex datasets in the portal's search, one job per dataset folder."""

    from __future__ import annotations

    from dataclasses import dataclass
    from typing import Annotated, ClassVar

    import typer

    from cryoet_release.kinds import JobSpec, Kind, Planning


    @dataclass(frozen=True)
    class Reindex(Kind):
        """Reindex datasets in the portal's search. One job per dataset."""

        name: ClassVar[str] = "reindex"
        wdl_key: ClassVar[str] = "reindex-v1.wdl"
        memory: ClassVar[int] = 2000

        dataset_ids: Annotated[list[str], typer.Argument(metavar="DATASET_ID...", help="Datasets to reindex.")]
        full: Annotated[bool, typer.Option("--full", help="Rebuild every document.")] = False

        def jobs(self, planning: Planning) -> list[JobSpec]:
            bucket = planning.config.environments[planning.environment].bucket
            return [
                JobSpec(dataset, {"dataset": dataset, "bucket": bucket, "flags": "--full" if self.full else ""})
                for dataset in planning.lookup.folders(bucket, self.dataset_ids)
            ]
    '''
)

PODLET = textwrap.dedent(
    '''
    """podlet: podman under another name (a site's wrapper script), as an engine of its own."""

    from typing import ClassVar

    from cryoet_release.engines.podman import Podman


    class Podlet(Podman):
        name: ClassVar[str] = "podlet"
        preference: ClassVar[int] = 50
        install_hint: ClassVar[str] = "Install podlet from the site's tools"
    '''
)


def install(tmp_path: Path, name: str, files: dict[str, str], entry_points: dict[str, dict[str, str]]) -> Path:
    site = tmp_path / "site"
    pip_install(build_wheel(tmp_path, name, "0.1.0", files, entry_points), site)
    return site


@pytest.fixture
def reindex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = install(
        tmp_path,
        "portal-reindex",
        {"portal_reindex/__init__.py": "", "portal_reindex/kind.py": REINDEX},
        {"cryoet_release.enqueue_kinds": {"reindex": "portal_reindex.kind:Reindex"}},
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_third_party_kind_is_a_command_with_everything_the_others_have(
    aws: str, reindex: Path, tmp_path: Path
) -> None:
    seed()
    listed = invoke("enqueue", "--help").stdout
    assert "reindex" in listed
    assert "Reindex datasets in the portal's search." in listed
    help_text = invoke("enqueue", "reindex", "--help").stdout
    for common in ("--ecr-tag", "--dry-run", "--batch", "--pin-digest", "--yes", "--environment"):
        assert common in help_text, common
    assert "[default: 2000]" in help_text  # its own memory default, shown

    dry = invoke("--json", "enqueue", "reindex", "10000", "--full", "--dry-run")
    assert dry.exit_code == 0, dry.output
    (planned,) = json.loads(dry.stdout)["executions"]
    assert planned["input"]["Input"]["Run"]["flags"] == "--full"
    assert planned["input"]["RUN_WDL_URI"].endswith("/reindex-v1.wdl")
    assert planned["input"]["RunEC2Memory"] == 2000
    assert started_inputs() == {}

    prod = invoke("enqueue", "reindex", "10000", "--environment", "prod")  # the prod prompt, off a terminal
    assert prod.exit_code == 2
    assert "pass --yes" in prod.stderr

    queued = invoke("--json", "enqueue", "reindex", "10000", "10001", "--batch", "reindexed")
    assert queued.exit_code == 0, queued.output
    runs = {doc["Input"]["Run"]["dataset"]: doc["Input"]["Run"] for doc in started_inputs().values()}
    assert runs["10000"]["bucket"] == "cryoet-data-portal-staging"
    assert sorted(runs) == ["10000", "10001"]
    status = json.loads(invoke("--json", "status", "reindexed").stdout)
    assert (status["kind"], status["counts"]["RUNNING"]) == ("reindex", 2)
    assert invoke("enqueue", "resume", "reindexed").exit_code == 0  # nothing left to start
    assert len(started_inputs()) == 2
    batches = json.loads(invoke("--json", "batches").stdout)["batches"]
    assert [(b["batch"], b["kind"]) for b in batches] == [("reindexed", "reindex")]
    kinds = {p["name"]: p for p in json.loads(invoke("--json", "plugins").stdout)["plugins"]}
    assert kinds["reindex"]["group"] == "cryoet_release.enqueue_kinds"
    assert kinds["reindex"]["distribution"] == "portal-reindex"


def test_a_broken_kind_is_a_warning_and_the_others_work(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = install(
        tmp_path,
        "portal-broken",
        {"portal_broken.py": "import not_a_module_anywhere\n", "portal_plain.py": "Plain = 42\n"},
        {
            "cryoet_release.enqueue_kinds": {
                "crashy": "portal_broken:Crashy",
                "plain": "portal_plain:Plain",
            }
        },
    )
    monkeypatch.syspath_prepend(str(site))
    seed()
    result = invoke("enqueue", "validate", "10000", "--dry-run")
    assert result.exit_code == 0, result.output
    listed = invoke("enqueue", "--help")
    assert listed.exit_code == 0
    warnings = " ".join(listed.stderr.split())
    assert (
        "enqueue kind 'crashy' from portal-broken 0.1.0 (portal_broken:Crashy) failed to load: ModuleNotFoundError"
        in (warnings)
    )
    assert "enqueue kind 'plain' from portal-broken 0.1.0 (portal_plain:Plain) failed to load" in warnings
    assert "not a subclass of cryoet_release.kinds.Kind" in warnings
    assert "crashy" not in listed.stdout


@pytest.mark.engine
def test_a_third_party_engine_builds_and_pushes(
    podman_env: dict[str, str], registry: object, checkout: Path, repositories: None, tmp_path: Path
) -> None:
    """A package that declares one engine class: `--engine podlet` is a choice, and it builds and pushes."""
    from tests.components import Registry

    assert isinstance(registry, Registry)
    podman = require("podman")
    site = install(
        tmp_path,
        "portal-podlet",
        {"portal_podlet.py": PODLET},
        {"cryoet_release.engines": {"podlet": "portal_podlet:Podlet"}},
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podlet").write_text(f'#!/bin/sh\nexec {podman} "$@"\n')
    (bin_dir / "podlet").chmod(0o755)
    env = {
        **os.environ, **podman_env, "CRYOET_RELEASE_REGISTRY": registry.host,
        "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
    }  # fmt: skip

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cryoet_release", *args],
            env=env, cwd=checkout, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    assert "--engine [docker|podlet|podman]" in " ".join(tool("build", "--help").stdout.split())
    built = tool("-v", "build", "--tag", "by-podlet", "--image", "apiv2", "--engine", "podlet")
    assert built.returncode == 0, built.stderr[-3000:]
    logged = " ".join(built.stderr.split())
    assert "podlet build --file" in logged
    assert "podlet push " in logged
    assert "by-podlet" in registry.tags("apiv2-x86")
    unknown = tool("build", "--tag", "x", "--engine", "nerdctl")
    assert unknown.returncode == 2
    assert "'nerdctl' is not one of 'docker', 'podlet', 'podman'" in unknown.stderr
