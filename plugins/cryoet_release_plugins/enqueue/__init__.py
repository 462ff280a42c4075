"""`cryoet-release enqueue ...`: queue Step Functions jobs that run a chosen image tag.

Each subcommand is a declaration: its options, the kind of job it builds, and its defaults. Control flows one
way: command -> `kinds` (what to look up, how each job's arguments are made) -> `plan` -> `run` (confirm, ledger,
submit, report). The heavy modules are imported inside the commands so that `--help` stays light.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cryoet_release.context import GlobalOptions
from cryoet_release_plugins.enqueue.ingest import WithIngestOptions, given_ingest_options
from cryoet_release_plugins.enqueue.options import (
    DEFAULT_TAG,
    DEFAULTS,
    RAW_DATA_BUCKET,
    BatchName,
    DryRun,
    EcrRepo,
    EcrTag,
    Environment,
    ExcludeDataset,
    FilterDatasets,
    IncludeDataset,
    KeepsOptionOrder,
    PinDigest,
    S3Prefix,
    SkipImageCheck,
    Yes,
    in_command_line_order,
    memory_option,
    option_order,
    wdl_key_option,
)
from cryoet_release_plugins.options import DEFAULT_PARALLELISM, LedgerDir, Parallelism

if TYPE_CHECKING:
    from cryoet_release.config import ReleaseConfig
    from cryoet_release_plugins.enqueue.jobs import DatasetSelection
    from cryoet_release_plugins.enqueue.kinds import Kind

app = typer.Typer(
    help="Queue the ingestion jobs that run an image tag. Each is a Step Functions execution.", no_args_is_help=True
)

# The importer's options that db-import passes on, in its own declaration order (jobs.IMPORT_FLAGS).
_IMPORTER_OPTIONS = (
    *(
        f"import_{name}"
        for name in (
            "annotations", "annotation_authors", "annotation_method_links", "dataset_authors", "dataset_funding",
            "depositions", "runs", "alignments", "gains", "identified_objects", "frames", "frame_acquisition_files",
            "tiltseries", "tomograms", "tomogram_authors", "tomogram_voxel_spacing", "everything",
        )
    ),
    "deposition_id",
    "anonymous",
)  # fmt: skip


def _submit(
    ctx: typer.Context,
    kind: "Kind",
    *,
    environment: str,
    runs_on: str | None = None,
    ecr_repo: str | None,
    ecr_tag: str | None,
    memory: int | None,
    parallelism: int,
    swipe_wdl_key: str | None,
    pin_digest: bool,
    skip_image_check: bool,
    dry_run: bool,
    yes: bool,
    batch: str | None,
    ledger_dir: Path | None,
    with_apiv2: bool = False,
) -> None:
    """Validate the options every subcommand shares, then plan and submit the jobs of `kind`.

    `runs_on`: the environment whose state machine runs the jobs, when it is not `environment`.
    """
    from cryoet_release.models import Environment as Env
    from cryoet_release.models import validate_option
    from cryoet_release_plugins.enqueue.jobs import CommonOptions
    from cryoet_release_plugins.enqueue.plan import Request
    from cryoet_release_plugins.enqueue.run import enqueue

    opts = ctx.ensure_object(GlobalOptions)
    settings = opts.config().config
    common = CommonOptions(
        environment=validate_option(Env, environment, "environment"),
        ecr_repo=ecr_repo or settings.images["ingestor"].repository,
        ecr_tag=ecr_tag or DEFAULT_TAG,
        tag_defaulted=ecr_tag is None,
        memory=memory or DEFAULTS[kind.name].memory,
        parallelism=parallelism,
        swipe_wdl_key=swipe_wdl_key or DEFAULTS[kind.name].wdl_key,
        pin_digest=pin_digest,
        skip_image_check=skip_image_check,
        dry_run=dry_run,
        yes=yes,
        batch=batch,
        ledger_dir=ledger_dir,
    )
    repositories = {"docker_image_id": common.ecr_repo}
    if with_apiv2:
        repositories["v2_docker_image_id"] = settings.images["apiv2"].repository
    target_environment = Env(runs_on) if runs_on else common.environment
    enqueue(opts, Request(kind, common, target_environment, repositories))


def _config(ctx: typer.Context) -> "ReleaseConfig":
    return ctx.ensure_object(GlobalOptions).config().config


def _environment(ctx: typer.Context, name: str) -> Any:
    """The environment's config (bucket, https prefix, ...); raises UsageError for an unknown name."""
    from cryoet_release.models import Environment as Env
    from cryoet_release.models import validate_option

    return _config(ctx).environments[validate_option(Env, name, "environment")]


