"""`enqueue` against the real AWS emulator (moto server): every started input is read back and compared with an
expected document written out here, key for key, as DESIGN.md's contract says."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import invoke
from tests.faults import deny, dropped, inject, when
from tests.portal import ACCOUNT, seed, started_inputs

STAGING_ARN = "arn:aws:states:us-west-2:123456789012:stateMachine:cryoet-ingestion-staging-default-wdl"
PROD_ARN = "arn:aws:states:us-west-2:123456789012:stateMachine:cryoet-ingestion-prod-default-wdl"
INGESTOR = "123456789012.dkr.ecr.us-west-2.amazonaws.com/cryoet-staging"
APIV2 = "123456789012.dkr.ecr.us-west-2.amazonaws.com/apiv2-x86"
NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")


@pytest.fixture
def portal(aws: str) -> dict[str, str]:
    return seed(tags=("main", "db-new-feature"))


def only(inputs: dict[str, dict[str, Any]], suffix: str) -> tuple[str, dict[str, Any]]:
    matching = [(name, doc) for name, doc in inputs.items() if name.endswith(suffix)]
    assert len(matching) == 1, sorted(inputs)
    name, document = matching[0]
    assert NAME.fullmatch(name)
    return name, document


def test_db_import_defaults(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "db-import", "--import-everything", "--include-dataset", "1052")
    assert result.exit_code == 0, result.output

    inputs = started_inputs("staging")
    name, document = only(inputs, "-db-import-1052")
    assert document == {
        "Input": {
            "Run": {
                "aws_region": "us-west-2",
                "docker_image_id": f"{INGESTOR}:main",
                "s3_bucket": "cryoet-data-portal-staging",
                "https_prefix": "https://files.cryoet.staging.si.czi.technology",
                "flags": "--import-everything --s3-prefix 1052 --debug",
                "environment": "staging",
                "v2_docker_image_id": f"{APIV2}:main",
            }
        },
        "OutputPrefix": f"s3://cryoet-staging-swipe-comms/swipe/swipe-job-output/{name}/results",
        "RUN_WDL_URI": "s3://cryoet-staging-swipe-wdl/db_import-v0.0.3.wdl",
        "RunEC2Memory": 4000,
        "RunEC2Vcpu": 1,
        "RunSPOTMemory": 4000,
        "RunSPOTVcpu": 1,
        "StateMachineArn": STAGING_ARN,
    }
    assert len(inputs) == 1  # 1052 never matches 10521


def test_db_import_discovers_datasets_with_metadata_only(portal: dict[str, str]) -> None:
    result = invoke("--json", "enqueue", "db-import", "--import-runs", "--exclude-dataset", "10001")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["started"] == 3
    assert report["failed"] == 0
    keys = sorted(execution["key"] for execution in report["executions"])
    assert keys == ["10000", "1052", "10521"]
    assert {e["execution_arn"] for e in report["executions"]} == {
        f"arn:aws:states:us-west-2:{ACCOUNT}:execution:cryoet-ingestion-staging-default-wdl:{name}"
        for name in started_inputs("staging")
    }


def test_db_import_prod_with_every_option(portal: dict[str, str]) -> None:
    result = invoke(
        "enqueue", "db-import", "--environment", "prod", "--yes", "--ecr-tag", "db-new-feature",
        "--import-runs", "--import-annotations", "--deposition-id", "10300", "--deposition-id", "10301",
        "--no-debug", "--memory", "8000", "--swipe-wdl-key", "db_import-v0.0.4.wdl",
        "--s3-bucket", "cryoet-data-portal-staging", "--filter-datasets", "1000.",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    inputs = started_inputs("prod")
    assert sorted(name.rsplit("-", 1)[1] for name in inputs) == ["10000", "10001"]
    name, document = only(inputs, "-db-import-10001")
    assert document == {
        "Input": {
            "Run": {
                "aws_region": "us-west-2",
                "docker_image_id": f"{INGESTOR}:db-new-feature",
                "s3_bucket": "cryoet-data-portal-staging",
                "https_prefix": "https://files.cryoetdataportal.cziscience.com",
                "flags": "--import-runs --import-annotations --deposition-id 10300 --deposition-id 10301 "
                "--s3-prefix 10001",
                "environment": "prod",
                "v2_docker_image_id": f"{APIV2}:db-new-feature",
            }
        },
        "OutputPrefix": f"s3://cryoet-prod-swipe-comms/swipe/swipe-job-output/{name}/results",
        "RUN_WDL_URI": "s3://cryoet-prod-swipe-wdl/db_import-v0.0.4.wdl",
        "RunEC2Memory": 8000,
        "RunEC2Vcpu": 1,
        "RunSPOTMemory": 8000,
        "RunSPOTVcpu": 1,
        "StateMachineArn": PROD_ARN,
    }
    assert started_inputs("staging") == {}


def test_sync_datasets_and_depositions(portal: dict[str, str]) -> None:
    result = invoke(
        "enqueue", "sync", "--include-dataset", "10000", "--include-deposition", "10300",
        "--exclude", "*", "--include", "*.json", "--exclude", "it's/*", "--delete-files", "--dryrun",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    inputs = started_inputs("staging")
    assert len(inputs) == 2
    flags = "--delete --dryrun --exclude '*' --include '*.json' --exclude 'it'\"'\"'s/*'"
    dataset_name, dataset = only(inputs, "-sync-10000")
    assert dataset == {
        "Input": {
            "Run": {
                "aws_region": "us-west-2",
                "docker_image_id": f"{INGESTOR}:main",
                "input_bucket": "cryoet-data-portal-staging",
                "input_path": "10000",
                "output_bucket": "cryoet-data-portal-public",
                "output_path": "10000",
                "flags": flags,
            }
        },
        "OutputPrefix": f"s3://cryoet-staging-swipe-comms/swipe/swipe-job-output/{dataset_name}/results",
        "RUN_WDL_URI": "s3://cryoet-staging-swipe-wdl/sync-v0.0.1.wdl",
        "RunEC2Memory": 4000,
        "RunEC2Vcpu": 1,
        "RunSPOTMemory": 4000,
        "RunSPOTVcpu": 1,
        "StateMachineArn": STAGING_ARN,
    }
    deposition_name = next(name for name in inputs if name != dataset_name)
    assert inputs[deposition_name]["Input"]["Run"] == {
        "aws_region": "us-west-2",
        "docker_image_id": f"{INGESTOR}:main",
        "input_bucket": "cryoet-data-portal-staging",
        "input_path": "depositions_metadata/10300",
        "output_bucket": "cryoet-data-portal-public",
        "output_path": "depositions_metadata/10300",
        "flags": flags,
    }


def test_validate_runs_on_staging(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "validate", "10000", "10001", "--ecr-tag", "db-new-feature")
    assert result.exit_code == 0, result.output
    inputs = started_inputs("staging")
    assert len(inputs) == 2
    name, document = only(inputs, "-validate-10001")
    assert document == {
        "Input": {
            "Run": {
                "aws_region": "us-west-2",
                "docker_image_id": f"{INGESTOR}:db-new-feature",
                "dataset": "10001",
                "input_bucket": "cryoet-data-portal-staging",
                "output_bucket": "cryoet-data-portal-staging",
                "output_dir": "staging_validation",
                "extra_args": "",
                "config_file": "",
                "flags": "",
                "test_entity": "standardized",
            }
        },
        "OutputPrefix": f"s3://cryoet-staging-swipe-comms/swipe/swipe-job-output/{name}/results",
        "RUN_WDL_URI": "s3://cryoet-staging-swipe-wdl/validate_dataset-v0.0.2.wdl",
        "RunEC2Memory": 4000,
        "RunEC2Vcpu": 1,
        "RunSPOTMemory": 4000,
        "RunSPOTVcpu": 1,
        "StateMachineArn": STAGING_ARN,
    }


def test_source_validate(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "source-validate", "dataset_configs/10000.yaml")
    assert result.exit_code == 0, result.output
    inputs = started_inputs("staging")
    name, document = only(inputs, next(iter(inputs))[-20:])
    assert NAME.fullmatch(name)
    assert document["Input"]["Run"] == {
        "aws_region": "us-west-2",
        "docker_image_id": f"{INGESTOR}:main",
        "dataset": "",
        "input_bucket": "cryoetportal-rawdatasets-dev",
        "output_bucket": "cryoet-data-portal-staging",
        "output_dir": "source_validation",
        "extra_args": "",
        "config_file": "dataset_configs/10000.yaml",
        "flags": "--no-multiprocessing",
        "test_entity": "source",
    }
    assert document["RUN_WDL_URI"] == "s3://cryoet-staging-swipe-wdl/validate_dataset-v0.0.2.wdl"


def test_pin_digest_runs_the_image_resolved_now(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "db-import", "--include-dataset", "10000", "--pin-digest")
    assert result.exit_code == 0, result.output
    run = only(started_inputs(), "-db-import-10000")[1]["Input"]["Run"]
    assert run["docker_image_id"] == f"{INGESTOR}@{portal['cryoet-staging:main']}"
    assert run["v2_docker_image_id"] == f"{APIV2}@{portal['apiv2-x86:main']}"


def test_missing_tag_is_refused_and_nothing_starts(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "db-import", "--ecr-tag", "never-pushed", "--include-dataset", "10000")
    assert result.exit_code == 3
    assert f"{INGESTOR}:never-pushed" in result.stderr
    assert f"{APIV2}:never-pushed" in result.stderr
    assert "cryoet-release build --tag never-pushed" in result.stderr
    assert started_inputs("staging") == {}


def test_pin_digest_of_a_tag_that_is_not_there_says_what_it_needs(portal: dict[str, str]) -> None:
    result = invoke(
        "enqueue", "validate", "10000", "--ecr-tag", "never-pushed", "--skip-image-check", "--pin-digest", "--dry-run"
    )
    assert result.exit_code == 3
    assert result.stderr.splitlines()[1] == (
        "--pin-digest needs the tag's digest: build and push it (cryoet-release build --tag never-pushed), or drop it"
    )


@pytest.mark.parametrize(
    "args",
    [("db-import", "--include-dataset", "10000", "--s3-bucket", "nosuchbucket"),
     ("sync", "--include-dataset", "10000", "--input-bucket", "nosuchbucket")],
    ids=["db-import", "sync"],
)  # fmt: skip
def test_a_bucket_that_does_not_exist_is_named_not_taken_for_missing_datasets(
    portal: dict[str, str], args: tuple[str, ...]
) -> None:
    result = invoke("enqueue", *args, "--dry-run")
    assert result.exit_code == 3
    assert result.stderr == "error: S3 bucket 'nosuchbucket' does not exist in this account\n"


def test_a_dry_run_of_a_batch_name_already_taken_is_refused_as_the_run_would_be(portal: dict[str, str]) -> None:
    assert invoke("enqueue", "validate", "10000", "--batch", "taken").exit_code == 0
    dry = invoke("enqueue", "validate", "10000", "--batch", "taken", "--dry-run")
    assert (dry.exit_code, dry.stderr.splitlines()[0].split(" in ")[0]) == (2, "error: batch 'taken' already exists")


def test_wrong_environment_names_what_is_missing(aws: str) -> None:
    seed(environments=("staging",))
    result = invoke("enqueue", "db-import", "--environment", "prod", "--yes", "--include-dataset", "10000")
    assert result.exit_code == 3
    assert "state machine 'cryoet-ingestion-prod-default-wdl' does not exist" in result.stderr
    assert "no swipe-comms bucket" in result.stderr
    assert "Account 123456789012 in us-west-2 has no prod environment: check the profile" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db-import", "--filter-datasets", "(unclosed"], "filter-datasets: Input should be a valid regular"),
        (
            ["db-import", "--include-dataset", "10a"],
            "include-dataset: '10a' is not valid: a dataset id is 1-12 digits (for a folder of datasets, use"
            " --s3-prefix)",
        ),
        (["db-import", "--ecr-tag", ""], "Invalid value for '--ecr-tag': it is empty"),
        (["db-import", "--memory", "5"], "memory: Input should be greater than or equal to 128"),
        (
            ["db-import", "--parallelism", "0"],
            "Invalid value for '--parallelism': 0 is not in the range",
        ),
        (["db-import", "--ecr-tag", "-bad"], "ecr-tag: '-bad' is not valid"),
        (
            ["db-import", "--environment", "dev"],
            "Invalid value for '--environment': 'dev' is not one of 'staging', 'prod'",
        ),
        (["validate", "not-an-id"], "'not-an-id' is not valid: a dataset id is 1-12 digits"),
        (["db-import", "--memory", "lots"], "Invalid value for '--memory'"),
        (["db-import", "--deposition-id", "abc"], "deposition-id: 'abc' is not valid: a deposition id is 1-12 digits"),
        (["db-import", "--show-input"], "show-input: only with --dry-run: it prints the inputs a dry run would send"),
    ],
)
def test_bad_input_is_exit_2_before_anything(portal: dict[str, str], args: list[str], message: str) -> None:
    result = invoke("enqueue", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert started_inputs("staging") == {}


def test_prod_off_a_terminal_without_yes_is_exit_2(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000")
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert started_inputs("prod") == {}


def test_dry_run_prints_every_input_and_starts_nothing(portal: dict[str, str]) -> None:
    result = invoke("--json", "enqueue", "db-import", "--dry-run", "--include-dataset", "10000")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    (execution,) = plan["executions"]
    assert execution["input"]["Input"]["Run"]["flags"] == "--s3-prefix 10000 --debug"
    assert execution["bytes"] == len(json.dumps(execution["input"]).encode())
    assert started_inputs("staging") == {}


def test_a_failed_submission_is_listed_and_exits_1(portal: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    inject(monkeypatch, "StartExecution", when(lambda body: body["name"].endswith("-10001"), dropped))
    result = invoke("--json", "enqueue", "db-import", "--include-dataset", "10000", "--include-dataset", "10001")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = [e for e in report["executions"] if e["status"] == "failed"]
    assert [e["key"] for e in failed] == ["10001"]
    assert failed[0]["error_code"] == "ConnectionClosedError"
    assert "1 of 2 submissions failed" in result.stderr
    assert [name.rsplit("-", 1)[1] for name in started_inputs()] == ["10000"]


@pytest.mark.parametrize(
    ("typed", "code", "started"),
    [("n\n", 1, 0), ("\n", 1, 0), ("", 1, 0), ("y\n", 0, 1)],
    ids=["no", "enter", "end-of-input", "yes"],
)
def test_prod_on_a_terminal_shows_the_plan_and_asks(
    portal: dict[str, str], typed: str, code: int, started: int
) -> None:
    """Only a yes submits; no, a bare Enter and end of input (Ctrl-D) are exit 1, "aborted", nothing sent."""
    result = invoke(
        "enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000", input=typed, terminal=True
    )
    assert "About to submit 1 db-import job to PROD:" in result.stderr
    assert "Submit? [y/N]: " in result.stderr
    assert result.exit_code == code, result.output
    if code:
        assert result.stderr.splitlines()[-1] == "error: aborted: nothing was submitted"
    assert len(started_inputs("prod")) == started


class Interrupting(io.StringIO):
    """A terminal at which the user presses Ctrl-C instead of answering."""

    def readline(self, size: int | None = -1) -> str:
        raise KeyboardInterrupt


def test_ctrl_c_at_the_prompt_is_exit_130_and_submits_nothing(portal: dict[str, str]) -> None:
    from cryoet_release.cli import build_app
    from cryoet_release.context import Process

    app = build_app(process=lambda: Process(stdin=Interrupting(), stdin_is_terminal=True))
    result = CliRunner().invoke(app, ["enqueue", "db-import", "--environment", "prod", "--include-dataset", "10000"])
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines()[-1] == "error: interrupted"
    assert started_inputs("prod") == {}


def answer_the_prod_prompt(answer: Callable[[int, int], Any]) -> tuple[int, bytes]:
    """A prod enqueue on a pseudo-terminal; once it asks, `answer(terminal, process id)`. Returns the exit code and
    everything the terminal showed. Waits on what the terminal shows, never on a fixed time: a loaded machine only
    makes it take longer."""
    import pty
    import select
    import subprocess
    import sys
    import time

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "cryoet_release", "enqueue", "db-import", "--environment", "prod",
         "--include-dataset", "10000"],
        stdin=follower, stdout=follower, stderr=follower, env=os.environ.copy(), start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 300
    try:
        while b"Submit?" not in seen:
            assert time.monotonic() < deadline, f"no prompt: {seen!r}"
            if select.select([leader], [], [], 1)[0]:
                seen += os.read(leader, 4096)
        answer(leader, process.pid)
        while True:  # everything the process writes, until it closes the terminal
            assert time.monotonic() < deadline, f"no exit: {seen!r}"
            if not select.select([leader], [], [], 1)[0]:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        process.kill()
        os.close(leader)
    return process.returncode, seen


def test_jobs_pull_from_the_portal_registry_whatever_the_profile(
    portal: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the image account is the portal's (908710317728), as the old script's, not the caller's."""
    monkeypatch.delenv("CRYOET_RELEASE_REGISTRY_ACCOUNT")
    result = invoke("--json", "enqueue", "db-import", "--include-dataset", "10000", "--skip-image-check", "--dry-run")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["executions"][0]["input"]["Input"]["Run"]
    assert run["docker_image_id"] == "908710317728.dkr.ecr.us-west-2.amazonaws.com/cryoet-staging:main"
    assert run["v2_docker_image_id"] == "908710317728.dkr.ecr.us-west-2.amazonaws.com/apiv2-x86:main"
    assert result.stderr.count("registry of account 908710317728; queueing as account 123456789012") == 1


