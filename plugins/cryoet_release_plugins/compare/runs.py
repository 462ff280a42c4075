"""`compare trees`, and `compare queue` / `compare show`: a change's regression test from start to verdict.

`compare queue` plans the same runs twice, base and head, each writing to `<scratch>/<id>/base|head` (the scratch
bucket is never an environment's data bucket), submits them as two ordinary batches (`<id>-base`, `<id>-head`:
status, resume and retry work on them), records the comparison in the state folder, waits for the jobs, and compares
each dataset's output, run by run. A job that failed on either side is reported as a failure, never as a difference.
With `--base-tree`, the base is an existing tree (what staging holds) and only the head runs.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from cryoet_release import batches
from cryoet_release.console import Output, plural
from cryoet_release.context import GlobalOptions
from cryoet_release.errors import AwsError, UsageError
from cryoet_release.executions import FINAL, JobState, Tracker, counts
from cryoet_release.kinds import Kind
from cryoet_release.names import Environment
from cryoet_release_plugins.batch.ledgers import folder, load_batch, sandbox_gone
from cryoet_release_plugins.compare.options import CompareQueueOptions
from cryoet_release_plugins.compare.view import render, verdict_line
from cryoet_release_plugins.verdict.differ import Comparison, compare
from cryoet_release_plugins.verdict.trees import Tree, excluded

HEARTBEAT = 120.0
SIDES = ("base", "head")


# --- compare trees -----------------------------------------------------------------------------------------------


def compare_trees(
    opts: GlobalOptions,
    a: str,
    b: str,
    *,
    exclude: Sequence[str],
    profile_b: str | None,
    anonymous: bool,
    parallelism: int,
) -> None:
    """Raises typer.Exit(1) when the trees differ."""
    output = opts.output
    opts.config()  # a --config that does not exist is an error here too
    aws_a = opts.aws(max_pool_connections=4 * parallelism)
    aws_b = opts.aws(max_pool_connections=4 * parallelism, profile=profile_b) if profile_b else aws_a
    tree_a = Tree.parse(a, aws_a, name="A")
    tree_b = Tree.parse(b, aws_b, unsigned=anonymous, name="B")
    comparison = compare(tree_a, tree_b, workers=parallelism, skip=excluded(exclude))
    empty = [tree.url for tree, held in zip((tree_a, tree_b), comparison.held(), strict=True) if not held]
    said = " that --exclude leaves" if exclude else ""
    if len(empty) == 2:  # two mistyped prefixes would otherwise pass as identical
        raise UsageError(f"nothing to compare: no object{said} under {' nor '.join(empty)}")
    for url in empty:
        output.warn(f"no object{said} under {url}: is the prefix right?")
    output.result(comparison.document(), lambda: render(output, comparison))
    if not comparison.identical:
        raise typer.Exit(1)


# --- compare queue -------------------------------------------------------------------------------------------------


@dataclass
class Side:
    tag: str | None
    """The image tag it ran (None: an existing tree, not run)."""
    tree: str
    """`bucket/prefix` of its output (the queue jobs' OUTPUT_PATH)."""
    batch: str | None = None


@dataclass
class Record:
    """A comparison, as `compare show` finds it again: `<state>/compares/<id>.json`."""

    id: str
    created: str
    config_file: str
    input_bucket: str
    scratch: str
    base: Side
    head: Side
    runs: list[str] = field(default_factory=list)
    """The queued runs' keys (deposition/dataset/run)."""
    exclude: list[str] = field(default_factory=list)
    ledger_dir: str | None = None

    @classmethod
    def load(cls, path: Path) -> Record:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{**data, "base": Side(**data["base"]), "head": Side(**data["head"])})
        except FileNotFoundError:
            raise UsageError(f"no comparison {path.stem!r} in {path.parent}") from None
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise UsageError(f"{path}: not a comparison record ({error})") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        temporary.replace(path)


