"""One enqueue, start to end: plan -> (dry run: print) -> confirm -> ledger -> submit -> report; resume and retry.

Shared by every command that queues a batch (`enqueue <kind>`, `enqueue resume`, `enqueue retry`, `compare queue`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryoet_release import aws as cloud
from cryoet_release import batches
from cryoet_release.console import Output, plural
from cryoet_release.context import GlobalOptions
from cryoet_release.contract import Job, attempt_input, attempt_name, new_batch_id
from cryoet_release.errors import AwsError, Interrupted, OperationFailed, UsageError
from cryoet_release.executions import collect
from cryoet_release.kinds import Kind
from cryoet_release.models import Environment
from cryoet_release.submission import NAME_TAKEN, Outcome, Submission, recorder
from cryoet_release_plugins.batch.ledgers import batch_command, folder, load_batch, sandbox_gone
from cryoet_release_plugins.batch.plan import Plan, Request, plan_batch
from cryoet_release_plugins.options import SANDBOX_ENV

if TYPE_CHECKING:
    from cryoet_release_plugins.batch.common import Common


class Aborted(OperationFailed):
    """The user answered no (or nothing: end of input) at the prod prompt."""


def enqueue_kind(
    opts: GlobalOptions, kind: Kind, common: Common, *, command_line: Sequence[tuple[str, Any]] = ()
) -> Plan:
    """`enqueue <kind>`: resolve the common options for the kind, then enqueue (see `enqueue`)."""
    resolved = common.resolve(type(kind), opts.config().config)
    return enqueue(opts, Request(kind, resolved, command_line))


def enqueue(opts: GlobalOptions, request: Request, *, show: bool = True) -> Plan:
    """Plan the batch, and unless it is a dry run, confirm (prod), write its ledger and submit. Returns the plan.
    `show`: print the plan (dry run) or the outcomes as the command's result; a caller that queues several batches
    prints its own.

    Raises OperationFailed if any submission failed (the ledger says which; resume retries them).
    """
    staged = stage(opts, request)
    plan, common, output = staged.plan, request.common, opts.output
    if not plan.jobs:
        output.warn(f"nothing to enqueue: {request.kind.nothing_found(plan.planning)}")
        if show:
            output.result({**plan.summary(), "dry_run": common.dry_run, "executions": []}, lambda: None)
    elif common.dry_run:
        if show:
            print_plan(output, plan, show_input=common.show_input)
    else:
        launch(opts, staged, show=show)
    return plan


@dataclass(frozen=True)
class Staged:
    """A batch planned and checked, nothing written or submitted yet."""

    plan: Plan
    request: Request
    directory: Path
    aws: cloud.Aws


def stage(opts: GlobalOptions, request: Request) -> Staged:
    """Every check and the plan, before anything is written or submitted: a caller that queues several batches
    stages them all first, so that a refusal of the last submits none."""
    common = request.common
    prod = request.environment is Environment.PROD
    if prod and not (common.dry_run or common.yes or opts.process.interactive):
        raise UsageError("--environment prod asks for confirmation: run it on a terminal, or pass --yes")
    directory = folder(opts, common.ledger_dir)
    # Before any AWS call: a ledger folder that cannot be is a usage error (a dry run only looks, creating nothing).
    if common.dry_run:
        batches.check_folder(directory)
    else:
        batches.make_folder(directory)
    batch = batches.check_batch_name(common.batch) if common.batch is not None else new_batch_id()
    if batches.ledger_path(directory, batch).exists():  # a dry run says so too: the real run would be refused
        raise UsageError(
            f"batch {batch!r} already exists in {directory}",
            hint=batch_command(opts, "enqueue resume", batch, directory),
        )
    aws = opts.aws(max_pool_connections=common.parallelism)
    loaded = opts.config()
    plan = plan_batch(
        aws, loaded.config, request, opts.output, batch=batch, cwd=opts.process.cwd,
        branch_tag=_branch_tag(loaded.root),
    )  # fmt: skip
    return Staged(plan, request, directory, aws)


def launch(opts: GlobalOptions, staged: Staged, *, show: bool = True) -> None:
    """Confirm (prod), write the batch's ledger, and submit its jobs."""
    plan, common, output = staged.plan, staged.request.common, opts.output
    _announce(output, plan, defaulted=common.tag_defaulted)
    if staged.request.environment is Environment.PROD and not common.yes:
        _confirm(opts, plan)
    header = batches.Header(
        batch=plan.batch,
        kind=plan.kind,
        environment=plan.environment,
        region=plan.target.region,
        account=plan.account,
        state_machine=plan.target.state_machine_arn,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        images=dict(plan.images.refs),
        parameters=common.model_dump(mode="json", exclude={"ledger_dir", "dry_run", "yes", "show_input"}),
        sandbox=opts.environ.get(SANDBOX_ENV) or None,
    )
    with batches.locked(staged.directory, plan.batch):
        ledger = batches.create(staged.directory, header, ((job.name, job.key, job.document) for job in plan.jobs))
        output.info(f"batch {plan.batch}: ledger {ledger.path}")
        _submit(opts, staged.aws, ledger, plan.jobs, common.parallelism, show=show)


