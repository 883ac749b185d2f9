import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own mambaenv cache and config: nothing leaks between tests or to ~/.cache."""
    monkeypatch.setenv("MAMBAENV_CACHE_DIR", str(tmp_path / "mambaenv-cache"))
    monkeypatch.setenv("MAMBAENV_CONFIG", str(tmp_path / "mambaenv-config.json"))
    monkeypatch.delenv("MAMBAENV_MIRROR", raising=False)
    monkeypatch.delenv("MAMBAENV_WHEELHOUSE", raising=False)
    # Network rule: an online doctor/resolve reads the package index; in tests it may only ever be a loopback
    # address (port 9, discard: nothing listens, so a test that forgot --offline fails fast and stays local).
    monkeypatch.setenv("MAMBAENV_INDEX_URL", "http://127.0.0.1:9/simple/")
    # ... and so may Astral's per-CUDA indexes, asked online when no upstream wheel fits.
    monkeypatch.setenv("MAMBAENV_ASTRAL_INDEX", "http://127.0.0.1:9/simple/{channel}/")
    monkeypatch.delenv("NVIDIA_PRODUCT_NAME", raising=False)
    monkeypatch.delenv("NVIDIA_PYTORCH_VERSION", raising=False)
    return tmp_path / "mambaenv-cache"


def run_cli(*args, env=None, timeout=300):
    """mambaenv as a user runs it: a real process, real exit code, real stdout/stderr."""
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("COLUMNS", "200")
    return subprocess.run([sys.executable, "-m", "mambaenv", *args], capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def torch_venv():
    """A real venv holding the real CPU torch wheel (pip takes torch==2.13.0 from the file on disk)."""
    from tests.fixture_builders import ensure_torch_venv

    return ensure_torch_venv()
