"""`cryoet-release enqueue ...`: queue Step Functions jobs that run a chosen image tag.

Options are parsed here and nothing else: validation lives in `jobs.py`, AWS work in `runner.py`, both imported
inside the commands so that `--help` stays light.
"""

import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from cryoet_release.context import GlobalOptions

if TYPE_CHECKING:
    from typer._click import Context

    from cryoet_release import aws as cloud
    from cryoet_release_plugins.enqueue.jobs import CommonOptions, DatasetSelection, JobSpec
    from cryoet_release_plugins.enqueue.runner import Plan

app = typer.Typer(help="Queue ingestion jobs (Step Functions) that run a chosen image tag.", no_args_is_help=True)

Environment = Annotated[str, typer.Option(help="staging | prod: which state machine, buckets and defaults.")]
EcrRepo = Annotated[str, typer.Option(help="ECR repository of the image the jobs run.")]
EcrTag = Annotated[str, typer.Option(help="Image tag the jobs run.")]
Memory = Annotated[int, typer.Option(help="Memory per job, MB.")]
Parallelism = Annotated[int, typer.Option(help="Concurrent submissions.")]
WdlKey = Annotated[str, typer.Option(help="Key of the WDL in the swipe-wdl bucket.")]
PinDigest = Annotated[
    bool,
    typer.Option(
        "--pin-digest", help="Run the image by digest, resolved now, so a moving tag cannot mix images in a batch."
    ),
]
SkipImageCheck = Annotated[
    bool, typer.Option("--skip-image-check", help="Do not check that the image tag exists before submitting.")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the plan (with --json, every input) and submit nothing.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before submitting to prod.")]
BatchName = Annotated[
    str | None, typer.Option("--batch", help="Batch name (default: UTC time + random); names the ledger.")
]
LedgerDir = Annotated[
    Path | None,
    typer.Option(help="Where batch ledgers live (default: $XDG_STATE_HOME/cryoet-release/batches).", file_okay=False),
]
S3Prefix = Annotated[str, typer.Option(help="Prefix under which datasets are listed.")]
IncludeDataset = Annotated[
    list[str] | None, typer.Option(metavar="ID", help="Only this dataset id (exact; repeatable).")
]
FilterDatasets = Annotated[
    list[str] | None, typer.Option(metavar="REGEX", help="Only dataset ids fully matching this regex (repeatable).")
]
ExcludeDataset = Annotated[
    list[str] | None, typer.Option(metavar="REGEX", help="Skip dataset ids fully matching this regex (repeatable).")
]


def _common(ctx: typer.Context, **forced: Any) -> "CommonOptions":
    from cryoet_release_plugins.enqueue.jobs import CommonOptions

    given = {name: ctx.params[name] for name in CommonOptions.model_fields if name in ctx.params}
    return CommonOptions.model_validate({**given, **forced})


def _selection(ctx: typer.Context) -> "DatasetSelection":
    from cryoet_release_plugins.enqueue.jobs import DatasetSelection

    given = {name: ctx.params.get(name) for name in DatasetSelection.model_fields}
    return DatasetSelection.model_validate({name: value for name, value in given.items() if value is not None})


def _submit(
    ctx: typer.Context, common: "CommonOptions", kind: str, repositories: Mapping[str, str], specs: Any
) -> None:
    from cryoet_release_plugins.enqueue.runner import Request, run_batch

    opts = ctx.ensure_object(GlobalOptions)
    dry_run, yes = ctx.params["dry_run"], ctx.params.get("yes", False)
    if common.environment == "prod" and not (dry_run or yes or sys.stdin.isatty()):
        from cryoet_release.errors import UsageError

        raise UsageError("--environment prod asks for confirmation: run it on a terminal, or pass --yes")

    def confirm(plan: "Plan") -> None:
        if plan.environment != "prod" or yes:
            return
        opts.output.info(f"About to submit {len(plan.jobs)} {plan.kind} job(s) to PROD:")
        for key, value in plan.summary().items():
            opts.output.info(f"  {key}: {value}")
        if not typer.confirm("Submit?", err=True):
            raise typer.Exit(1)

    request = Request(kind=kind, environment=common.environment.value, repositories=repositories, specs=specs)
    run_batch(opts, common, request, dry_run=dry_run, confirm=confirm)


@app.command("db-import")
def db_import(
    ctx: typer.Context,
    environment: Environment = "staging",
    ecr_repo: EcrRepo = "cryoet-staging",
    ecr_tag: EcrTag = "main",
    memory: Memory = 4000,
    parallelism: Parallelism = 20,
    swipe_wdl_key: WdlKey = "db_import-v0.0.3.wdl",
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
    anonymous: Annotated[bool, typer.Option("--anonymous", help="Pass --anonymous to the importer.")] = False,
    import_annotations: Annotated[bool, typer.Option("--import-annotations", rich_help_panel="Import")] = False,
    import_annotation_authors: Annotated[
        bool, typer.Option("--import-annotation-authors", rich_help_panel="Import")
    ] = False,
    import_annotation_method_links: Annotated[
        bool, typer.Option("--import-annotation-method-links", rich_help_panel="Import")
    ] = False,
    import_dataset_authors: Annotated[bool, typer.Option("--import-dataset-authors", rich_help_panel="Import")] = False,
    import_dataset_funding: Annotated[bool, typer.Option("--import-dataset-funding", rich_help_panel="Import")] = False,
    import_depositions: Annotated[bool, typer.Option("--import-depositions", rich_help_panel="Import")] = False,
    import_runs: Annotated[bool, typer.Option("--import-runs", rich_help_panel="Import")] = False,
    import_alignments: Annotated[bool, typer.Option("--import-alignments", rich_help_panel="Import")] = False,
    import_gains: Annotated[bool, typer.Option("--import-gains", rich_help_panel="Import")] = False,
    import_identified_objects: Annotated[
        bool, typer.Option("--import-identified-objects", rich_help_panel="Import")
    ] = False,
    import_frames: Annotated[bool, typer.Option("--import-frames", rich_help_panel="Import")] = False,
    import_frame_acquisition_files: Annotated[
        bool, typer.Option("--import-frame-acquisition-files", rich_help_panel="Import")
    ] = False,
    import_tiltseries: Annotated[bool, typer.Option("--import-tiltseries", rich_help_panel="Import")] = False,
    import_tomograms: Annotated[bool, typer.Option("--import-tomograms", rich_help_panel="Import")] = False,
    import_tomogram_authors: Annotated[
        bool, typer.Option("--import-tomogram-authors", rich_help_panel="Import")
    ] = False,
    import_tomogram_voxel_spacing: Annotated[
        bool, typer.Option("--import-tomogram-voxel-spacing", rich_help_panel="Import")
    ] = False,
    import_everything: Annotated[bool, typer.Option("--import-everything", rich_help_panel="Import")] = False,
) -> None:
    """One job per dataset: import it into the portal's database (the importer runs the ingestor image)."""
    from cryoet_release.models import DatasetId, validate_as
    from cryoet_release_plugins.enqueue import jobs
    from cryoet_release_plugins.enqueue.runner import discover_datasets

    common = _common(ctx)
    selection = _selection(ctx)
    depositions = [validate_as(DatasetId, d) for d in deposition_id or []]
    imports = [name for name in jobs.IMPORT_FLAGS if ctx.params[f"import_{name.replace('-', '_')}"]]
    flags = jobs.db_import_flags(imports, depositions, anonymous=anonymous)
    settings = ctx.ensure_object(GlobalOptions).config().config
    env = settings.environments[common.environment]
    bucket, prefix = s3_bucket or env.bucket, https_prefix or env.https_prefix

    def specs(aws: "cloud.Aws", images: Mapping[str, str]) -> list["JobSpec"]:
        datasets, _ = discover_datasets(aws, bucket, selection, parallelism=common.parallelism)
        return [
            jobs.JobSpec(
                dataset,
                jobs.db_import_arguments(
                    dataset,
                    s3_bucket=bucket,
                    https_prefix=prefix,
                    environment=common.environment.value,
                    flags=flags,
                    debug=debug,
                    v2_image=images["v2_docker_image_id"],
                ),
            )
            for dataset in datasets
        ]

    repositories = {"docker_image_id": common.ecr_repo, "v2_docker_image_id": settings.images["apiv2"].repository}
    _submit(ctx, common, "db-import", repositories, specs)


class _OrderedFilters(TyperCommand):
    """Keeps the command line, so --include/--exclude can be passed on in the order they were given."""

    def parse_args(self, ctx: "Context", args: list[str]) -> list[str]:
        ctx.meta["sync_argv"] = list(args)
        return super().parse_args(ctx, args)


def _filters_in_order(argv: list[str]) -> list[tuple[str, str]]:
    filters = []
    tokens = iter(argv)
    for arg in tokens:
        if arg == "--":
            break
        for kind in ("include", "exclude"):
            if arg == f"--{kind}":
                filters.append((kind, next(tokens, "")))
            elif arg.startswith(f"--{kind}="):
                filters.append((kind, arg.split("=", 1)[1]))
    return filters


@app.command("sync", cls=_OrderedFilters)
def sync(
    ctx: typer.Context,
    environment: Environment = "staging",
    ecr_repo: EcrRepo = "cryoet-staging",
    ecr_tag: EcrTag = "main",
    memory: Memory = 4000,
    parallelism: Parallelism = 20,
    swipe_wdl_key: WdlKey = "sync-v0.0.1.wdl",
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    yes: Yes = False,
    input_bucket: Annotated[str, typer.Option(help="Bucket to sync from.")] = "cryoet-data-portal-staging",
    output_bucket: Annotated[str, typer.Option(help="Bucket to sync to.")] = "cryoet-data-portal-public",
    include: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="aws s3 sync --include pattern (order kept).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="aws s3 sync --exclude pattern (order kept).")
    ] = None,
    delete_files: Annotated[
        bool, typer.Option("--delete-files", help="Pass --delete: remove files absent from the input.")
    ] = False,
    dryrun: Annotated[bool, typer.Option("--dryrun", help="Pass --dryrun to aws s3 sync in each job.")] = False,
    s3_prefix: S3Prefix = "",
    include_dataset: IncludeDataset = None,
    filter_datasets: FilterDatasets = None,
    exclude_dataset: ExcludeDataset = None,
    include_deposition: Annotated[
        list[str] | None, typer.Option(metavar="ID", help="Also sync depositions_metadata/<id> (repeatable).")
    ] = None,
    sync_dataset: Annotated[bool, typer.Option(help="Sync the selected datasets (off: depositions only).")] = True,
) -> None:
    """One job per dataset and per deposition: aws s3 sync from the input bucket to the output bucket."""
    from cryoet_release.models import DatasetId, validate_as
    from cryoet_release_plugins.enqueue import jobs
    from cryoet_release_plugins.enqueue.runner import discover_datasets

    common = _common(ctx)
    selection = _selection(ctx)
    depositions = [validate_as(DatasetId, d) for d in include_deposition or []]
    flags = jobs.sync_flags(_filters_in_order(ctx.meta["sync_argv"]), delete=delete_files, dryrun=dryrun)

    def specs(aws: "cloud.Aws", images: Mapping[str, str]) -> list["JobSpec"]:
        paths = []
        if sync_dataset:
            datasets, _ = discover_datasets(aws, input_bucket, selection, parallelism=common.parallelism)
            paths += [f"{selection.prefix}{dataset}" for dataset in datasets]
        paths += [f"depositions_metadata/{deposition}" for deposition in depositions]
        return [
            jobs.JobSpec(
                path, jobs.sync_arguments(path, input_bucket=input_bucket, output_bucket=output_bucket, flags=flags)
            )
            for path in paths
        ]

    _submit(ctx, common, "sync", {"docker_image_id": common.ecr_repo}, specs)