def _selection(
    s3_prefix: str,
    include_dataset: list[str] | None,
    filter_datasets: list[str] | None,
    exclude_dataset: list[str] | None,
) -> "DatasetSelection":
    from cryoet_release_plugins.enqueue.jobs import DatasetSelection

    return DatasetSelection.model_validate(
        {
            "s3_prefix": s3_prefix,
            "include_dataset": include_dataset or [],
            "filter_datasets": filter_datasets or [],
            "exclude_dataset": exclude_dataset or [],
        }
    )


def _import_flag(name: str) -> Any:
    what = (
        "every kind of metadata"
        if name == "everything"
        else name.replace("-", " ").replace("tiltseries", "tilt series")
    )
    return typer.Option(
        f"--import-{name}", help=f"The importer imports {what} (its own flag).", rich_help_panel="Import"
    )


@app.command("db-import")
def db_import(
    ctx: typer.Context,
    environment: Environment = "staging",
    ecr_repo: EcrRepo = None,
    ecr_tag: EcrTag = None,
    memory: Annotated[int | None, memory_option("db-import")] = None,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    swipe_wdl_key: Annotated[str | None, wdl_key_option("db-import")] = None,
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    yes: Yes = False,
    s3_bucket: Annotated[str | None, typer.Option(help="Bucket to import from (default: the environment's).")] = None,
    https_prefix: Annotated[str | None, typer.Option(help="HTTPS prefix of that bucket (default: the env's).")] = None,
    s3_prefix: S3Prefix = "",
    debug: Annotated[bool, typer.Option(help="Pass --debug to the importer.")] = True,
    include_dataset: IncludeDataset = None,
    filter_datasets: FilterDatasets = None,
    exclude_dataset: ExcludeDataset = None,
    deposition_id: Annotated[
        list[str] | None, typer.Option(metavar="ID", help="Import this deposition (repeatable).")
    ] = None,
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="The importer reads the bucket anonymously (and so do the checks).")
    ] = False,
    import_annotations: Annotated[bool, _import_flag("annotations")] = False,
    import_annotation_authors: Annotated[bool, _import_flag("annotation-authors")] = False,
    import_annotation_method_links: Annotated[bool, _import_flag("annotation-method-links")] = False,
    import_dataset_authors: Annotated[bool, _import_flag("dataset-authors")] = False,
    import_dataset_funding: Annotated[bool, _import_flag("dataset-funding")] = False,
    import_depositions: Annotated[bool, _import_flag("depositions")] = False,
    import_runs: Annotated[bool, _import_flag("runs")] = False,
    import_alignments: Annotated[bool, _import_flag("alignments")] = False,
    import_gains: Annotated[bool, _import_flag("gains")] = False,
    import_identified_objects: Annotated[bool, _import_flag("identified-objects")] = False,
    import_frames: Annotated[bool, _import_flag("frames")] = False,
    import_frame_acquisition_files: Annotated[bool, _import_flag("frame-acquisition-files")] = False,
    import_tiltseries: Annotated[bool, _import_flag("tiltseries")] = False,
    import_tomograms: Annotated[bool, _import_flag("tomograms")] = False,
    import_tomogram_authors: Annotated[bool, _import_flag("tomogram-authors")] = False,
    import_tomogram_voxel_spacing: Annotated[bool, _import_flag("tomogram-voxel-spacing")] = False,
    import_everything: Annotated[bool, _import_flag("everything")] = False,
) -> None:
    """Import datasets into the portal's database. One job per dataset; the importer runs the ingestor image."""
    from cryoet_release.models import BucketName, DatasetId, validate_option
    from cryoet_release_plugins.enqueue.jobs import importer_flags
    from cryoet_release_plugins.enqueue.kinds import DbImport

    for deposition in deposition_id or []:
        validate_option(DatasetId, deposition, "deposition-id")
    env = _environment(ctx, environment)
    given = {name: ctx.params[name] for name in _IMPORTER_OPTIONS}
    kind = DbImport(
        bucket=validate_option(BucketName, s3_bucket, "s3-bucket") if s3_bucket else env.bucket,
        https_prefix=https_prefix or env.https_prefix,
        environment=environment,
        selection=_selection(s3_prefix, include_dataset, filter_datasets, exclude_dataset),
        flags=importer_flags(in_command_line_order(ctx, given)),
        debug=debug,
        anonymous=anonymous,
    )
    _submit(
        ctx, kind, environment=environment, ecr_repo=ecr_repo, ecr_tag=ecr_tag, memory=memory,
        parallelism=parallelism, swipe_wdl_key=swipe_wdl_key, pin_digest=pin_digest,
        skip_image_check=skip_image_check, dry_run=dry_run, yes=yes, batch=batch, ledger_dir=ledger_dir,
        with_apiv2=True,
    )  # fmt: skip