def _branch_tag(root: Path) -> str | None:
    """The current git branch as an image tag, if there is one."""
    from cryoet_release import git
    from cryoet_release.models import branch_to_tag

    branch = git.current_branch(root)
    try:
        return branch_to_tag(branch) if branch else None
    except ValueError:
        return None


def _announce(output: Output, plan: Plan, *, defaulted: bool) -> None:
    """Which images the jobs run, said before anything is submitted."""
    for role, ref in plan.images.refs.items():
        digest = plan.images.digests.get(role)
        known = f" ({digest})" if digest and digest not in ref else ""
        output.info(f"{role}: {ref}{known}{' (tag by default)' if defaulted else ''}")
    for note in plan.notes:
        output.warn(note)


def _confirm(opts: GlobalOptions, plan: Plan) -> None:
    output = opts.output
    output.info(f"About to submit {plural(len(plan.jobs), f'{plan.kind} job')} to PROD:")
    output.info(f"  batch: {plan.batch}")
    output.info(f"  state machine: {plan.target.state_machine_arn}")
    for role, ref in plan.images.refs.items():
        output.info(f"  {role}: {ref}")
    _ask(opts, "Submit?")


def _ask(opts: GlobalOptions, question: str) -> None:
    """Raises Aborted (exit 1) unless the answer is yes; end of input (Ctrl-D) is a no. Ctrl-C is an interrupt."""
    if not opts.confirm(question):
        raise Aborted("aborted: nothing was submitted")


def resume(
    opts: GlobalOptions,
    batch: str,
    *,
    parallelism: int,
    ledger_dir: Path | None,
    dry_run: bool = False,
    yes: bool = False,
) -> None:
    """Submit exactly the jobs of a batch not confirmed started, under the same names and inputs.

    A prod batch asks first, as enqueue does (`yes` skips the question; off a terminal it is required).
    """
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    directory = folder(opts, ledger_dir)
    ledger = load_batch(directory, batch)  # an unknown batch is a usage error before taking any lock
    if dry_run:
        pending = ledger.pending()
        output.result(
            {"batch": batch, "dry_run": True, "to_submit": [{"name": e.name, "key": e.key} for e in pending]},
            lambda: output.table(
                ["execution name", "job", "last outcome"],
                ([e.name, e.key, e.error_code or e.status] for e in pending),
                title=f"dry run: resume of {batch} would submit {plural(len(pending), 'job')}",
            ),
        )
        return
    aws = None
    if ledger.pending():
        jobs = f"the {plural(len(ledger.pending()), 'unconfirmed job')}"
        _ask_for_prod(opts, ledger, yes=yes, doing="resuming", jobs=jobs)
        aws = _session(opts, ledger, parallelism)  # the credentials, before anything is written
    with batches.locked(directory, batch):
        ledger = load_batch(directory, batch)  # as it is now that we hold the lock
        if not ledger.pending():
            output.result(
                {**_batch_summary(ledger), "submitted": 0, "started": 0, "failed": 0, "executions": []},
                lambda: output.info(f"batch {batch}: every job is confirmed started; nothing to resume"),
            )
            return
        _submit_pending(opts, aws or _session(opts, ledger, parallelism), ledger, parallelism)