def records_folder(opts: GlobalOptions) -> Path:
    """Beside the batches (a sandbox's comparisons with its batches, apart from the real ones)."""
    return folder(opts, None).parent / "compares"


def _scratch(opts: GlobalOptions, given: str | None) -> tuple[str, str]:
    """The scratch tree as (bucket, prefix). Raises UsageError when there is none, or when it is a data bucket."""
    from cryoet_release.models import BucketName, validate_option

    config = opts.config().config
    scratch = given or config.compare.scratch
    if not scratch:
        raise UsageError(
            "compare queue needs a scratch tree for the two outputs",
            hint="Pass --scratch s3://bucket/prefix, or set compare.scratch in cryoet-release.toml",
        )
    bucket, _, prefix = scratch.removeprefix("s3://").partition("/")
    validate_option(BucketName, bucket, "scratch")
    for name, environment in config.environments.items():
        if bucket == environment.bucket:
            raise UsageError(
                f"--scratch {scratch} is inside the {name} data bucket {bucket}: a comparison must never write"
                " where released data lives",
                hint="Use a scratch bucket of its own (compare.scratch in cryoet-release.toml)",
            )
    return bucket, prefix.strip("/")


def run_regression(
    opts: GlobalOptions,
    queue: type[Kind],
    values: Mapping[str, Any],
    options: CompareQueueOptions,
    *,
    command_line: Sequence[tuple[str, Any]] = (),
) -> None:
    from cryoet_release import git
    from cryoet_release_plugins.batch.common import Common
    from cryoet_release_plugins.batch.flow import launch, plan_document, plan_table, stage
    from cryoet_release_plugins.batch.plan import Request

    output = opts.output
    if options.environment is Environment.PROD:
        raise UsageError("compare queue runs on staging only: a comparison never runs on prod")
    bucket, prefix = _scratch(opts, options.scratch)
    loaded = opts.config()
    head_tag = options.head or git.default_tag(loaded.root, opts.environ, option="--head")
    compare_id = f"cmp-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    root = f"{bucket}/{prefix}/{compare_id}" if prefix else f"{bucket}/{compare_id}"
    base_tree = options.base_tree.removeprefix("s3://").rstrip("/") if options.base_tree else None
    sides = {
        "base": Side(None if base_tree else options.base, base_tree or f"{root}/base"),
        "head": Side(head_tag, f"{root}/head"),
    }
    staged = {}  # both sides planned and their images checked before either is submitted
    for name, side in sides.items():
        if side.tag is None:
            continue
        make: Any = queue  # a kind is a dataclass of its options
        kind = make(**values, output_path=side.tree)
        common = Common(
            ecr_repo=options.ecr_repo, ecr_tag=side.tag, memory=options.memory, parallelism=options.parallelism,
            swipe_wdl_key=options.swipe_wdl_key, pin_digest=options.pin_digest,
            skip_image_check=options.skip_image_check, dry_run=options.dry_run, batch=f"{compare_id}-{name}",
            ledger_dir=options.ledger_dir,
        ).resolve(queue, loaded.config)  # fmt: skip
        output.info(f"{name}: {side.tag} into s3://{side.tree}/")
        staged[name] = stage(opts, Request(kind, common, command_line))
        side.batch = staged[name].plan.batch
    plans = {name: one.plan for name, one in staged.items()}
    if not plans["head"].jobs:
        raise UsageError(f"nothing to compare: {record_name(values)} finds no run in {values['input_bucket']}")
    if options.dry_run:

        def show_plans() -> None:
            for name, plan in plans.items():
                output.plain(f"{name}:")
                plan_table(output, plan)
            if base_tree:
                output.plain(f"base: the existing tree s3://{base_tree}/ (not run)")

        document = {"compare": compare_id, "dry_run": True, "scratch": f"s3://{root}/"}
        document |= {name: plan_document(plan) for name, plan in plans.items()}
        output.result(document | ({"base_tree": f"s3://{base_tree}/"} if base_tree else {}), show_plans)
        return
    record = Record(
        compare_id, datetime.now(UTC).isoformat(timespec="seconds"), values["config_file"], values["input_bucket"],
        f"s3://{root}/", sides["base"], sides["head"], [job.key for job in plans["head"].jobs],
        list(options.exclude or []), str(options.ledger_dir) if options.ledger_dir else None,
    )  # fmt: skip
    record.save(records_folder(opts) / f"{compare_id}.json")  # first: a batch that fails to submit is resumed
    for one in staged.values():
        launch(opts, one, show=False)
    output.info(f"comparison {compare_id}: `cryoet-release compare show {compare_id}` shows it again")
    if options.no_wait:
        output.result(
            {"compare": compare_id, "waiting": False, "base": asdict(record.base), "head": asdict(record.head)},
            lambda: output.plain(
                f"comparison {compare_id} submitted; see it with: cryoet-release compare show {compare_id}"
            ),
        )
        return
    _show(opts, record, wait=True, interval=options.interval, parallelism=options.parallelism)