@app.command("sync", cls=KeepsOptionOrder)
def sync(
    ctx: typer.Context,
    environment: Environment = "staging",
    ecr_repo: EcrRepo = None,
    ecr_tag: EcrTag = None,
    memory: Annotated[int | None, memory_option("sync")] = None,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    swipe_wdl_key: Annotated[str | None, wdl_key_option("sync")] = None,
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    yes: Yes = False,
    input_bucket: Annotated[
        str | None, typer.Option(help="Bucket to sync from [default: the staging environment's bucket].")
    ] = None,
    output_bucket: Annotated[
        str | None, typer.Option(help="Bucket to sync to [default: the prod environment's bucket].")
    ] = None,
    include: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="aws s3 sync --include pattern (order kept).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="aws s3 sync --exclude pattern (order kept).")
    ] = None,
    delete_files: Annotated[
        bool, typer.Option("--delete-files", help="Pass --delete: remove files absent from the input.")
    ] = False,
    dryrun: Annotated[
        bool, typer.Option("--dryrun", help="Each job runs `aws s3 sync --dryrun` (jobs ARE submitted).")
    ] = False,
    s3_prefix: S3Prefix = "",
    include_dataset: IncludeDataset = None,
    filter_datasets: FilterDatasets = None,
    exclude_dataset: ExcludeDataset = None,
    include_deposition: Annotated[
        list[str] | None, typer.Option(metavar="ID", help="Also sync depositions_metadata/<id> (repeatable).")
    ] = None,
    sync_dataset: Annotated[bool, typer.Option(help="Sync the selected datasets (off: depositions only).")] = True,
) -> None:
    """Copy datasets and depositions between buckets. One aws s3 sync job per dataset and deposition."""
    from cryoet_release.models import BucketName, DatasetId, validate_option
    from cryoet_release.models import Environment as Env
    from cryoet_release_plugins.enqueue.jobs import sync_flags
    from cryoet_release_plugins.enqueue.kinds import Sync

    depositions = [validate_option(DatasetId, d, "include-deposition") for d in include_deposition or []]
    environments = _config(ctx).environments
    kind = Sync(
        input_bucket=validate_option(BucketName, input_bucket or environments[Env.STAGING].bucket, "input-bucket"),
        output_bucket=validate_option(BucketName, output_bucket or environments[Env.PROD].bucket, "output-bucket"),
        selection=_selection(s3_prefix, include_dataset, filter_datasets, exclude_dataset) if sync_dataset else None,
        depositions=depositions,
        flags=sync_flags(option_order(ctx), delete=delete_files, dryrun=dryrun),
    )
    if dryrun and not dry_run:
        ctx.ensure_object(GlobalOptions).output.warn(
            "--dryrun: the jobs ARE submitted, and each runs `aws s3 sync --dryrun` (copies nothing);"
            " --dry-run would submit nothing"
        )
    _submit(
        ctx, kind, environment=environment, ecr_repo=ecr_repo, ecr_tag=ecr_tag, memory=memory,
        parallelism=parallelism, swipe_wdl_key=swipe_wdl_key, pin_digest=pin_digest,
        skip_image_check=skip_image_check, dry_run=dry_run, yes=yes, batch=batch, ledger_dir=ledger_dir,
    )  # fmt: skip


