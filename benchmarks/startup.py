"""Startup cost of `cryoet-release --help` against `python -c "import boto3"`, measured in the same run.

Runs are interleaved so that machine noise hits both sides alike. Target: ratio <= 0.4.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    script = shutil.which("cryoet-release")
    help_argv = [script, "--help"] if script else [sys.executable, "-m", "cryoet_release", "--help"]
    boto_argv = [sys.executable, "-c", "import boto3"]
    for argv in (help_argv, boto_argv):  # warm the page cache and the bytecode
        wall(argv)

    help_times, boto_times = [], []
    for _ in range(args.runs):
        help_times.append(wall(help_argv))
        boto_times.append(wall(boto_argv))

    help_median = statistics.median(help_times)
    boto_median = statistics.median(boto_times)
    print(f"runs each: {args.runs} (interleaved)")
    print(f"cryoet-release --help : median {help_median * 1000:7.1f} ms")
    print(f"python -c 'import boto3': median {boto_median * 1000:7.1f} ms")
    print(f"ratio help/boto3      : {help_median / boto_median:.2f}  (target <= 0.40)")


if __name__ == "__main__":
    main()