ValidationOutput = Annotated[str, typer.Option(help="Bucket the validation reports go to.")]
OutputDir = Annotated[str, typer.Option(help="Folder of the reports in the output bucket.")]
ExtraArgs = Annotated[str, typer.Option(help="Extra arguments for the validator.")]


@app.command("validate")
def validate(
    ctx: typer.Context,
    dataset_ids: Annotated[list[str], typer.Argument(help="Dataset ids to validate.", show_default=False)],
    ecr_repo: EcrRepo = "cryoet-staging",
    ecr_tag: EcrTag = "main",
    memory: Memory = 4000,
    parallelism: Parallelism = 20,
    swipe_wdl_key: WdlKey = "validate_dataset-v0.0.2.wdl",
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    input_bucket: Annotated[str, typer.Option(help="Bucket holding the datasets.")] = "cryoet-data-portal-staging",
    output_bucket: ValidationOutput = "cryoet-data-portal-staging",
    output_dir: OutputDir = "validation_results",
    extra_args: ExtraArgs = "",
    config_file: Annotated[str, typer.Option(help="Dataset config the validator compares against.")] = "",
    flags: Annotated[str, typer.Option(help="Flags for the validator.")] = "",
) -> None:
    """One job per dataset id: validate the standardized dataset (always on the staging state machine)."""
    from cryoet_release.models import DatasetId, validate_as

    datasets = [validate_as(DatasetId, d) for d in dataset_ids]
    _validation(ctx, "validate", [(d, d, config_file) for d in datasets], test_entity="standardized", flags=flags)