@app.command("validate")
def validate(
    ctx: typer.Context,
    dataset_ids: Annotated[list[str], typer.Argument(help="Dataset ids to validate.", show_default=False)],
    environment: Annotated[
        str,
        typer.Option(
            help="staging | prod: which bucket's datasets to validate (the jobs always run on staging).",
            metavar="ENV",
        ),
    ] = "staging",
    ecr_repo: EcrRepo = None,
    ecr_tag: EcrTag = None,
    memory: Annotated[int | None, memory_option("validate")] = None,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    swipe_wdl_key: Annotated[str | None, wdl_key_option("validate")] = None,
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    yes: Yes = False,
) -> None:
    """Validate standardized datasets. One job per id; reports go to <env>_validation in the staging bucket."""
    from cryoet_release.models import DatasetId, validate_option
    from cryoet_release.models import Environment as Env
    from cryoet_release_plugins.enqueue.kinds import Validate

    datasets = [validate_option(DatasetId, d, "DATASET_IDS") for d in dataset_ids]
    kind = Validate(
        datasets=datasets,
        input_bucket=_environment(ctx, environment).bucket,
        output_bucket=_config(ctx).environments[Env.STAGING].bucket,
        output_dir=f"{environment}_validation",
    )
    _submit(
        ctx, kind, environment=environment, runs_on="staging", ecr_repo=ecr_repo, ecr_tag=ecr_tag, memory=memory,
        parallelism=parallelism, swipe_wdl_key=swipe_wdl_key, pin_digest=pin_digest,
        skip_image_check=skip_image_check, dry_run=dry_run, yes=yes, batch=batch, ledger_dir=ledger_dir,
    )  # fmt: skip


@app.command("source-validate")
def source_validate(
    ctx: typer.Context,
    config_file: Annotated[str, typer.Argument(help="Dataset config file, as the job's image sees it.")],
    input_bucket: Annotated[
        str, typer.Argument(help="Bucket holding the source data the config describes.")
    ] = RAW_DATA_BUCKET,
    ecr_repo: EcrRepo = None,
    ecr_tag: EcrTag = None,
    memory: Annotated[int | None, memory_option("source-validate")] = None,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    swipe_wdl_key: Annotated[str | None, wdl_key_option("source-validate")] = None,
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    yes: Yes = False,
) -> None:
    """Validate the source data of a dataset config. One job, on the staging state machine."""
    from cryoet_release.models import BucketName, validate_option
    from cryoet_release.models import Environment as Env
    from cryoet_release_plugins.enqueue.kinds import SourceValidate

    kind = SourceValidate(
        config_file=config_file,
        input_bucket=validate_option(BucketName, input_bucket, "INPUT_BUCKET"),
        output_bucket=_config(ctx).environments[Env.STAGING].bucket,
    )
    _submit(
        ctx, kind, environment="staging", ecr_repo=ecr_repo, ecr_tag=ecr_tag, memory=memory,
        parallelism=parallelism, swipe_wdl_key=swipe_wdl_key, pin_digest=pin_digest,
        skip_image_check=skip_image_check, dry_run=dry_run, yes=yes, batch=batch, ledger_dir=ledger_dir,
    )  # fmt: skip


@app.command("retry")
def retry(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="The batch (see `cryoet-release batches`).")],
    include_aborted: Annotated[
        bool, typer.Option("--include-aborted", help="Also retry jobs whose latest attempt was ABORTED.")
    ] = False,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    ledger_dir: LedgerDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the new attempts; submit nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before retrying a prod batch.")] = False,
) -> None:
    """Retry the jobs that failed. A new attempt (<name>-r1, -r2, ...) of each whose latest FAILED or TIMED_OUT."""
    from cryoet_release_plugins.enqueue.run import retry as retry_batch

    retry_batch(
        ctx.ensure_object(GlobalOptions), batch, parallelism=parallelism, ledger_dir=ledger_dir,
        include_aborted=include_aborted, dry_run=dry_run, yes=yes,
    )  # fmt: skip


@app.command("resume")
def resume(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="The batch to resume (see `cryoet-release batches`).")],
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    ledger_dir: LedgerDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the jobs it would submit; submit nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before resuming a prod batch.")] = False,
) -> None:
    """Submit what a batch has not started. Same names and inputs, so never twice."""
    from cryoet_release_plugins.enqueue.run import resume as resume_batch

    opts = ctx.ensure_object(GlobalOptions)
    resume_batch(opts, batch, parallelism=parallelism, ledger_dir=ledger_dir, dry_run=dry_run, yes=yes)


