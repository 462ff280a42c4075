"""Run discovery and job flags of `enqueue queue`: the recorded cases of the portal's own command, replayed on moto.

Each case (tests/data/queue/cases, recorded from the portal's `enqueue_runs.py queue`) gives the command line and
the jobs it must queue; the glob, config and map-file rules are also checked one by one on in-memory storage.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from cryoet_release.aws import Aws
from cryoet_release.errors import UsageError
from cryoet_release.lookup import S3Storage
from cryoet_release_plugins.enqueue.dataset_configs.config import load_config
from cryoet_release_plugins.enqueue.dataset_configs.finders import FoundRun, discover_runs
from cryoet_release_plugins.enqueue.dataset_configs.glob import Listings, glob
from cryoet_release_plugins.enqueue.dataset_configs.ingest import INGEST_OPTIONS, run_flags

DATA = Path(__file__).parents[1] / "data" / "queue"
REGION = "us-west-2"
WORLD = json.loads((DATA / "world.json").read_text())

# What each refused case's one-line message must name.
REFUSALS = {
    "10302__missing_map": "cryoetportal-rawdatasets-dev/chlamy2/data/chlamy_visual_proteomics/"
    "run_to_data_map_vali.tsv does not exist",
    "d10305__name_regex_crash": "name_regex '(.*)_T4P.mod' does not match cryoetportal-rawdatasets-dev/"
    "braxton_owens_05_2024/CZII_size_exclusion/d1_t4p_common/10102/readme.txt",
    "gj10246__blank_line_crash": "run_tomo_map/10246.csv: line 2 has 0 cell(s)",
}


def _case_params() -> list[Any]:
    params = []
    for path in sorted((DATA / "cases").glob("*.json")):
        case = json.loads(path.read_text())
        # The environment (swipe buckets, state machine) is resolved by the CLI before discovery, not here.
        skip = case["case"] == "10011d__bad_environment"
        marks = [pytest.mark.skip(reason="the CLI resolves environments")] if skip else []
        params.append(pytest.param(case, id=case["case"], marks=marks))
    return params


# --- the command line, as click hands it to the CLI --------------------------------------------------------------

NOT_FORWARDED = {
    "--environment",
    "--ecr-repo",
    "--ecr-tag",
    "--memory",
    "--parallelism",
    "--swipe-wdl-key",
    "--skip-until-run-name",
    "--https-prefix",
}
FIXED_FLAGS = {"--import-everything", "--import-all-metadata", "--force-overwrite"}


def parse(args: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the command's own values, the ingest options in order of first appearance with their value or values)."""
    values: dict[str, Any] = {"--write-mrc": True, "--write-zarr": True}
    ingest: dict[str, Any] = {}
    words = iter(args)
    for name in words:
        if name in NOT_FORWARDED:
            values[name] = next(words)
        elif name in {"--write-mrc", "--no-write-mrc", "--write-zarr", "--no-write-zarr"}:
            values[name.replace("--no-", "--")] = not name.startswith("--no-")
        elif name in FIXED_FLAGS:
            values[name] = True
        elif name.startswith(("--filter-", "--exclude-")):
            ingest.setdefault(name, []).append(next(words))
        else:
            ingest[name] = True
    return values, ingest


def flags_of(run: FoundRun, values: Mapping[str, Any], ingest: Mapping[str, Any]) -> str:
    return run_flags(
        https_prefix=values.get("--https-prefix"),
        import_everything=values.get("--import-everything", False),
        import_all_metadata=values.get("--import-all-metadata", False),
        write_mrc=values["--write-mrc"],
        write_zarr=values["--write-zarr"],
        force_overwrite=values.get("--force-overwrite", False),
        options=list(ingest.items()),
        dataset=run.dataset,
        run=run.run,
    )