def _ask_for_prod(opts: GlobalOptions, ledger: batches.Ledger, *, yes: bool, doing: str, jobs: str) -> None:
    """A prod batch asks first, as enqueue does: a question on a terminal, and off one --yes is required."""
    if ledger.header.environment != Environment.PROD.value or yes:
        return
    if not opts.process.interactive:
        raise UsageError(f"{doing} a prod batch asks for confirmation: run it on a terminal, or pass --yes")
    _ask(opts, f"Submit {jobs} of batch {ledger.batch} ({ledger.header.kind}) to PROD?")


def _submit_pending(
    opts: GlobalOptions, aws: cloud.Aws, ledger: batches.Ledger, parallelism: int, planned: Sequence[Any] = ()
) -> None:
    """Under the batch's lock: plan the `planned` new attempts, then submit whatever the ledger has not seen
    started (each exactly once: same names, same inputs)."""
    output = opts.output
    ledger.repair_tail()
    ledger.add_attempts(planned)
    _adopt_recorded(ledger, output)
    pending = ledger.pending()
    output.info(
        f"batch {ledger.batch}: {len(ledger.entries) - len(pending)} confirmed started, {len(pending)} to submit"
    )
    jobs = [Job(key=entry.key, name=entry.name, document=entry.document) for entry in pending]
    _submit(opts, aws, ledger, jobs, parallelism)


def _adopt_recorded(ledger: batches.Ledger, output: Output) -> None:
    """A job the ledger has not seen started, whose execution `status` already read (final, with this job's own
    input), started: it is recorded so, and not asked about again."""
    from cryoet_release.executions import FinalStates

    known = FinalStates(ledger).load()
    adopted = 0
    for entry in ledger.pending():
        final = known.get(entry.name)
        if final is not None and final.input_sha256 == entry.input_sha256:
            ledger.record_started(entry.name, final.arn, final.start_date)
            adopted += 1
    if adopted:
        output.info(f"batch {ledger.batch}: {plural(adopted, 'job')} already ran (read by status), recorded started")


RETRIED = frozenset({"FAILED", "TIMED_OUT"})


def retry(
    opts: GlobalOptions,
    batch: str,
    *,
    parallelism: int,
    ledger_dir: Path | None,
    include_aborted: bool = False,
    dry_run: bool = False,
    yes: bool = False,
) -> None:
    """A new attempt of every job whose latest execution FAILED or TIMED_OUT (and ABORTED, `include_aborted`),
    named `<first name>-r<n>` and recorded in the batch's ledger, then submitted with whatever else the ledger
    has not seen started (exactly once, as resume)."""
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    directory = folder(opts, ledger_dir)
    ledger = load_batch(directory, batch)
    aws = _session(opts, ledger, parallelism)
    wanted = RETRIED | ({"ABORTED"} if include_aborted else set())
    failed = {state.name for state in collect(aws, ledger, parallelism=parallelism) if state.state in wanted}
    again = [entry for entry in ledger.latest() if entry.name in failed]
    attempts = [
        (entry, name, attempt_input(entry.document, entry.name, name))
        for entry in again
        for name in [attempt_name(entry.job, entry.attempt + 1)]
    ]
    if dry_run:
        output.result(
            {
                "batch": batch,
                "dry_run": True,
                "attempts": [{"name": n, "key": e.key, "retry_of": e.name} for e, n, _ in attempts],
            },
            lambda: output.table(
                ["new execution name", "job", "failed attempt"],
                ([name, entry.key, entry.name] for entry, name, _ in attempts),
                title=f"dry run: retry of {batch} would submit {plural(len(attempts), 'new attempt')}",
            ),
        )
        return
    if not attempts:
        output.result(
            {**_batch_summary(ledger), "submitted": 0, "started": 0, "failed": 0, "executions": []},
            lambda: output.info(f"batch {batch}: no job's latest attempt failed; nothing to retry"),
        )
        return
    _ask_for_prod(
        opts, ledger, yes=yes, doing="retrying", jobs=f"{plural(len(attempts), 'new attempt')} of failed jobs"
    )
    with batches.locked(directory, batch):
        ledger = load_batch(directory, batch)  # as it is now that we hold the lock
        latest = {entry.name for entry in ledger.latest()}
        output.info(f"batch {batch}: {plural(len(attempts), 'new attempt')} of the jobs that failed")
        _submit_pending(opts, aws, ledger, parallelism, [a for a in attempts if a[0].name in latest])


