"""venvs, made with uv when present (much faster) and ``python -m venv`` otherwise; installs likewise."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mambaenv.errors import MambaenvError


def uv_path() -> str | None:
    if os.environ.get("MAMBAENV_NO_UV"):
        return None
    found = shutil.which("uv")
    if found:
        return found
    try:  # the uv wheel ships its binary; find it next to our own interpreter
        from uv import find_uv_bin  # optional: the uv wheel may not be installed

        return find_uv_bin()
    except Exception:
        return None


def venv_python(prefix: Path) -> Path:
    return Path(prefix) / "bin" / "python"


def create_venv(prefix: Path, base_python: str | None = None, read_error=None) -> Path:
    """``read_error(output) -> (what, fix)``: the installer-error reader (install_errors), given by the caller so that this
    module stays at the bottom of the house."""
    prefix = Path(prefix)
    if prefix.exists() and any(prefix.iterdir()):
        raise MambaenvError(f"{prefix} already exists", "choose a new name or remove it first")
    base = base_python or sys.executable
    uv = uv_path()
    cmd = [uv, "venv", "--quiet", "--python", base, str(prefix)] if uv else [base, "-m", "venv", str(prefix)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(prefix, ignore_errors=True)

        output = proc.stderr + proc.stdout
        what, fix = read_error(output) if read_error else ((output.strip().splitlines() or ["no output"])[-1], None)
        raise MambaenvError(f"could not create a venv at {prefix} with {base}: {what}", fix)
    return venv_python(prefix)


def install_command(python: str, args: list[str]) -> list[str]:
    """``uv pip install`` for the interpreter when uv exists (venvs made by uv have no pip), else pip."""
    uv = uv_path()
    if uv:
        return [uv, "pip", "install", "--python", python, *args]
    return [python, "-m", "pip", "install", "--disable-pip-version-check", *args]


def freeze(python: str) -> list[str]:
    uv = uv_path()
    cmd = [uv, "pip", "freeze", "--python", python] if uv else [python, "-m", "pip", "freeze", "--all"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return sorted(line for line in proc.stdout.splitlines() if line.strip())


def uninstall(python: str, names: list[str]) -> None:
    if not names:
        return
    uv = uv_path()
    cmd = [uv, "pip", "uninstall", "--python", python, *names] if uv else [python, "-m", "pip", "uninstall", "-y", *names]
    subprocess.run(cmd, capture_output=True)
