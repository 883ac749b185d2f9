#!/usr/bin/env python3
"""Fetch the upstream sdists the tests use, with pip (as configured on this machine), pinned by sha256, and
the C++ headers of today's torch.

They land in .fixture-cache/ (git-ignored). Tests read them from disk and never touch the network; this
script is the one place that does, at set-up time. pip runs in the test venv that holds torch, because
upstream's setup.py imports torch even to write its metadata.

torch's headers come out of its Linux wheel on the package index without downloading the wheel: the zip's
central directory and then the one byte span holding ``torch/include/`` are read with HTTP Range requests
(about 10 MB of a 540 MB file). Every member is checked against its CRC, and the unpacked tree against a
pinned digest, since the wheel's own sha256 needs the whole file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filelock import FileLock  # noqa: E402

from tests.fixture_builders import SDISTS, TORCH_HEADERS, ensure_torch_venv  # noqa: E402

PINNED = {
    "causal_conv1d-1.4.0.tar.gz": "e741fe453d708bc19be1ed71ff628cb2ed1a4b1be0e4e2fa574d09ce9a4970c3",
    "causal_conv1d-1.5.0.post8.tar.gz": "b3dc31fac0278da281b3f24ab164b01bd4518ac744e9fdd8d5d65adbf45b7136",
    "causal_conv1d-1.6.2.post1.tar.gz": "245e314ea21064ded7a5bf6b3b842b644aa6f92e45cecfe3e935629744c35ff4",
    "causal_conv1d-1.7.0.tar.gz": "3202758494eaa7b597ce1c282dfa188889506bfcb92cad3c407d26736bfcd32b",
    "mamba_ssm-1.2.0.tar.gz": "1f6f539ba4c081f62e4803eac201f68017de501015f84f1f3cad81a1b895ba0b",
    "mamba_ssm-2.2.2.tar.gz": "009de2d74decd847d463ae9cdbc1f9419f454ca6bf9beab36ed5243f01ea44d5",
    "mamba_ssm-2.2.4.tar.gz": "e4114c69302796c91b71e90032c2d974f611608fab331582a80de6eaf075efb9",
    "mamba_ssm-2.3.2.post1.tar.gz": "104cc47e9101e5401a675fa2b784f2952b9b037f3b1dd83b5ac544394e95d028",
}
# setup.py must not try to compile or to guess a wheel URL while pip only reads its metadata.
QUIET_SETUP = {"MAMBA_FORCE_BUILD": "TRUE", "MAMBA_SKIP_CUDA_BUILD": "TRUE",
               "CAUSAL_CONV1D_FORCE_BUILD": "TRUE", "CAUSAL_CONV1D_SKIP_CUDA_BUILD": "TRUE"}

# torch 2.15.0's Linux wheel (PyPI's default build, +cu132); any CPython's wheel carries the same headers.
TORCH_HEADERS_WHEEL = "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl"
TORCH_HEADERS_TREE_SHA256 = "9442dd2869c75c0c1fb7d4d9d46252658d891dd0b38920ad25f81008e04f11ac"
HEADERS_PREFIX = "torch/include/"


class RangeFile(io.RawIOBase):
    """A remote file read through HTTP Range requests; ``hold`` fetches one span once and serves reads from it."""

    def __init__(self, url: str):
        self.url, self.pos, self.held_at, self.held = url, 0, 0, b""
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as r:
            self.size = int(r.headers["Content-Length"])

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def fetch(self, start: int, end: int) -> bytes:
        req = urllib.request.Request(self.url, headers={"Range": f"bytes={start}-{end - 1}"})
        with urllib.request.urlopen(req, timeout=120) as r:
            data = r.read()
        if len(data) != end - start:
            raise OSError(f"asked {self.url} for {end - start} bytes at {start}, got {len(data)}")
        return data

    def hold(self, start: int, end: int) -> None:
        self.held_at, self.held = start, self.fetch(start, end)

    def readinto(self, buf) -> int:
        end = min(self.size, self.pos + len(buf))
        if end <= self.pos:
            return 0
        inside = self.held_at <= self.pos and end <= self.held_at + len(self.held)
        data = self.held[self.pos - self.held_at:end - self.held_at] if inside else self.fetch(self.pos, end)
        buf[:len(data)] = data
        self.pos = end
        return len(data)


def index_file_url(filename: str) -> str:
    """The file's URL on the package index's PEP 691 JSON page (PIP_INDEX_URL, else PyPI)."""
    project = filename.split("-", 1)[0]
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    req = urllib.request.Request(f"{index}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    return next(f["url"] for f in files if f["filename"] == filename)


def tree_sha256(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(root).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def fetch_torch_headers() -> None:
    """torch/include/** of TORCH_HEADERS_WHEEL into TORCH_HEADERS, by two ranged reads of the remote zip."""
    if (TORCH_HEADERS / ".complete").exists():
        return
    tmp = TORCH_HEADERS.with_name(TORCH_HEADERS.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    remote = RangeFile(index_file_url(TORCH_HEADERS_WHEEL))
    with zipfile.ZipFile(io.BufferedReader(remote, 1 << 16)) as zf:
        infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
        wanted = [i for i in infos if i.filename.startswith(HEADERS_PREFIX) and not i.is_dir()]
        ends = {a.header_offset: b.header_offset for a, b in zip(infos, infos[1:])}
        remote.hold(wanted[0].header_offset, ends.get(wanted[-1].header_offset, remote.size))
        for info in wanted:  # zipfile checks each member's CRC as it reads it
            target = tmp / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
    got = tree_sha256(tmp)
    if got != TORCH_HEADERS_TREE_SHA256:
        raise SystemExit(f"torch headers from {TORCH_HEADERS_WHEEL} do not match the pinned digest (got {got})")
    (tmp / ".complete").write_text(TORCH_HEADERS_WHEEL)
    tmp.replace(TORCH_HEADERS)
    print(f"fetched torch/include from {TORCH_HEADERS_WHEEL} ({len(wanted)} files)")


def main() -> int:
    SDISTS.mkdir(parents=True, exist_ok=True)
    py = ensure_torch_venv()
    subprocess.run([str(py), "-m", "pip", "install", "-q", "setuptools>=68", "wheel", "packaging", "ninja"], check=True)
    for filename, digest in PINNED.items():
        target = SDISTS / filename
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            continue
        name, version = filename[: -len(".tar.gz")].split("-", 1)
        subprocess.run([str(py), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
                        "-d", str(SDISTS), f"{name}=={version}"], check=True, env=dict(os.environ, **QUIET_SETUP))
        got = hashlib.sha256(target.read_bytes()).hexdigest()
        if got != digest:
            target.unlink()
            print(f"sha256 mismatch for {filename}: {got}", file=sys.stderr)
            return 1
        print(f"fetched {filename}")
    with FileLock(str(TORCH_HEADERS) + ".lock"):
        fetch_torch_headers()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