def record_name(values: Mapping[str, Any]) -> str:
    return str(values.get("config_file", "the config"))


def show_comparison(opts: GlobalOptions, compare_id: str, *, wait: bool, interval: float, parallelism: int) -> None:
    opts.config()
    if not batches.BATCH_NAME.fullmatch(compare_id):
        raise UsageError(f"COMPARE_ID: {compare_id!r} is not a comparison id (cmp-...)")
    record = Record.load(records_folder(opts) / f"{compare_id}.json")
    _show(opts, record, wait=wait, interval=interval, parallelism=parallelism)


# --- waiting, then the verdict -----------------------------------------------------------------------------------


def _trackers(opts: GlobalOptions, record: Record, parallelism: int) -> dict[str, Tracker]:
    directory = folder(opts, Path(record.ledger_dir) if record.ledger_dir else None)
    trackers = {}
    for name, side in (("base", record.base), ("head", record.head)):
        if side.batch is None:
            continue
        ledger = load_batch(directory, side.batch)
        aws = opts.aws(region=ledger.header.region, max_pool_connections=parallelism)
        trackers[name] = Tracker(aws, ledger, parallelism=parallelism)
    return trackers


def _line(states: Mapping[str, Sequence[JobState]]) -> str:
    return " · ".join(
        f"{name}: " + ", ".join(f"{state} {count}" for state, count in counts(now).items() if count)
        for name, now in states.items()
    )


def _wait(output: Output, trackers: Mapping[str, Tracker], interval: float) -> dict[str, list[JobState]]:
    """Every side's states, once none of their jobs runs; a line on stderr at each change (and every few minutes)."""
    states = {name: tracker.states() for name, tracker in trackers.items()}
    shown, at = "", 0.0
    while True:
        line = _line(states)
        if line != shown or time.monotonic() - at >= HEARTBEAT:
            output.info(f"{datetime.now(UTC).strftime('%H:%M:%SZ')} {line}")
            shown, at = line, time.monotonic()
        if not any(
            state.state not in FINAL and state.state != "NOT_STARTED" for now in states.values() for state in now
        ):
            return states
        time.sleep(interval)
        states = {name: tracker.states() for name, tracker in trackers.items()}


def _show(opts: GlobalOptions, record: Record, *, wait: bool, interval: float, parallelism: int) -> None:
    """Raises typer.Exit(1) when the outputs differ or a job failed."""
    trackers = _trackers(opts, record, parallelism)
    try:
        _verdict(opts, record, trackers, wait=wait, interval=interval, parallelism=parallelism)
    except AwsError as error:  # a comparison made in a sandbox that has stopped says so
        raise sandbox_gone(trackers["head"].ledger, error) from None


