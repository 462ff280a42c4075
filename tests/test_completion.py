"""TAB completes values, as bash asks for them (the completion variables, in a child process): batch ids newest
first from the ledger folder (no AWS), image keys from the config, regions, dataset configs, choices."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def tab(words: str, cwd: Path, **env: str) -> list[str]:
    """What bash gets for `words` (the cursor on the last word; a trailing space starts a new one)."""
    split = words.split(" ")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRYOET_RELEASE_"))}
    environ.update(env, _CRYOET_RELEASE_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(split) - 1))
    done = subprocess.run(
        [sys.executable, "-m", "cryoet_release"], env=environ, cwd=cwd, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    return done.stdout.split()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    batches = tmp_path / "state" / "cryoet-release" / "batches"
    batches.mkdir(parents=True)
    for age, name in enumerate(["newest", "middle", "oldest"]):
        (batches / f"{name}.jsonl").write_text("{}\n")
        os.utime(batches / f"{name}.jsonl", (time.time() - 60 * age, time.time() - 60 * age))
    (batches / "newest.final.jsonl").write_text("{}\n")
    sandbox = tmp_path / "state" / "cryoet-release" / "sandbox" / "batches"
    sandbox.mkdir(parents=True)
    (sandbox / "rehearsal.jsonl").write_text("{}\n")
    return tmp_path / "state"


def test_batch_ids_newest_first_from_the_ledger_folder(state: Path, tmp_path: Path) -> None:
    home = {"XDG_STATE_HOME": str(state), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # no AWS answers: none asked
    assert tab("cryoet-release status ", tmp_path, **home) == ["newest", "middle", "oldest"]
    assert tab("cryoet-release enqueue retry m", tmp_path, **home) == ["middle"]
    assert tab("cryoet-release enqueue resume ", tmp_path, **home) == ["newest", "middle", "oldest"]
    sandbox = {**home, "CRYOET_RELEASE_SANDBOX": "http://127.0.0.1:9"}
    assert tab("cryoet-release status ", tmp_path, **sandbox) == ["rehearsal"]
    elsewhere = state / "cryoet-release" / "sandbox" / "batches"
    assert tab(f"cryoet-release status --ledger-dir {elsewhere} ", tmp_path, **home) == ["rehearsal"]
    assert tab(f"cryoet-release enqueue resume --ledger-dir {elsewhere} r", tmp_path, **home) == ["rehearsal"]


def test_image_keys_regions_and_choices(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "cryoet-release.toml").write_text('[images.viewer]\ncontext = "viewer"\nrepository = "viewer"\n')
    assert tab("cryoet-release build --image ", tmp_path) == ["ingestor", "apiv2", "viewer"]
    assert tab("cryoet-release push --region us-west-", tmp_path) == ["us-west-1", "us-west-2"]
    assert tab("cryoet-release build --engine ", tmp_path) == ["docker", "podman"]
    assert tab("cryoet-release enqueue validate --environment ", tmp_path) == ["staging", "prod"]


def test_dataset_configs_are_folders_and_yaml_files(tmp_path: Path) -> None:
    configs = tmp_path / "ingestion_tools" / "dataset_configs"
    configs.mkdir(parents=True)
    for name in ("10000.yaml", "10001.yml", "README.md", ".hidden.yaml"):
        (configs / name).write_text("")
    (configs / "drafts").mkdir()
    assert tab("cryoet-release enqueue queue ingestion_tools/dataset_configs/", tmp_path) == [
        "ingestion_tools/dataset_configs/10000.yaml",
        "ingestion_tools/dataset_configs/10001.yml",
        "ingestion_tools/dataset_configs/drafts/",
    ]
    assert tab("cryoet-release enqueue source-validate ingestion_tools/dataset_configs/100", tmp_path) == [
        "ingestion_tools/dataset_configs/10000.yaml",
        "ingestion_tools/dataset_configs/10001.yml",
    ]
    assert tab("cryoet-release enqueue queue in", tmp_path) == ["ingestion_tools/"]
