"""Plan a batch against AWS (checks first, then discovery), and submit it concurrently."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryoet_release import aws as cloud
from cryoet_release import batches
from cryoet_release.config import EnvironmentConfig
from cryoet_release.console import Output
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import AwsError, OperationFailed, ResourceNotFound, UsageError
from cryoet_release.models import Environment, ImageRef
from cryoet_release_plugins.enqueue.jobs import (
    MAX_INPUT_BYTES,
    CommonOptions,
    DatasetSelection,
    Job,
    JobSpec,
    Target,
    make_jobs,
    new_batch_id,
    oversized,
)

PROFILE_HINT = "The AWS profile is probably wrong for the {environment} environment (--profile / AWS_PROFILE)."


@dataclass(frozen=True)
class Plan:
    batch: str
    kind: str
    environment: str
    target: Target
    images: Mapping[str, str]
    """Image role (docker_image_id, v2_docker_image_id) -> the reference the jobs run."""
    jobs: Sequence[Job]

    def summary(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "kind": self.kind,
            "environment": self.environment,
            "state_machine": self.target.state_machine_arn,
            "images": dict(self.images),
            "jobs": len(self.jobs),
        }


@dataclass
class Outcome:
    job: Job
    execution_arn: str | None = None
    start_date: str | None = None
    error_code: str | None = None
    error: str | None = None

    @property
    def started(self) -> bool:
        return self.execution_arn is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.job.name,
            "key": self.job.key,
            "status": "started" if self.started else "failed",
            "execution_arn": self.execution_arn,
            "start_date": self.start_date,
            "error_code": self.error_code,
            "error": self.error,
        }


def resolve_target(aws: cloud.Aws, environment: str, settings: EnvironmentConfig) -> Target:
    """The state machine and both swipe buckets of the environment; raises ResourceNotFound naming what is missing."""
    hint = PROFILE_HINT.format(environment=environment)
    missing = []
    try:
        arn = cloud.state_machine_arn(aws, settings.state_machine_name(environment))
    except ResourceNotFound as error:
        missing.append(error.message)
        arn = ""
    names = cloud.bucket_names(aws)
    buckets = {}
    for role, explicit in (("swipe-comms", settings.swipe_comms_bucket), ("swipe-wdl", settings.swipe_wdl_bucket)):
        candidates = [explicit] if explicit else sorted(n for n in names if role in n and environment in n)
        found = [name for name in candidates if name in names]
        if not found:
            wanted = repr(explicit) if explicit else f"whose name contains {role!r} and {environment!r}"
            missing.append(f"no {role} bucket {wanted} in account {aws.account}")
        else:
            buckets[role] = found[0]
    if missing:
        raise ResourceNotFound("; ".join(missing), hint=hint)
    return Target(
        region=aws.region, state_machine_arn=arn, comms_bucket=buckets["swipe-comms"], wdl_bucket=buckets["swipe-wdl"]
    )


def resolve_images(
    aws: cloud.Aws, *, registry: str, repositories: Mapping[str, str], tag: str, pin: bool, check: bool
) -> dict[str, str]:
    """role -> image reference, after checking that the tag exists in every repository the jobs pull from."""
    refs = {
        role: ImageRef(account=registry, region=aws.region, repository=repo, tag=tag)
        for role, repo in repositories.items()
    }
    if not check and not pin:
        return {role: ref.tagged for role, ref in refs.items()}
    digests = {
        role: cloud.image_digest(aws, registry_id=registry, repository=ref.repository, tag=tag)
        for role, ref in refs.items()
    }
    missing = [refs[role].tagged for role, digest in digests.items() if digest is None]
    if missing:
        raise ResourceNotFound(
            "image tag not found where the jobs pull from: " + ", ".join(missing),
            hint=f"Build and push it with: cryoet-release build --tag {tag} --region {aws.region}"
            " (or pass --skip-image-check)",
        )
    if pin:
        return {role: refs[role].model_copy(update={"digest": digests[role]}).pinned for role in refs}
    return {role: ref.tagged for role, ref in refs.items()}


def discover_datasets(
    aws: cloud.Aws, bucket: str, selection: DatasetSelection, *, parallelism: int
) -> tuple[list[str], int]:
    """Dataset ids under the prefix that hold a dataset_metadata.json, and the number of S3 calls it took.

    Exact --include-dataset ids need no listing; otherwise one listing, then the HEAD checks run concurrently.
    """
    prefix = selection.prefix
    calls = 0
    if selection.include_dataset and not selection.filter_datasets:
        candidates = list(dict.fromkeys(selection.include_dataset))
    else:
        subprefixes, calls = cloud.list_subprefixes(aws, bucket, prefix)
        candidates = [sub[len(prefix) :].rstrip("/") for sub in subprefixes]
    candidates = [dataset for dataset in candidates if selection.keeps(dataset)]
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        present = list(
            pool.map(lambda d: cloud.object_exists(aws, bucket, f"{prefix}{d}/dataset_metadata.json"), candidates)
        )
    calls += len(candidates)
    return sorted((d for d, ok in zip(candidates, present, strict=True) if ok), key=_natural), calls


def _natural(dataset: str) -> tuple[int, str]:
    return (int(dataset), dataset) if dataset.isdigit() else (2**63, dataset)


def check_sizes(jobs: Sequence[Job]) -> None:
    too_big = oversized(jobs)
    if too_big:
        names = ", ".join(f"{job.name} ({job.size} bytes)" for job in too_big[:5])
        raise UsageError(f"{len(too_big)} input(s) exceed Step Functions' {MAX_INPUT_BYTES}-byte limit: {names}")


@dataclass
class Submission:
    """Submits jobs with one shared client and a thread pool; `record` sees every outcome (for the ledger)."""

    aws: cloud.Aws
    state_machine: str
    parallelism: int
    record: Callable[[Outcome], None] = lambda outcome: None
    outcomes: list[Outcome] = field(default_factory=list)

    def start(self, job: Job) -> Outcome:
        try:
            arn, started = cloud.start_execution(
                self.aws, state_machine=self.state_machine, name=job.name, document=job.document
            )
            outcome = Outcome(job, execution_arn=arn, start_date=started)
        except Exception as error:  # noqa: BLE001 - every failure is recorded and reported, none is lost
            outcome = Outcome(job, error_code=cloud.error_code(error), error=str(error))
            if outcome.error_code == "ExecutionAlreadyExists":
                outcome = self._adopt(job, outcome)
        self.record(outcome)
        return outcome

    def _adopt(self, job: Job, refused: Outcome) -> Outcome:
        """A closed execution with this name exists: ours (a response lost in flight), or somebody else's."""
        existing = cloud.describe_execution(self.aws, cloud.execution_arn(self.state_machine, job.name))
        if (
            existing is not None
            and existing.input is not None
            and json.loads(existing.input) == json.loads(job.document)
        ):
            return Outcome(job, execution_arn=existing.arn, start_date=existing.start_date)
        refused.error = f"an execution named {job.name} exists with another input: {refused.error}"
        return refused

    def run(self, jobs: Iterable[Job], output: Output) -> list[Outcome]:
        jobs = list(jobs)
        began = time.monotonic()
        with output.progress() as progress, ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            task = progress.add_task("submitting", total=len(jobs), rate="")
            for done, future in enumerate(as_completed(pool.submit(self.start, job) for job in jobs), start=1):
                self.outcomes.append(future.result())
                rate = done / max(time.monotonic() - began, 1e-9)
                progress.update(task, advance=1, rate=f"{rate:.1f}/s")
        return self.outcomes