def _session(opts: GlobalOptions, ledger: batches.Ledger, parallelism: int) -> cloud.Aws:
    """A session in the batch's region, refused when its account is not the batch's."""
    aws = opts.aws(region=ledger.header.region, max_pool_connections=parallelism)
    try:
        account = aws.account
    except AwsError as error:
        raise sandbox_gone(ledger, error) from None
    if account != ledger.header.account:
        raise AwsError(
            f"batch {ledger.batch} was queued in account {ledger.header.account}, but these credentials are for"
            f" {aws.account}",
            hint="Use the AWS profile the batch was queued with (--profile)",
        )
    return aws


def _batch_summary(ledger: batches.Ledger) -> dict[str, Any]:
    return {
        **ledger.summary(),
        "ledger": str(ledger.path),
        "jobs": len(ledger.latest()),
        "attempts": len(ledger.entries),
    }


def _submit(
    opts: GlobalOptions,
    aws: cloud.Aws,
    ledger: batches.Ledger,
    jobs: Sequence[Job],
    parallelism: int,
    *,
    show: bool = True,
) -> None:
    output = opts.output
    submission = Submission(aws, ledger.header.state_machine, parallelism, record=recorder(ledger))
    outcomes = sorted(submission.run(jobs, output), key=lambda outcome: outcome.job.name)
    failed = [outcome for outcome in outcomes if not outcome.started]
    counts = ledger.counts()
    resume = batch_command(opts, "enqueue resume", ledger)
    (output.result if show else _unshown)(
        {
            **_batch_summary(ledger),
            "submitted": len(outcomes),
            "started": len(outcomes) - len(failed),
            "failed": len(failed),
            "batch_started": counts["started"],
            "interrupted": submission.interrupted,
            "executions": [outcome.as_json() for outcome in outcomes],
        },
        lambda: _print_outcomes(output, ledger.batch, outcomes),
    )
    if submission.interrupted:
        raise Interrupted(
            f"interrupted: {len(outcomes) - len(failed)} of this run's {plural(len(jobs), 'job')} started"
            f" ({counts['started']} of the batch's {len(ledger.entries)}); nothing more was sent",
            hint=f"Submit the rest with: {resume}",
        )
    if failed:
        taken = all(outcome.error_code == NAME_TAKEN for outcome in failed)  # resuming would meet the same names
        raise OperationFailed(
            f"{len(failed)} of {len(outcomes)} submissions failed (listed above)",
            hint="Enqueue again with another --batch" if taken else f"Retry exactly those with: {resume}",
        )


def _unshown(document: Any, render: Any) -> None:
    """A result the caller shows in its own (see enqueue's `show`)."""


def print_plan(output: Output, plan: Plan, *, show_input: bool = False) -> None:
    output.result(plan_document(plan), lambda: plan_table(output, plan, show_input=show_input))


def plan_document(plan: Plan) -> dict[str, Any]:
    """A dry run's plan as JSON: every job's name, key, size and full input."""
    return {
        **plan.summary(),
        "dry_run": True,
        "executions": [
            {"name": j.name, "key": j.key, "bytes": j.size, "found_at": j.found_at, "input": json.loads(j.document)}
            for j in plan.jobs
        ],
    }


def plan_table(output: Output, plan: Plan, *, show_input: bool = False) -> None:
    found = any(job.found_at for job in plan.jobs)
    output.table(
        ["execution name", "job", "input bytes", *(["found at"] if found else [])],
        ([job.name, job.key, job.size, *([job.found_at or "-"] if found else [])] for job in plan.jobs),
        title=f"dry run: {plural(len(plan.jobs), f'{plan.kind} job')} on {plan.target.state_machine_arn}",
    )
    for job in plan.jobs if show_input else ():
        output.plain(
            f"\n# {job.name} ({job.key}): the Step Functions input\n{json.dumps(json.loads(job.document), indent=2)}"
        )
    for role, image in plan.images.refs.items():
        output.info(f"{role}: {image}")
    for note in plan.notes:
        output.warn(note)


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