@app.command("source-validate")
def source_validate(
    ctx: typer.Context,
    config_files: Annotated[list[str], typer.Argument(help="Dataset config files to validate.", show_default=False)],
    ecr_repo: EcrRepo = "cryoet-staging",
    ecr_tag: EcrTag = "main",
    memory: Memory = 4000,
    parallelism: Parallelism = 20,
    swipe_wdl_key: WdlKey = "validate_dataset-v0.0.2.wdl",
    pin_digest: PinDigest = False,
    skip_image_check: SkipImageCheck = False,
    dry_run: DryRun = False,
    batch: BatchName = None,
    ledger_dir: LedgerDir = None,
    input_bucket: Annotated[str, typer.Option(help="Bucket holding the source data.")] = "cryoetportal-rawdatasets-dev",
    output_bucket: ValidationOutput = "cryoet-data-portal-staging",
    output_dir: OutputDir = "source_validation_results",
    extra_args: ExtraArgs = "",
) -> None:
    """One job per config file: validate the source data it describes (always on the staging state machine)."""
    jobs = [(file, PurePosixPath(file).stem, file) for file in config_files]
    _validation(ctx, "source-validate", jobs, test_entity="source", flags="--no-multiprocessing")


def _validation(
    ctx: typer.Context, kind: str, items: list[tuple[str, str, str]], *, test_entity: str, flags: str
) -> None:
    """validate and source-validate: one job per (key, dataset, config file), always on staging."""
    from cryoet_release_plugins.enqueue import jobs

    common = _common(ctx, environment="staging")
    unique = list(dict.fromkeys(items))
    shared = {name: ctx.params[name] for name in ("input_bucket", "output_bucket", "output_dir", "extra_args")}

    def specs(aws: "cloud.Aws", images: Mapping[str, str]) -> list["JobSpec"]:
        return [
            jobs.JobSpec(
                key,
                jobs.validate_arguments(
                    dataset, config_file=config_file, flags=flags, test_entity=test_entity, **shared
                ),
            )
            for key, dataset, config_file in unique
        ]

    _submit(ctx, common, kind, {"docker_image_id": common.ecr_repo}, specs)


@app.command("resume")
def resume(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="The batch to resume (see `cryoet-release batches`).")],
    parallelism: Annotated[int, typer.Option(min=1, max=256, help="Concurrent submissions.")] = 20,
    ledger_dir: LedgerDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the jobs it would submit; submit nothing.")] = False,
) -> None:
    """Submit the jobs of a batch not confirmed started, with the same names and inputs (never twice)."""
    from cryoet_release_plugins.enqueue.runner import resume_batch

    opts = ctx.ensure_object(GlobalOptions)
    resume_batch(opts, batch, parallelism=parallelism, ledger_dir=ledger_dir, dry_run=dry_run)