@dataclass(frozen=True)
class Request:
    """What one enqueue subcommand asks for, once its options are validated."""

    kind: str
    environment: str
    repositories: Mapping[str, str]
    """Image role -> ECR repository the jobs pull from; `docker_image_id` is the one the job runs."""
    specs: Callable[[cloud.Aws, Mapping[str, str]], list[JobSpec]]
    """Builds the jobs, given the session and the resolved image references by role."""


Confirm = Callable[[Plan], None]


def plan_batch(opts: GlobalOptions, common: CommonOptions, request: Request, *, batch: str) -> tuple[cloud.Aws, Plan]:
    """Every check and lookup, in order, before anything is submitted."""
    loaded = opts.config()
    aws = cloud.Aws(opts.profile, opts.region, max_pool_connections=common.parallelism)
    settings = loaded.config.environments[Environment(request.environment)]
    target = resolve_target(aws, request.environment, settings)
    registry = loaded.config.registry_account or aws.account
    images = resolve_images(
        aws,
        registry=registry,
        repositories=request.repositories,
        tag=common.ecr_tag,
        pin=common.pin_digest,
        check=not common.skip_image_check,
    )
    specs = request.specs(aws, images)
    if not specs:
        raise UsageError(f"nothing to enqueue: no {request.kind} job matches the selection")
    jobs = make_jobs(
        specs,
        target,
        batch=batch,
        kind=request.kind,
        image=images["docker_image_id"],
        wdl_key=common.swipe_wdl_key,
        memory=common.memory,
    )
    check_sizes(jobs)
    return aws, Plan(batch, request.kind, request.environment, target, images, jobs)


def run_batch(opts: GlobalOptions, common: CommonOptions, request: Request, *, dry_run: bool, confirm: Confirm) -> None:
    """Plan, then print the plan (--dry-run) or confirm, write the ledger and submit.

    Raises OperationFailed if any job failed (the ledger says which; `enqueue resume` retries them).
    """
    output = opts.output
    directory = batches.ledger_dir(common.ledger_dir)
    batch = batches.check_batch_name(common.batch) if common.batch else new_batch_id()
    if not dry_run and batches.ledger_path(directory, batch).exists():
        raise UsageError(
            f"batch {batch!r} already exists in {directory}", hint=f"cryoet-release enqueue resume {batch}"
        )
    aws, plan = plan_batch(opts, common, request, batch=batch)
    if dry_run:
        output.result(
            {
                **plan.summary(),
                "dry_run": True,
                "executions": [
                    {"name": j.name, "key": j.key, "bytes": j.size, "input": json.loads(j.document)} for j in plan.jobs
                ],
            },
            lambda: _print_plan(output, plan),
        )
        return
    confirm(plan)
    header = batches.Header(
        batch=batch,
        kind=plan.kind,
        environment=plan.environment,
        region=plan.target.region,
        account=aws.account,
        state_machine=plan.target.state_machine_arn,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        images=dict(plan.images),
        parameters=common.model_dump(mode="json", exclude={"ledger_dir"}),
    )
    with batches.locked(directory, batch):
        ledger = batches.create(directory, header, ((job.name, job.key, job.document) for job in plan.jobs))
        output.info(f"batch {batch}: ledger {ledger.path}")
        _submit(aws, ledger, plan.jobs, common.parallelism, output)