@app.command("queue", cls=WithIngestOptions)
def queue(
    ctx: typer.Context,
    config_file: Annotated[
        str, typer.Argument(metavar="CONFIG_FILE", help="The dataset config (ingestion_tools/dataset_configs/*.yaml).")
    ],
    input_bucket: Annotated[
        str, typer.Argument(metavar="INPUT_BUCKET", help="Bucket (and key prefix) holding the source data.")
    ],
    output_path: Annotated[
        str, typer.Argument(metavar="OUTPUT_PATH", help="Bucket (and key prefix) the standardized data goes to.")
    ],
    environment: Environment = "staging",
    ecr_repo: EcrRepo = None,
    ecr_tag: EcrTag = None,
    memory: Annotated[int | None, memory_option("queue")] = None,
    parallelism: Parallelism = DEFAULT_PARALLELISM,
    swipe_wdl_key: Annotated[str | None, wdl_key_option("queue")] = None,
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    yes: Yes = False,
    https_prefix: Annotated[
        str | None, typer.Option(help="HTTPS prefix the jobs write into metadata [default: the prod one].")
    ] = None,
    write_mrc: Annotated[bool, typer.Option(help="The jobs write MRC volumes.")] = True,
    write_zarr: Annotated[bool, typer.Option(help="The jobs write Zarr volumes.")] = True,
    force_overwrite: Annotated[
        bool, typer.Option("--force-overwrite", help="The jobs overwrite existing output.")
    ] = False,
    skip_until_run_name: Annotated[
        str | None,
        typer.Option(metavar="REGEX", help="Skip runs until one whose name starts with a match (across datasets)."),
    ] = None,
    import_everything: Annotated[
        bool,
        typer.Option(
            "--import-everything", help="Import everything.", rich_help_panel="Ingest options (forwarded to each job)"
        ),
    ] = False,
    import_all_metadata: Annotated[
        bool,
        typer.Option(
            "--import-all-metadata",
            help="Import the metadata of everything.",
            rich_help_panel="Ingest options (forwarded to each job)",
        ),
    ] = False,
) -> None:
    """Standardize the runs a dataset config finds. One job per run found in the input bucket."""
    from cryoet_release.models import Environment as Env
    from cryoet_release.models import validate_option
    from cryoet_release_plugins.enqueue.ingest import run_flags
    from cryoet_release_plugins.enqueue.kinds import Queue, job_config_path
    from cryoet_release_plugins.enqueue.runs import load_config

    opts = ctx.ensure_object(GlobalOptions)
    validate_option(Env, environment, "environment")  # before the config is read, as the old command did
    given = given_ingest_options(ctx)
    sent, warning = job_config_path(config_file, Path.cwd())
    if warning:
        opts.output.warn(warning)
    kind = Queue(
        config=load_config(config_file),
        config_file=sent,
        input_bucket=input_bucket,
        output_path=output_path,
        run_flags=lambda dataset, run: run_flags(
            https_prefix=https_prefix, import_everything=import_everything, import_all_metadata=import_all_metadata,
            write_mrc=write_mrc, write_zarr=write_zarr, force_overwrite=force_overwrite,
            options=list(given.items()), dataset=dataset, run=run,
        ),
        filters={
            name.strip("-").replace("-", "_"): given.get(name, [])
            for name in ("--filter-dataset-name", "--exclude-dataset-name", "--filter-run-name", "--exclude-run-name")
        },
        skip_until_run_name=skip_until_run_name,
        reads_from_image=Path(os.path.abspath(config_file)) if warning is None else None,  # in a portal checkout
    )  # fmt: skip
    _submit(
        ctx, kind, environment=environment, ecr_repo=ecr_repo, ecr_tag=ecr_tag, memory=memory,
        parallelism=parallelism, swipe_wdl_key=swipe_wdl_key, pin_digest=pin_digest,
        skip_image_check=skip_image_check, dry_run=dry_run, yes=yes, batch=batch, ledger_dir=ledger_dir,
    )  # fmt: skip