def _verdict(
    opts: GlobalOptions, record: Record, trackers: Mapping[str, Tracker], *, wait: bool, interval: float,
    parallelism: int,
) -> None:  # fmt: skip
    output = opts.output
    if wait:
        states = _wait(output, trackers, interval)
    else:
        states = {name: tracker.states() for name, tracker in trackers.items()}
        if any(s.state == "RUNNING" for now in states.values() for s in now):
            output.result(
                {"compare": record.id, "done": False, "progress": _line(states)},
                lambda: output.plain(f"comparison {record.id}: still running ({_line(states)})"),
            )
            return
    failures = {
        name: [
            {"job": s.key, "name": s.name, "state": s.state, "error": s.error} for s in now if s.state != "SUCCEEDED"
        ]
        for name, now in states.items()
    }
    broken_runs = {s.key for now in states.values() for s in now if s.state != "SUCCEEDED"}
    comparisons = _compare_runs(opts, record, broken_runs, parallelism)
    differ = [(dataset, c) for dataset, c in comparisons if not c.identical]
    identical = not differ and not broken_runs
    outcome = [word for word, seen in (("failed", broken_runs), ("different", differ)) if seen]  # failures first
    verdict = " and ".join(outcome) or "identical"
    document = {
        "compare": record.id,
        "done": True,
        "identical": identical,
        "verdict": verdict,
        "base": asdict(record.base),
        "head": asdict(record.head),
        "failures": failures,
        "datasets": [{"dataset": dataset, **comparison.document()} for dataset, comparison in comparisons],
    }

    def show() -> None:
        for name, items in failures.items():
            for item in items:
                output.plain(
                    f"{name} job {item['job']} {item['state']}: {item['error'] or 'no error given'} (not compared)"
                )
        for dataset, comparison in comparisons:
            render(output, comparison, title=f"\ndataset {dataset}", names=SIDES)
        runs = plural(len(record.runs), "run")
        if identical:
            output.plain(f"\nverdict: no difference. head {record.head.tag} produced what base produced, {runs}")
        else:  # a failed job is a failure, never a difference
            said = " and ".join({"failed": "failures", "different": "differences"}[word] for word in outcome)
            found = [f"{plural(sum(len(i) for i in failures.values()), 'job')} failed"] if broken_runs else []
            found += [f"{dataset}: {verdict_line(c, SIDES)}" for dataset, c in differ]
            output.plain(f"\nverdict: {said} ({'; '.join(found)})")

    output.result(document, show)
    if not identical:
        raise typer.Exit(1)


def _skipping(folders: set[str], failures: set[str], leave_out: Callable[[str], bool]) -> Callable[[str], bool]:
    """An existing base tree holds runs that were not queued: only the folders head produced are compared, and not
    those of a run whose job failed."""

    def skip(key: str) -> bool:
        top, _, rest = key.partition("/")
        return (bool(rest) and (top not in folders or top in failures)) or leave_out(key)

    return skip


def _compare_runs(
    opts: GlobalOptions, record: Record, broken: set[str], parallelism: int
) -> list[tuple[str, Comparison]]:
    """Each dataset's output, base against head: the queued runs' folders and the dataset's own files; a run whose job
    failed on either side is left out (reported as a failure)."""
    from cryoet_release import aws as cloud

    aws = opts.aws(max_pool_connections=4 * parallelism)
    runs: dict[str, set[str]] = {}
    failed: dict[str, set[str]] = {}
    for key in record.runs:
        _, dataset, run = key.split("/", 2)
        runs.setdefault(dataset, set()).add(run)
        if key in broken:
            failed.setdefault(dataset, set()).add(run)
    found = []
    for dataset in sorted(runs):
        base = Tree.parse(f"{record.base.tree}/{dataset}", aws, name="base")
        head = Tree.parse(f"{record.head.tree}/{dataset}", aws, name="head")
        produced, _ = cloud.list_objects_level(aws, head.bucket, head.prefix)
        folders = {name.removeprefix(head.prefix).rstrip("/") for name in produced} | runs[dataset]
        skip = _skipping(folders, failed.get(dataset, set()), excluded(record.exclude))
        found.append((dataset, compare(base, head, workers=parallelism, skip=skip)))
    return found
