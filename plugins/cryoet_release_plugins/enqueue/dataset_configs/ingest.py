"""The ingest options `enqueue queue` takes from the portal's `standardize_dirs.py` (declared from data: dozens),
and the `flags` each job gets from them.

Light on purpose: `--help` and shell completion import it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from cryoet_release.kinds import ExtraOption


@dataclass(frozen=True)
class Importer:
    """One of the ingester's importer types, and what it imports."""

    key: str
    plural: str
    meaning: str
    has_metadata: bool


# In the order of the ingester's IMPORTERS (importers/utils.py).
IMPORTERS = (
    Importer("alignment", "alignments", "alignments", True),
    Importer("annotation", "annotations", "annotations", True),
    Importer("annotation_viz", "annotation_viz", "annotation visualizations (Neuroglancer precomputed)", False),
    Importer("collection_metadata", "collection_metadata", "collection metadata (acquisition mdoc files)", False),
    Importer("ctf", "ctfs", "CTF estimates", False),
    Importer("dataset_keyphoto", "dataset_keyphotos", "dataset key photos", False),
    Importer("dataset", "datasets", "datasets", True),
    Importer("deposition", "depositions", "depositions", True),
    Importer("deposition_keyphoto", "deposition_keyphotos", "deposition key photos", False),
    Importer("frame", "frames", "frames (raw movie frames)", True),
    Importer("gain", "gains", "gain references", False),
    Importer("identified_object", "identified_objects", "identified objects", True),
    Importer("key_image", "key_images", "tomogram key images", False),
    Importer("rawtilt", "rawtilts", "raw tilt angle files", False),
    Importer("run", "runs", "runs", True),
    Importer("tiltseries", "tiltseries", "tilt series", True),
    Importer("tomogram", "tomograms", "tomograms", True),
    Importer("voxel_spacing", "voxel_spacings", "voxel spacings", False),
    Importer("viz_config", "viz_config", "Neuroglancer visualization configs", False),
)


PANEL = "Ingest options (forwarded to each job)"


def _ingest_options() -> tuple[ExtraOption, ...]:
    """Per importer: --import-<plural>, --filter-<key>-name, --exclude-<key>-name and, for those with metadata,
    --import-<key>-metadata. An empty REGEX matches every name, as before."""
    options = []
    for importer in IMPORTERS:
        plural, key, what = importer.plural.replace("_", "-"), importer.key.replace("_", "-"), importer.meaning
        options += [
            ExtraOption(f"--import-{plural}", f"Import {what}.", panel=PANEL),
            ExtraOption(f"--filter-{key}-name", f"Only {what} whose name starts with a match.", True, PANEL, True),
            ExtraOption(f"--exclude-{key}-name", f"Skip {what} whose name starts with a match.", True, PANEL, True),
        ]
        if importer.has_metadata:
            options.append(ExtraOption(f"--import-{key}-metadata", f"Import the metadata of {what}.", panel=PANEL))
    return tuple(options)


INGEST_OPTIONS = _ingest_options()
"""Every per-importer option (--import-everything and --import-all-metadata are the queue kind's own fields: their
place in `flags` is fixed, not the command line's)."""

PROD_HTTPS_PREFIX = "https://files.cryoetdataportal.cziscience.com"
_PER_IMPORTER = frozenset(option.name for option in INGEST_OPTIONS)
# Each job gets exact filters for its own dataset and run instead.
_REPLACED_PER_RUN = frozenset({"--filter-dataset-name", "--filter-run-name"})

OptionValue = bool | str | Sequence[str]


def run_flags(
    *,
    https_prefix: str | None,
    import_everything: bool,
    import_all_metadata: bool,
    write_mrc: bool,
    write_zarr: bool,
    force_overwrite: bool,
    options: Sequence[tuple[str, OptionValue]],
    dataset: str,
    run: str,
) -> str:
    """The `flags` of one run's job (SPEC §9; the queue rules Q1 and Q4).

    `options` are the other ingest options given, in command-line order of first appearance, each with its value:
    True for a flag, the list of values for a repeatable option. Raises ValueError for a name that is not one.
    """
    tokens = ["--https-prefix", shlex.quote(https_prefix or PROD_HTTPS_PREFIX)]
    tokens += ["--import-everything"] if import_everything else []
    tokens += ["--import-all-metadata"] if import_all_metadata else []
    tokens.append("--write-mrc" if write_mrc else "--no-write-mrc")
    tokens.append("--write-zarr" if write_zarr else "--no-write-zarr")
    tokens += ["--force-overwrite"] if force_overwrite else []
    for name, value in options:
        if name not in _PER_IMPORTER:
            raise ValueError(f"{name} is not an ingest option")
        if name in _REPLACED_PER_RUN or not value:
            continue
        if value is True:
            tokens.append(name)
        else:
            for item in [value] if isinstance(value, str) else value:
                tokens += [name, shlex.quote(item)]
    tokens += ["--filter-dataset-name", shlex.quote(f"^{dataset}$"), "--filter-run-name", shlex.quote(f"^{run}$")]
    return " ".join(tokens)
