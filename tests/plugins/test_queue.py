"""`enqueue queue` end to end: the 29 recorded cases of the portal's own `enqueue_runs.py queue`, replayed.

Each case seeds the emulator (the world plus its own keys and tags), runs the command from the folder holding
`configs/` (so `config_file` is the same string), and compares success and the jobs, as a multiset of
(state machine, input) with the execution name written `{name}` and the image account `{account}`; execution
names are the tool's own and are not compared. Where a case lists rules (Q1-Q5), it holds the target.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.portal import raw_inputs, seed_world

DATA = Path(__file__).parents[1] / "data" / "queue"
WORLD = json.loads((DATA / "world.json").read_text())
CASES = [json.loads(path.read_text()) for path in sorted((DATA / "cases").glob("*.json"))]


def case_world(case: dict[str, Any]) -> dict[str, Any]:
    s3 = {bucket: dict(keys) for bucket, keys in WORLD["s3"].items()}
    for bucket, keys in case["seed"].items():
        s3.setdefault(bucket, {}).update(keys)
    return {**WORLD, "s3": s3, "ecr": {**WORLD["ecr"], **case["ecr"]}}


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_queue_finds_the_runs_the_portal_finds(aws: str, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seed_world(case_world(case))
    monkeypatch.chdir(DATA)
    args = [case["config_arg"], case["input_bucket"], case["output_path"], *case["args"]]
    if "prod" in args:
        args.append("--yes")
    result = invoke("enqueue", "queue", *args)
    if case["expect_success"]:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
    expected = Counter(f"{job['state_machine']} {json.dumps(job['input'])}" for job in case["jobs"])
    assert raw_inputs(WORLD, with_machine=True) == expected


def test_every_recorded_case_is_replayed() -> None:
    assert len(CASES) == 29


@pytest.mark.parametrize(
    ("where", "typed"),
    [
        ("", "ingestion_tools/dataset_configs/10000.yaml"),
        ("ingestion_tools/scripts", "../dataset_configs/10000.yaml"),
        ("ingestion_tools/dataset_configs", "10000.yaml"),
        ("ingestion_tools/dataset_configs", "./../dataset_configs//10000.yaml"),
    ],
)
def test_in_a_portal_checkout_the_job_gets_the_path_from_ingestion_tools_scripts(
    tmp_path: Path, where: str, typed: str
) -> None:
    from cryoet_release_plugins.enqueue.kinds.queue import job_config_path

    (tmp_path / ".git").mkdir()
    (tmp_path / "ingestion_tools" / "scripts").mkdir(parents=True)
    (tmp_path / "ingestion_tools" / "dataset_configs").mkdir()
    assert job_config_path(typed, tmp_path / where) == ("../dataset_configs/10000.yaml", None)


def test_outside_a_portal_checkout_the_path_is_sent_as_typed_with_a_warning(tmp_path: Path) -> None:
    from cryoet_release_plugins.enqueue.kinds.queue import job_config_path

    sent, warning = job_config_path("configs/10000.yaml", tmp_path)
    assert sent == "configs/10000.yaml"
    assert warning is not None
    assert "not in a portal checkout" in warning
