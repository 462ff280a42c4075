"""Startup cost against `python -c "import boto3"`, measured in the same run, interleaved.

Three kinds of run, each compared with importing boto3 (target: every ratio <= 0.5):
- `cryoet-release --help`;
- `cryoet-release <command> --help` for every command and subcommand;
- shell-completion requests (what every TAB costs): an option, `enqueue db-import --import-t<TAB>`, and a value,
  `status <TAB>` (batch ids from the ledger folder).
Each round runs every contender once, in the same order, so that machine noise hits all alike; medians are
reported. Run it as `python -m benchmarks.startup [--runs N]`. Bytecode is cached as in a user's install
(PYTHONDONTWRITEBYTECODE is dropped for the runs), so the sources are not compiled again on every run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_startup import command_paths

COMPLETION = {
    "_CRYOET_RELEASE_COMPLETE": "complete_bash",
    "COMP_WORDS": "cryoet-release enqueue db-import --import-t",
    "COMP_CWORD": "3",
}
VALUE_COMPLETION = {
    "_CRYOET_RELEASE_COMPLETE": "complete_bash",
    "COMP_WORDS": "cryoet-release status ",
    "COMP_CWORD": "2",
}


ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or ENVIRONMENT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    script = shutil.which("cryoet-release")
    tool = [script] if script else [sys.executable, "-m", "cryoet_release"]
    contenders: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "import boto3": ([sys.executable, "-c", "import boto3"], None),
        "--help": ([*tool, "--help"], None),
    }
    for path in command_paths():
        if path:
            contenders[" ".join(path) + " --help"] = ([*tool, *path, "--help"], None)
    contenders["completion (TAB)"] = (tool, {**ENVIRONMENT, **COMPLETION})
    contenders["completion of a batch id (TAB)"] = (tool, {**ENVIRONMENT, **VALUE_COMPLETION})

    for argv, env in contenders.values():  # warm the page cache, the bytecode and the plugin cache
        wall(argv, env)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, (argv, env) in contenders.items():
            times[name].append(wall(argv, env))

    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["import boto3"]
    print(f"{args.runs} interleaved rounds; medians; ratio = median / median of `import boto3` (target <= 0.50)")
    print(f"  {'import boto3':34} {baseline * 1000:7.1f} ms")
    worst = 0.0
    for name, median in medians.items():
        if name == "import boto3":
            continue
        worst = max(worst, median / baseline)
        print(f"  {name:34} {median * 1000:7.1f} ms   ratio {median / baseline:.2f}")
    print(f"worst ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