def resume_batch(
    opts: GlobalOptions, batch: str, *, parallelism: int, ledger_dir: Path | None, dry_run: bool = False
) -> None:
    """Submit exactly the jobs of a batch not confirmed started, under the same names and inputs."""
    output = opts.output
    directory = batches.ledger_dir(ledger_dir)
    ledger = batches.load(directory, batch)  # an unknown batch is a usage error before taking any lock
    if dry_run:
        pending = ledger.pending()
        output.result(
            {"batch": batch, "dry_run": True, "to_submit": [{"name": e.name, "key": e.key} for e in pending]},
            lambda: output.table(
                ["execution name", "job", "last outcome"],
                ([e.name, e.key, e.error_code or e.status] for e in pending),
                title=f"dry run: resume of {batch} would submit {len(pending)} job(s)",
            ),
        )
        return
    with batches.locked(directory, batch):
        ledger = batches.load(directory, batch)  # as it is now that we hold the lock
        header = ledger.header
        aws = cloud.Aws(opts.profile, header.region, max_pool_connections=parallelism)
        if aws.account != header.account:
            raise AwsError(
                f"batch {batch} was queued in account {header.account}, but these credentials are for {aws.account}",
                hint="Use the AWS profile the batch was queued with (--profile)",
            )
        pending = ledger.pending()
        output.info(f"batch {batch}: {len(ledger.entries) - len(pending)} confirmed started, {len(pending)} to submit")
        jobs = [Job(key=entry.key, name=entry.name, document=entry.document) for entry in pending]
        _submit(aws, ledger, jobs, parallelism, output)


def recorder(ledger: batches.Ledger) -> Callable[[Outcome], None]:
    """Write each outcome to the ledger (durably) as soon as it is known."""

    def record(outcome: Outcome) -> None:
        if outcome.execution_arn and outcome.start_date:
            ledger.record_started(outcome.job.name, outcome.execution_arn, outcome.start_date)
        else:
            ledger.record_failed(outcome.job.name, outcome.error_code or "Unknown", outcome.error or "")

    return record


def _submit(aws: cloud.Aws, ledger: batches.Ledger, jobs: Sequence[Job], parallelism: int, output: Output) -> None:
    submission = Submission(aws, ledger.header.state_machine, parallelism, record=recorder(ledger))
    outcomes = sorted(submission.run(jobs, output), key=lambda outcome: outcome.job.name)
    failed = [outcome for outcome in outcomes if not outcome.started]
    counts = ledger.counts()
    output.result(
        {
            "batch": ledger.batch,
            "kind": ledger.header.kind,
            "environment": ledger.header.environment,
            "state_machine": ledger.header.state_machine,
            "images": dict(ledger.header.images),
            "ledger": str(ledger.path),
            "jobs": len(ledger.entries),
            "submitted": len(outcomes),
            "started": len(outcomes) - len(failed),
            "failed": len(failed),
            "batch_started": counts["started"],
            "executions": [outcome.as_json() for outcome in outcomes],
        },
        lambda: _print_outcomes(output, ledger.batch, outcomes),
    )
    if failed:
        raise OperationFailed(
            f"{len(failed)} of {len(outcomes)} submissions failed (listed above)",
            hint=f"Retry exactly those with: cryoet-release enqueue resume {ledger.batch}",
        )


def _print_plan(output: Output, plan: Plan) -> None:
    output.table(
        ["execution name", "job", "input bytes"],
        ([job.name, job.key, job.size] for job in plan.jobs),
        title=f"dry run: {len(plan.jobs)} {plan.kind} job(s) on {plan.target.state_machine_arn}",
    )
    for role, image in plan.images.items():
        output.info(f"{role}: {image}")


def _print_outcomes(output: Output, batch: str, outcomes: Sequence[Outcome]) -> None:
    failed = [outcome for outcome in outcomes if not outcome.started]
    output.table(
        ["execution name", "job", "status", "execution ARN / error"],
        (
            [
                o.job.name,
                o.job.key,
                "started" if o.started else "FAILED",
                o.execution_arn or f"{o.error_code}: {o.error}",
            ]
            for o in outcomes
        ),
        title=f"batch {batch}: {len(outcomes) - len(failed)} started, {len(failed)} failed",
    )
