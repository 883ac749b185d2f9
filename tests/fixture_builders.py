"""Builders for test fixtures that are slow to make: cached under tests/fixtures/cache between runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

CACHE = Path(__file__).resolve().parent / "fixtures" / "cache"
TORCH_VERSION = os.environ.get("MAMBAENV_TEST_TORCH", "2.13.0")


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_torch_venv() -> Path:
    """venv + ``pip install torch==2.13.0``; returns the venv's python."""
    CACHE.mkdir(parents=True, exist_ok=True)
    venv = CACHE / f"venv-torch-{TORCH_VERSION}"
    with FileLock(str(venv) + ".lock"):
        done = venv / ".complete"
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(_venv_python(venv)), "-m", "pip", "install", "-q", f"torch=={TORCH_VERSION}"], check=True)
            done.write_text("ok")
    return _venv_python(venv)