class RecordingAwsStorage(S3Storage):
    def __init__(self, aws: Aws) -> None:
        super().__init__(aws)
        self.listed: list[tuple[str, str, str]] = []

    def list_level(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        self.listed.append((bucket, prefix, "/"))
        return super().list_level(bucket, prefix)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        self.listed.append((bucket, prefix, ""))
        return super().list_keys(bucket, prefix)


def seed(*worlds: Mapping[str, Mapping[str, str]]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for world in worlds:
        for bucket, objects in world.items():
            if bucket not in {found["Name"] for found in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            for key, body in objects.items():
                s3.put_object(Bucket=bucket, Key=key, Body=body.encode())


# --- the recorded cases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _case_params())
def test_recorded_case(case: dict[str, Any], aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(WORLD["s3"], case["seed"])
    monkeypatch.chdir(DATA)
    values, ingest = parse(case["args"])
    storage = RecordingAwsStorage(Aws())

    def discover() -> list[FoundRun]:
        return discover_runs(
            load_config(case["config_arg"]),
            case["input_bucket"],
            case["output_path"],
            storage,
            filter_dataset_name=ingest.get("--filter-dataset-name", []),
            exclude_dataset_name=ingest.get("--exclude-dataset-name", []),
            filter_run_name=ingest.get("--filter-run-name", []),
            exclude_run_name=ingest.get("--exclude-run-name", []),
            skip_until_run_name=values.get("--skip-until-run-name"),
            parallelism=int(values.get("--parallelism", 20)),
        )

    if not case["expect_success"]:
        assert "Q2" in case["rules"]
        with pytest.raises(UsageError) as refused:
            discover()
        assert REFUSALS[case["case"]] in refused.value.message
        assert "\n" not in str(refused.value)
        return
    found = discover()
    # Each listing is made once per command, however many finders and threads ask for it.
    assert len(storage.listed) == len(set(storage.listed))
    queued = Counter(
        (flags_of(run, values, ingest), case["config_arg"], case["input_bucket"], case["output_path"]) for run in found
    )
    expected = Counter(
        (job["flags"], job["config_file"], job["input_bucket"], job["output_path"])
        for job in (recorded["input"]["Input"]["Run"] for recorded in case["jobs"])
    )
    assert queued == expected


# --- glob (SPEC §8) -------------------------------------------------------------------------------------------------

GLOBS = [
    # (pattern, keys of bucket b, expected paths)
    ("b/p/tomo", ["p/tomo"], ["b/p/tomo"]),
    ("b/p", ["p/x/y"], ["b/p"]),
    ("b/p/", ["p/x/y"], ["b/p"]),
    ("b/p/tomo", ["p/tomo_0001"], []),
    ("b", ["x"], ["b"]),
    ("b/p/*", ["p/a.txt", "p/d/x", "q/e"], ["b/p/a.txt", "b/p/d"]),
    ("b/p/*", ["p/d/e/f"], ["b/p/d"]),
    ("b/p/*/*", ["p/a/b/c/d"], ["b/p/a/b"]),
    (
        "b/p/*.st",
        ["p/TS_03.st/inner.bin", "p/TS_02.st", "p/TS_04.ST", "p/TS_05.st.bak"],
        ["b/p/TS_02.st", "b/p/TS_03.st"],
    ),
    ("b/p/*", ["p/.DS_Store"], ["b/p/.DS_Store"]),
    ("b/p/*x", ["p/x", "p/ax", "p/xa"], ["b/p/ax", "b/p/x"]),
    ("b/p/*/x", ["p//x", "p/a/x"], ["b/p/a/x"]),
    ("b/p/TS_?", ["p/TS_1", "p/TS_12", "p/TS_/"], ["b/p/TS_1"]),
    ("b/p/[!._]*.mrc", ["p/a.mrc", "p/._a.mrc", "p/_a.mrc"], ["b/p/a.mrc"]),
    ("b/p/TS_[0-1]", ["p/TS_0", "p/TS_1", "p/TS_2", "p/TS_-"], ["b/p/TS_0", "b/p/TS_1"]),
    ("b/p/TS_[z-a]", ["p/TS_z", "p/TS_a", "p/TS_-"], []),
    ("b/p/TS_[!z-a]", ["p/TS_z"], ["b/p/TS_z"]),
    ("b/p/TS_[a-]", ["p/TS_a", "p/TS_-", "p/TS_b"], ["b/p/TS_-", "b/p/TS_a"]),
    ("b/p/[]x]*", ["p/]a", "p/xa", "p/ya"], ["b/p/]a", "b/p/xa"]),
    ("b/p/a[b*", ["p/a[bc", "p/abc"], ["b/p/a[bc"]),
    ("b/p/[a]", ["p/[a]", "p/a"], ["b/p/a"]),
    ("b/p/a.c*", ["p/abc", "p/a.c"], ["b/p/a.c"]),
    ("b/p/**", ["p/x/y.mrc"], ["b/p", "b/p/x", "b/p/x/y.mrc"]),
    ("b/p/**/*.mrc", ["p/a.mrc", "p/x/y/b.mrc", "p/x/c.txt"], ["b/p/a.mrc", "b/p/x/y/b.mrc"]),
    ("b/p/*/", ["p/a.txt", "p/d/x"], ["b/p/d"]),
    ("b//*", ["x", "/x"], []),
    ("b/p//*", ["p/x"], []),
    ("b/p/*", ["p/x/"], ["b/p/x"]),
    ("b/p/x/*", ["p/x/"], []),
    ("b/p/**", ["p/x/"], ["b/p", "b/p/x"]),
    ("b/p/*", ["p/x", "p/x/y"], ["b/p/x"]),
    ("b/p/*", ["p/b", "p/B", "p/_", "p/1", "p/."], ["b/p/.", "b/p/1", "b/p/B", "b/p/_", "b/p/b"]),
    ("s3://b/p/*", ["p/x"], ["b/p/x"]),
    ("b/p/*", [], []),
    # The level walk: folder placeholders, directories without files of their own, a file and a directory of the
    # same name, patterns ending in `/`, literal components after a wildcard.
    ("b/p/*/*", ["p/x/", "p/y/z"], ["b/p/y/z"]),
    ("b/p/*/", ["p/x/", "p/y"], ["b/p/x"]),
    ("b/p/*", ["p/", "p/a"], ["b/p/a"]),
    ("b/p", ["p/"], ["b/p"]),
    ("b/p/*/c/*.mrc", ["p/a/c/x.mrc", "p/b/c/d/y.mrc", "p/c/x.mrc", "p/d/c.mrc"], ["b/p/a/c/x.mrc"]),
    ("b/p/*/*/*", ["p/a/b/c/d", "p/e/f"], ["b/p/a/b/c"]),
    ("b/p/*/", ["p/x", "p/x/y", "p/z"], ["b/p/x"]),
    ("b/p/x", ["p/x", "p/x/y"], ["b/p/x"]),
    ("b/p/*/x", ["p/a/x", "p/a/x/y", "p/b/xa", "p/c/x/"], ["b/p/a/x", "b/p/c/x"]),
    ("b/p/*/x/", ["p/a/x", "p/b/x/y", "p/c/x/"], ["b/p/b/x", "b/p/c/x"]),
    ("b/p/T*/", ["p/TS_1/a", "p/TS_2", "p/T/"], ["b/p/T", "b/p/TS_1"]),
    ("b/p/?", ["p/a/b", "p/bc"], ["b/p/a"]),
    ("b/p/x[!a]y", ["p/x/y", "p/xby"], ["b/p/xby"]),  # each name is matched on its own level: no class spans a `/`
    ("b/p/*", ["p/a", "pa/b", "q/c"], ["b/p/a"]),
]


def tree(keys: Collection[str]) -> MemoryStorage:
    return MemoryStorage({"b": dict.fromkeys(keys, ""), "c": {"p/x": ""}})


@pytest.mark.parametrize(("pattern", "keys", "expected"), GLOBS)
def test_glob_follows_s3fs(pattern: str, keys: list[str], expected: list[str]) -> None:
    assert glob(pattern, Listings(tree(keys))) == expected


@pytest.mark.parametrize("pattern", ["b/p/a**", "b*/p", "b/p/*/x**"])
def test_glob_refuses_what_s3fs_refuses(pattern: str) -> None:
    storage = tree(["p/x", "p/a/xy"])
    with pytest.raises(ValueError, match="glob"):
        glob(pattern, Listings(storage))
    assert storage.listed == []


@pytest.mark.parametrize(
    ("pattern", "listed"),
    [
        # Only the directories that can still match are listed; a literal component is not looked up in its parent.
        ("b/p/a*/x/*.mrc", [("p/", "/"), ("p/a1/x/", "/"), ("p/a2/x/", "/")]),
        ("b/p/a*/x", [("p/", "/"), ("p/a1/x", "/"), ("p/a2/x", "/")]),
        ("b/p/tomo", [("p/tomo", "/")]),
        ("b/p/b/*", [("p/b/", "/")]),
        ("b/q/*/*", [("q/", "/")]),
        ("b/p/**/*.mrc", [("p/", "")]),  # `**` needs every key under the root
    ],
)
def test_the_walk_lists_one_level_at_a_time(pattern: str, listed: list[tuple[str, str]]) -> None:
    storage = tree(["p/a1/x/t.mrc", "p/a1/y/u.mrc", "p/a2/z", "p/b/x/v.mrc", "p/tomo_1"])
    glob(pattern, Listings(storage))
    assert storage.listed == [("b", prefix, delimiter) for prefix, delimiter in listed]


def test_the_directories_of_one_level_are_listed_together() -> None:
    keys = [f"p/d{d}/TS_{r}/f" for d in range(4) for r in range(2)]
    # Every listing of the second level waits until all four are under way: listed one by one, it would time out.
    storage = MemoryStorage({"b": dict.fromkeys(keys, "")}, together=[f"p/d{d}/" for d in range(4)])
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = glob("b/p/*/TS_*", Listings(storage, pool))
    assert found == [f"b/p/d{d}/TS_{r}" for d in range(4) for r in range(2)]


# --- config, finders and map files on in-memory storage -------------------------------------------------------------


class MemoryStorage:
    """Objects in memory, recording each listing as (bucket, prefix, delimiter).

    The listings of the prefixes in `together` wait for one another: each returns once all are under way, or fails.
    """

    def __init__(
        self, objects: Mapping[str, Mapping[str, str | bytes]], delay: float = 0, together: Collection[str] = ()
    ) -> None:
        self.objects = objects
        self.delay = delay
        self.listed: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self.together = together
        self._barrier = threading.Barrier(len(together), timeout=5) if together else None

    def list_level(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        self._listing(bucket, prefix, "/")
        directories: set[str] = set()
        files = []
        for key in self._keys(bucket, prefix):
            slash = key.find("/", len(prefix))
            if slash == -1:
                files.append(key)
            else:
                directories.add(key[: slash + 1])
        return sorted(directories), files

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        self._listing(bucket, prefix, "")
        return self._keys(bucket, prefix)

    def _listing(self, bucket: str, prefix: str, delimiter: str) -> None:
        with self._lock:
            self.listed.append((bucket, prefix, delimiter))
        if self._barrier is not None and prefix in self.together:
            self._barrier.wait()
        time.sleep(self.delay)

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(key for key in self.objects.get(bucket, {}) if key.startswith(prefix))

    def read(self, bucket: str, key: str) -> bytes | None:
        body = self.objects.get(bucket, {}).get(key)
        return body.encode() if isinstance(body, str) else body


def write_config(folder: Path, runs: str, *, datasets: str = "- sources: [{literal: {value: ['d1', 'd2']}}]") -> str:
    (folder / "config.yaml").write_text(
        "standardization_config:\n  source_prefix: src\n  run_name_regex: '(TS_\\d+)'\n"
        f"depositions:\n- sources: [{{literal: {{value: [10000]}}}}]\ndatasets:\n{datasets}\nruns:\n{runs}\n"
    )
    return str(folder / "config.yaml")


def found(config: str, storage: MemoryStorage, **options: Any) -> list[tuple[str, str, str, str | None]]:
    runs = discover_runs(load_config(config), "in", "out", storage, **options)
    return [(run.deposition, run.dataset, run.run, run.path) for run in runs]


def test_each_prefix_is_listed_once_and_the_order_is_sequential(tmp_path: Path) -> None:
    objects = {"in": {f"src/d{d}/TS_{r:02}/f{f}": "" for d in range(8) for r in range(5) for f in range(3)}}
    datasets = "- sources: [{literal: {value: [d7, d3, d5, d0, d1, d2, d4, d6]}}]"
    runs = "- sources: [{source_glob: {list_glob: '{dataset_name}/*'}}, {source_glob: {list_glob: 'd0/TS_0*'}}]"
    config = write_config(tmp_path, runs, datasets=datasets)
    slow = MemoryStorage(objects, delay=0.05)
    concurrent = found(config, slow, parallelism=8)
    assert concurrent == found(config, MemoryStorage(objects), parallelism=1)
    # d0/TS_0* of every dataset finds d0's runs again: the same names, so each is queued once, from its own dataset.
    assert [(run[1], run[2], run[3]) for run in concurrent[4:6]] == [
        ("d7", "TS_04", "in/src/d7/TS_04"),
        ("d3", "TS_00", "in/src/d3/TS_00"),
    ]
    assert len(concurrent) == 40
    # Each dataset's folder is listed once, although eight threads ask for d0/ at about the same time.
    assert sorted(slow.listed) == [("in", f"src/d{d}/", "/") for d in range(8)]

    walked = MemoryStorage(objects)
    runs_of_all = found(write_config(tmp_path, runs, datasets="- sources: [{source_glob: {list_glob: '*'}}]"), walked)
    assert len(runs_of_all) == 40
    # The root once for the datasets, then each dataset's level: never the runs' own folders.
    assert walked.listed[0] == ("in", "src/", "/")
    assert sorted(walked.listed[1:]) == [("in", f"src/d{d}/", "/") for d in range(8)]


def test_the_runs_of_different_datasets_are_found_together(tmp_path: Path) -> None:
    objects = {"in": {f"src/d{d}/TS_{r}/f": "" for d in range(4) for r in range(3)}}
    runs = "- sources: [{source_glob: {list_glob: '{dataset_name}/*'}}]"
    config = write_config(tmp_path, runs, datasets="- sources: [{literal: {value: [d3, d1, d0, d2]}}]")
    # Each dataset's listing waits until all four are under way: found one dataset after the other, it would time out.
    storage = MemoryStorage(objects, together=[f"src/d{d}/" for d in range(4)])
    runs_found = found(config, storage, parallelism=4, skip_until_run_name="TS_1")
    assert [run[1:3] for run in runs_found] == [
        ("d3", "TS_1"),
        ("d3", "TS_2"),
        *((f"d{d}", f"TS_{r}") for d in (1, 0, 2) for r in range(3)),
    ]


def test_a_run_found_twice_is_queued_once_at_its_first_place(tmp_path: Path) -> None:
    runs = "- sources: [{literal: {value: [TS_2, TS_1]}}, {literal: {value: [TS_1, TS_3]}}]"
    names = [run[1:3] for run in found(write_config(tmp_path, runs), MemoryStorage({}))]
    assert names == [("d1", "TS_2"), ("d1", "TS_1"), ("d1", "TS_3"), ("d2", "TS_2"), ("d2", "TS_1"), ("d2", "TS_3")]


def test_skip_until_spans_datasets_and_filters_follow_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "- sources: [{literal: {value: [TS_1, TS_2, TS_3]}}]")
    options = {"skip_until_run_name": "TS_3", "exclude_run_name": ["TS_2"], "filter_dataset_name": ["d"]}
    assert [run[1:3] for run in found(config, MemoryStorage({}), **options)] == [
        ("d1", "TS_3"),
        ("d2", "TS_1"),
        ("d2", "TS_3"),
    ]


def test_templates_parent_filters_names_and_the_run_name_fallback(tmp_path: Path) -> None:
    names = ["d1/TS_7.mrc", "d1/TS_010000.mrc", "d2/TS_8.mrc", "d2/U_5.mrc", "d2/x_TS_9.mrc"]
    objects = {"in": {f"src/{name}": "" for name in names}}
    runs = (
        "- sources:\n"
        "  - source_glob: {list_glob: '{dataset_name}/*.mrc', name_regex: '(?:x_)?(TS|U)_\\d'}\n"
        "    parent_filters: {exclude: {dataset: ['1$']}}\n"
        "  - literal: {value: {'': in/src/d1/TS_42.mrc}}\n"
        "    parent_filters: {include: {dataset: ['1']}}\n"
        "  - source_glob: {list_glob: '{dataset_name}/TS_{int_deposition_name:06d}.mrc'}\n"
    )
    assert found(write_config(tmp_path, runs), MemoryStorage(objects)) == [
        ("10000", "d1", "TS_42", "in/src/d1/TS_42.mrc"),
        ("10000", "d1", "TS_010000.mrc", "in/src/d1/TS_010000.mrc"),
        ("10000", "d2", "TS", "in/src/d2/x_TS_9.mrc"),  # a later path of the same name keeps the first's place
        ("10000", "d2", "U", "in/src/d2/U_5.mrc"),
    ]


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ("- sources: [{source_glob: {list_glob: '{deposition_output_path}/*'}}]", "uses {deposition_output_path}"),
        ("- sources: [{source_glob: {list_glob: '{dataset_name:05d}/*'}}]", "cannot expand '{dataset_name:05d}/*'"),
        ("- sources: [{source_glob: {list_glob: '*', name_regex: 'TS'}}]", "has no group"),
        ("- sources: [{source_glob: {list_glob: '*', match_regex: '('}}]", "is not a regular expression"),
        (
            "- sources: [{source_glob: {list_glob: '*', pattern: x}}]",
            "runs.0.sources.0.source_glob.pattern: unknown key",
        ),
        ("- sources: [{destination_glob: {list_glob: 'out/*'}}]", "destination_glob.match_regex: Field required"),
        ("- sources: [{source_glob: null, exclude: []}]", "no finder"),
        (
            "- sources: [{destination_glob: {list_glob: '{dataset_output_path}/*', match_regex: '', name_regex: ''}}]",
            "found out/d1/dataset_metadata.json: a metadata file cannot be a run",
        ),
        ("- sources: [{destination_filter: {filters: []}}]", "destination_filter"),
        ("- sources: [{source_glob: {list_glob: '{dataset_name}/a**'}}]", "'**' can only be a whole path component"),
        ("- sources: [{literal: {value: {'': 'in/src/no_run_here'}}}]", "needs standardization_config.run_name_regex"),
    ],
)
def test_what_the_old_command_crashed_on_is_refused_in_one_line(tmp_path: Path, runs: str, message: str) -> None:
    objects = {"in": {"src/d1/TS_1": ""}, "out": {"d1/dataset_metadata.json": "{}", "d1/TS_1/x": ""}}
    with pytest.raises(UsageError) as refused:
        found(write_config(tmp_path, runs), MemoryStorage(objects))
    assert message in refused.value.message
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such dataset config"),
        ("a: [", "not valid YAML"),
        ("- 1\n", "its top level is not a mapping"),
        ("runs: []\n", "standardization_config: Field required"),
        ("standardization_config: {deposition_id: 1}\n", "standardization_config.source_prefix: Field required"),
        ("standardization_config: {source_prefix: x, tomo_regex: '['}\n", "is not a regular expression"),
    ],
)
def test_config_problems_name_the_file_and_key(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "broken.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as refused:
        load_config(path)
    assert refused.value.message.startswith(f"{path}: ")
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("setting", "body", "message"),
    [
        ("run_data_map_file: m.tsv", None, "run_data_map_file: in/src/m.tsv does not exist"),
        ("run_data_map_file: m.tsv", "name\tx\nTS_1\ta\n", "no run_name column"),
        ("run_data_map_file: m.csv", "run_name\tx\nTS_1\ta\n", "no run_name column"),  # a .csv is comma-separated
        ("run_to_ts_map_csv: m.csv", "TS_1,a\nTS_2\n", "line 2 has 1 cell(s)"),
        ("run_to_frame_map_csv: m.csv", b"\xff", "codec can't decode byte 0xff"),
    ],
)
def test_map_files_must_exist_and_parse(tmp_path: Path, setting: str, body: str | bytes | None, message: str) -> None:
    (tmp_path / "c.yaml").write_text(f"standardization_config:\n  source_prefix: src\n  {setting}\n")
    objects = {"in": {"src/m.tsv": body, "src/m.csv": body} if body is not None else {}}
    with pytest.raises(UsageError, match=re.escape(message)):
        discover_runs(load_config(tmp_path / "c.yaml"), "in", "out", MemoryStorage(objects))


