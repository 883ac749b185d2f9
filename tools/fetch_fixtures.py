#!/usr/bin/env python3
"""Fetch the upstream sdists the tests use, with pip (as configured on this machine), pinned by sha256.

They land in .fixture-cache/sdists (git-ignored). Tests read them from disk and never touch the
network; this script is the one place that does, at set-up time. pip runs in the test venv that holds
torch, because upstream's setup.py imports torch even to write its metadata.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixture_builders import SDISTS, ensure_torch_venv  # noqa: E402

PINNED = {
    "causal_conv1d-1.4.0.tar.gz": "e741fe453d708bc19be1ed71ff628cb2ed1a4b1be0e4e2fa574d09ce9a4970c3",
    "causal_conv1d-1.5.0.post8.tar.gz": "b3dc31fac0278da281b3f24ab164b01bd4518ac744e9fdd8d5d65adbf45b7136",
    "causal_conv1d-1.7.0.tar.gz": "3202758494eaa7b597ce1c282dfa188889506bfcb92cad3c407d26736bfcd32b",
    "mamba_ssm-1.2.0.tar.gz": "1f6f539ba4c081f62e4803eac201f68017de501015f84f1f3cad81a1b895ba0b",
    "mamba_ssm-2.2.2.tar.gz": "009de2d74decd847d463ae9cdbc1f9419f454ca6bf9beab36ed5243f01ea44d5",
    "mamba_ssm-2.2.4.tar.gz": "e4114c69302796c91b71e90032c2d974f611608fab331582a80de6eaf075efb9",
    "mamba_ssm-2.3.2.post1.tar.gz": "104cc47e9101e5401a675fa2b784f2952b9b037f3b1dd83b5ac544394e95d028",
}
# setup.py must not try to compile or to guess a wheel URL while pip only reads its metadata.
QUIET_SETUP = {"MAMBA_FORCE_BUILD": "TRUE", "MAMBA_SKIP_CUDA_BUILD": "TRUE",
               "CAUSAL_CONV1D_FORCE_BUILD": "TRUE", "CAUSAL_CONV1D_SKIP_CUDA_BUILD": "TRUE"}


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