def test_a_refused_tag_check_in_another_account_warns_and_goes_on(
    portal: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYOET_RELEASE_REGISTRY_ACCOUNT", "908710317728")
    deny(monkeypatch, "DescribeImages")
    result = invoke("enqueue", "db-import", "--include-dataset", "10000")
    assert result.exit_code == 0, result.output
    assert "could not verify tag 'main' in the registry of account 908710317728" in result.stderr
    assert len(started_inputs()) == 1

    pinned = invoke("enqueue", "db-import", "--include-dataset", "10001", "--pin-digest")
    assert pinned.exit_code == 3
    assert "--pin-digest needs the image digests" in pinned.stderr
    assert len(started_inputs()) == 1


def test_configured_repository_and_buckets_are_the_defaults(
    portal: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cryoet-release.toml"
    config.write_text(
        '[images.ingestor]\nrepository = "my-ingestor"\n'
        '[environments.staging]\nbucket = "cryoet-data-portal-public"\n'
        '[environments.prod]\nbucket = "my-out-bucket"\n'
    )
    monkeypatch.setenv("CRYOET_RELEASE_CONFIG", str(config))
    result = invoke("--json", "enqueue", "sync", "--include-dataset", "10000", "--skip-image-check", "--dry-run")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["executions"][0]["input"]["Input"]["Run"]
    assert run["docker_image_id"] == f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/my-ingestor:main"
    assert (run["input_bucket"], run["output_bucket"]) == ("cryoet-data-portal-public", "my-out-bucket")


def test_a_real_enqueue_says_which_images_it_runs_and_that_the_branch_has_its_own(
    portal: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "db-new-feature", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    result = invoke("enqueue", "db-import", "--include-dataset", "10000")
    assert result.exit_code == 0, result.output
    digest = portal["cryoet-staging:main"]
    assert f"docker_image_id: {INGESTOR}:main ({digest}) (tag by default)" in result.stderr
    assert (
        "warning: your branch's image 'db-new-feature' is in the registry, but these jobs run 'main' (the default):"
        " pass --ecr-tag db-new-feature to run yours" in " ".join(result.stderr.split())
    )
    chosen = invoke("enqueue", "db-import", "--include-dataset", "10001", "--ecr-tag", "main")
    assert "(tag by default)" not in chosen.stderr
    assert "your branch's image" not in chosen.stderr


def test_a_missing_repository_is_named_and_main_is_never_suggested_for_a_build(portal: dict[str, str]) -> None:
    typo = invoke("enqueue", "db-import", "--include-dataset", "10000", "--ecr-repo", "cryoet-stagin")
    assert typo.exit_code == 3
    assert "ECR repository 'cryoet-stagin' does not exist" in typo.stderr
    assert "Check --ecr-repo" in typo.stderr
    assert "build --tag main" not in typo.stderr


def test_validate_queues_every_id_whose_folder_is_in_the_bucket(portal: dict[str, str]) -> None:
    """R1 for validate: 20002 has a folder but no dataset_metadata.json, and is validated (finding what is wrong
    with it is the point); 777 has no folder, and is not queued, with a warning naming it."""
    result = invoke("enqueue", "validate", "10000", "20002", "777")
    assert result.exit_code == 0, result.output
    assert "not queued: no folder 777 in s3://cryoet-data-portal-staging/" in result.stderr
    assert sorted(name.rsplit("-", 1)[1] for name in started_inputs()) == ["10000", "20002"]
    none = invoke("enqueue", "validate", "777", "778")
    assert none.exit_code == 2
    assert "nothing to enqueue: none of 777, 778 is a folder in s3://cryoet-data-portal-staging/" in none.stderr


def test_sync_dryrun_is_not_the_tools_dry_run_and_says_so(portal: dict[str, str]) -> None:
    result = invoke("enqueue", "sync", "--include-dataset", "10000", "--dryrun")
    assert result.exit_code == 0, result.output
    assert "--dryrun: the jobs ARE submitted" in " ".join(result.stderr.split())
    assert len(started_inputs()) == 1


def test_verbose_logs_every_aws_call_without_inputs_or_secrets(portal: dict[str, str]) -> None:
    result = invoke("-v", "enqueue", "validate", "10000")
    assert result.exit_code == 0, result.output
    log = " ".join(result.stderr.split())
    for call in (
        "sts GetCallerIdentity",
        "stepfunctions DescribeStateMachine stateMachineArn=",
        "s3 ListBuckets",
        "ecr DescribeImages registryId=123456789012 repositoryName=cryoet-staging",
        "s3 ListObjectsV2 Bucket=cryoet-data-portal-staging Prefix=10000/",
        "stepfunctions StartExecution stateMachineArn=",
    ):
        assert call in log, call
    assert "retries)" in log
    assert '"Input"' not in log  # never an input document
    assert "testing" not in log  # nor the credentials
    quiet = invoke("enqueue", "validate", "10001")
    assert "StartExecution" not in quiet.stderr


def test_ctrl_c_at_the_prod_prompt_of_a_real_terminal_is_exit_130_and_submits_nothing(portal: dict[str, str]) -> None:
    """The real path, once: a pseudo-terminal, the prompt on it, and Ctrl-C to the process group."""
    import signal

    returncode, seen = answer_the_prod_prompt(lambda leader, pid: os.killpg(pid, signal.SIGINT))
    assert returncode == 130, seen
    assert b"About to submit 1 db-import job to PROD" in seen
    assert b"Aborted!" not in seen
    assert b"interrupted" in seen.split(b"Submit?")[-1]
    assert started_inputs("prod") == {}


def test_an_empty_value_keeps_the_meaning_the_old_script_gave_it(portal: dict[str, str]) -> None:
    """R6: where the old script gave '' a meaning, it is kept (the migration guide lists each)."""
    dbi = invoke(
        "--json", "enqueue", "db-import", "--include-dataset", "10000", "--s3-bucket", "", "--https-prefix", "",
        "--filter-datasets", "", "--dry-run",
    )  # fmt: skip
    assert dbi.exit_code == 0, dbi.output
    run = json.loads(dbi.stdout)["executions"][0]["input"]["Input"]["Run"]
    assert (run["s3_bucket"], run["https_prefix"]) == (
        "cryoet-data-portal-staging",
        "https://files.cryoet.staging.si.czi.technology",
    )
    sync = invoke("--json", "enqueue", "sync", "--include-dataset", "10000", "--include", "", "--dry-run")
    assert sync.exit_code == 0, sync.output
    assert json.loads(sync.stdout)["executions"][0]["input"]["Input"]["Run"]["flags"] == "--include ''"
    assert started_inputs() == {}


@pytest.mark.parametrize(
    "option", ["--ecr-tag", "--ecr-repo", "--swipe-wdl-key"], ids=["ecr-tag", "ecr-repo", "swipe-wdl-key"]
)
def test_an_empty_tag_repository_or_wdl_is_refused_and_nothing_starts(portal: dict[str, str], option: str) -> None:
    """R6: `--ecr-tag "$TAG"` with TAG unset never runs the default."""
    result = invoke("enqueue", "db-import", "--include-dataset", "10000", option, "")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: Invalid value for '{option}': it is empty")
    assert started_inputs() == {}


def test_source_validate_takes_the_environment_option_and_a_bucket_with_a_prefix(portal: dict[str, str]) -> None:
    result = invoke(
        "enqueue", "source-validate", "--environment", "prod", "cfg.yaml", "cryoetportal-rawdatasets-dev/mirror"
    )
    assert result.exit_code == 0, result.output
    assert "warning: source validation always runs on staging: --environment prod changes nothing (as before)" in (
        " ".join(result.stderr.split())
    )
    (document,) = started_inputs("staging").values()
    assert document["Input"]["Run"]["input_bucket"] == "cryoetportal-rawdatasets-dev/mirror"
    assert document["Input"]["Run"]["output_dir"] == "source_validation"
    assert started_inputs("prod") == {}
    refused = invoke("enqueue", "source-validate", "cfg.yaml", "Raw_Data/mirror")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: INPUT_BUCKET: 'Raw_Data' is not valid")
    assert len(started_inputs("staging")) == 1
