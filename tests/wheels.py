"""Small real wheels written from scratch (zip + dist-info + RECORD), for download and install tests."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from pathlib import Path


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_bytes(name: str, version: str, requires: list[str] = (), payload_size: int = 0, tag: str = "py3-none-any",
                extra_files: dict[str, bytes] | None = None) -> bytes:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n".encode(),
        f"{dist}/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
            name, version, "".join(f"Requires-Dist: {r}\n" for r in requires))).encode(),
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: mambaenv-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
    }
    if payload_size:
        files[f"{name}/payload.bin"] = os.urandom(payload_size)
    files.update(extra_files or {})
    record = "".join(f"{p},{_hash(d)},{len(d)}\n" for p, d in files.items()) + f"{dist}/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p, d in files.items():
            zf.writestr(p, d)
        zf.writestr(f"{dist}/RECORD", record)
    return buf.getvalue()


def write_wheel(folder: Path, filename: str, **kw) -> Path:
    name, version = filename.split("-")[:2]
    path = Path(folder) / filename
    path.write_bytes(wheel_bytes(name, version.split("+")[0], **kw))
    return path