def test_map_files_that_parse_are_accepted_and_an_empty_table_is_fine(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "standardization_config:\n  source_prefix: src/\n  run_data_map_file: sub dir/m.tsv\n"
        "  run_to_tomo_map_csv: t.csv\n"
    )
    storage = MemoryStorage({"in": {"src/sub dir/m.tsv": "run_name\tnote\n", "src/t.csv": "a,b\nc,d,e\n"}})
    assert discover_runs(load_config(tmp_path / "c.yaml"), "in", "out", storage) == []


# --- flags (SPEC §9, Q1, Q4) ----------------------------------------------------------------------------------------


def test_flags_quote_values_for_the_shell_and_refuse_other_options() -> None:
    flags = run_flags(
        https_prefix="",
        import_everything=False,
        import_all_metadata=True,
        write_mrc=True,
        write_zarr=False,
        force_overwrite=False,
        options=[("--exclude-run-name", ["a'b", "$(x)"]), ("--import-runs", True), ("--filter-run-name", ["x"])],
        dataset="10 1",
        run="it's",
    )
    assert flags == (
        "--https-prefix https://files.cryoetdataportal.cziscience.com --import-all-metadata --write-mrc --no-write-zarr"
        " --exclude-run-name 'a'\"'\"'b' --exclude-run-name '$(x)' --import-runs"
        " --filter-dataset-name '^10 1$' --filter-run-name '^it'\"'\"'s$'"
    )
    with pytest.raises(ValueError, match="--memory is not an ingest option"):
        run_flags(
            https_prefix=None,
            import_everything=False,
            import_all_metadata=False,
            write_mrc=True,
            write_zarr=True,
            force_overwrite=False,
            options=[("--memory", "1")],
            dataset="d",
            run="r",
        )


def test_ingest_options_are_the_ingesters() -> None:
    names = [option.name for option in INGEST_OPTIONS]
    assert len(names) == len(set(names)) == 19 * 3 + 9  # and the queue kind's own --import-everything, -all-metadata
    assert names[:4] == [
        "--import-alignments",
        "--filter-alignment-name",
        "--exclude-alignment-name",
        "--import-alignment-metadata",
    ]
    assert {"--import-tiltseries", "--filter-voxel-spacing-name", "--import-identified-object-metadata"} <= set(names)
    assert all(option.takes_value == option.name.startswith(("--filter-", "--exclude-")) for option in INGEST_OPTIONS)
    assert all(option.allows_empty == option.takes_value for option in INGEST_OPTIONS)  # an empty REGEX matches all
