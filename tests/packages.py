"""Third-party packages, made as wheels and installed with pip into a folder of their own, as a user installs one."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    folder: Path, name: str, version: str, files: Mapping[str, str], entry_points: Mapping[str, Mapping[str, str]]
) -> Path:
    """A pure-Python wheel of `files` (path in the wheel -> source), declaring `entry_points` (group -> name ->
    value)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = {path: source.encode() for path, source in files.items()}
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: cryoet-release-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    lines = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
        for group, points in entry_points.items()
    ]
    contents[f"{info}/entry_points.txt"] = "\n".join(lines).encode()
    record = [_record_line(path, data) for path, data in contents.items()] + [f"{info}/RECORD,,"]
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def pip_install(wheel: Path, target: Path) -> None:
    """`pip install` of the wheel into `target` (no index, no dependencies: everything it needs is installed)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
