"""What the sandbox's simulated jobs write. SIMULATED: plausible shapes, not the portal's real outputs.

- A standardization (`queue`) job writes, under its OUTPUT_PATH, its dataset's and run's metadata, a tomogram's
  metadata, a small MRC volume and a small zarr array, as the portal lays them out.
- A validation job writes an Allure-shaped report (`widgets/summary.json`, `widgets/status-chart.json`,
  `index.html`) where the job's input says, with failing tests when the sandbox was asked.

An image can change what its jobs write: a file `/sandbox-outputs.json` in the image (read from the sandbox's
registry), `{"tomogram_metadata": {field: value, ...}, "array_offset": n}`, changes those metadata fields and adds
`n` to every value of the zarr array. That is how the demo's head image differs from `main`.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VARIATION = "sandbox-outputs.json"
VOXEL_SPACING = 13.48
TESTS = (
    "test_dataset_metadata", "test_run_metadata", "test_tomogram_metadata", "test_voxel_spacing", "test_mrc_header",
    "test_zarr_multiscales", "test_zarr_chunks", "test_annotations", "test_tiltseries", "test_frames",
    "test_alignments", "test_keyphotos",
)  # fmt: skip
FAILING = {"test_voxel_spacing": "failed", "test_zarr_chunks": "failed", "test_annotations": "broken"}


def _flag(flags: str, name: str) -> str | None:
    words = shlex.split(flags)
    return next((words[n + 1] for n, word in enumerate(words[:-1]) if word == name), None)


def standardized(run: Mapping[str, Any], variation: Mapping[str, Any]) -> dict[str, bytes] | None:
    """The objects a standardization job writes (`bucket/key` -> bytes), or None for another kind of job."""
    flags = str(run.get("flags", ""))
    if "config_file" not in run or "output_path" not in run or "--filter-run-name" not in flags:
        return None
    dataset = (_flag(flags, "--filter-dataset-name") or "^dataset$").strip("^$")
    name = (_flag(flags, "--filter-run-name") or "^run$").strip("^$")
    out = str(run["output_path"]).rstrip("/")
    tomograms = f"{out}/{dataset}/{name}/Reconstructions/VoxelSpacing{VOXEL_SPACING:.3f}/Tomograms/100"
    tomogram = {
        "voxel_spacing": VOXEL_SPACING,
        "reconstruction_method": "WBP",
        "reconstruction_software": "IMOD",
        "processing": "raw",
        "fiducial_alignment_status": "FIDUCIAL",
        "size": {"x": 8, "y": 8, "z": 8},
        **dict(variation.get("tomogram_metadata") or {}),
    }
    objects = {
        f"{out}/{dataset}/dataset_metadata.json": _json({"dataset_identifier": dataset, "simulated": True}),
        f"{out}/{dataset}/{name}/run_metadata.json": _json({"run_name": name, "dataset_id": dataset}),
        f"{tomograms}/tomogram_metadata.json": _json(tomogram),
    }
    if "--no-write-mrc" not in flags:
        objects[f"{tomograms}/{name}.mrc"] = _mrc()
    if "--no-write-zarr" not in flags:
        objects |= {
            f"{tomograms}/{name}.zarr/{key}": data
            for key, data in _zarr(int(variation.get("array_offset") or 0)).items()
        }
    return objects


def _json(document: Any) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True).encode()


def _mrc() -> bytes:
    """An 8x8x8 float32 volume, written by the mrcfile library; the same bytes every time."""
    import mrcfile
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="sandbox-mrc-") as folder:
        path = Path(folder) / "volume.mrc"
        with mrcfile.new(path) as volume:
            volume.set_data(np.arange(512, dtype=np.float32).reshape(8, 8, 8))
            volume.voxel_size = VOXEL_SPACING
            volume.header.label[0] = b"written by the cryoet-release sandbox"  # mrcfile's own label has the time
        return path.read_bytes()


def _zarr(offset: int) -> dict[str, bytes]:
    """An OME-Zarr group with one 8x8x8 float32 array in 4x4x4 chunks, uncompressed: 8 chunks."""
    import numpy as np

    volume = np.arange(512, dtype="<f4").reshape(8, 8, 8) + offset
    objects = {
        ".zgroup": _json({"zarr_format": 2}),
        ".zattrs": _json({"multiscales": [{"version": "0.4", "datasets": [{"path": "0"}], "axes": ["z", "y", "x"]}]}),
        "0/.zarray": _json(
            {
                "zarr_format": 2, "shape": [8, 8, 8], "chunks": [4, 4, 4], "dtype": "<f4", "compressor": None,
                "fill_value": 0, "order": "C", "filters": None, "dimension_separator": ".",
            }
        ),
    }  # fmt: skip
    for z in range(2):
        for y in range(2):
            for x in range(2):
                chunk = volume[z * 4 : z * 4 + 4, y * 4 : y * 4 + 4, x * 4 : x * 4 + 4]
                objects[f"0/{z}.{y}.{x}"] = np.ascontiguousarray(chunk).tobytes()
    return objects


def validation_report(run: Mapping[str, Any], *, failing: bool) -> dict[str, bytes] | None:
    """An Allure report's files where a validation job's input says (`bucket/key` -> bytes); None for another job."""
    from cryoet_release_plugins.verdict.reports import report_place

    place = report_place(json.dumps({"Input": {"Run": dict(run)}}))
    if place is None:
        return None
    start = int(datetime.now(UTC).timestamp() * 1000)
    results = {test: (FAILING.get(test, "passed") if failing else "passed") for test in TESTS}
    statistic = {status: sum(value == status for value in results.values()) for status in
                 ("failed", "broken", "skipped", "passed", "unknown")}  # fmt: skip
    chart = [
        {"uid": f"{n:016x}", "name": test, "time": {"start": start, "stop": start + 50, "duration": 50},
         "status": status, "severity": "normal"}
        for n, (test, status) in enumerate(results.items())
    ]  # fmt: skip
    summary = {
        "reportName": "Allure Report (simulated by the cryoet-release sandbox)",
        "testRuns": [],
        "statistic": {**statistic, "total": len(results)},
        "time": {"start": start, "stop": start + 600, "duration": 600, "minDuration": 50, "maxDuration": 50,
                 "sumDuration": 600},
    }  # fmt: skip
    folder = f"{place.bucket}/{place.folder}"
    return {
        f"{folder}/widgets/summary.json": _json(summary),
        f"{folder}/widgets/status-chart.json": _json(chart),
        f"{folder}/index.html": b"<!doctype html><title>Allure report (simulated)</title>\n",
    }


def image_variation(registry: str | None, image: str) -> dict[str, Any]:
    """`/sandbox-outputs.json` of the job's image, when the image is in the sandbox's registry; else {}."""
    if registry is None or "/" not in image:
        return {}
    from cryoet_release import oci

    name = image.split("/", 1)[1]
    repository, reference = name.split("@", 1) if "@" in name else name.rsplit(":", 1)
    try:
        data = oci.read_file(registry, repository, reference, VARIATION)
    except Exception:  # noqa: BLE001 - an image the registry does not have writes the defaults
        return {}
    try:
        found = json.loads(data) if data else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
