"""conda / mamba / micromamba: the one module that builds their command lines.

These tools (and their channels) cannot run in our test machines; tests put a small stand-in
executable on PATH that creates a real env, and check the command lines built here.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mambaenv.errors import MambaenvError

FRONTENDS = ("micromamba", "mamba", "conda")


def find_frontend(preferred: str | None = None) -> str | None:
    for name in ([preferred] if preferred else []) + list(FRONTENDS):
        path = shutil.which(name)
        if path:
            return path
    return None


def _target_flag(target: str) -> list[str]:
    return ["-p", target] if ("/" in target or target.startswith(".")) else ["-n", target]


def create_command(exe: str, target: str, python: str, torch: str | None = None, cuda: str | None = None) -> list[str]:
    """The user story's recipe: python, then torch with pytorch-cuda from the pytorch and nvidia channels."""
    cmd = [exe, "create", "-y", *_target_flag(target), f"python={python}"]
    if torch:
        cmd += [f"pytorch={torch}"]
        if cuda:
            cmd += [f"pytorch-cuda={cuda}", "-c", "pytorch", "-c", "nvidia"]
        else:
            cmd += ["cpuonly", "-c", "pytorch"]
    return cmd


def remove_command(exe: str, target: str) -> list[str]:
    return [exe, "env", "remove", "-y", *_target_flag(target)]


def prefix_of(exe: str, target: str) -> Path:
    if "/" in target or target.startswith("."):
        return Path(target).resolve()
    proc = subprocess.run([exe, "info", "--base"], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise MambaenvError(f"{exe} info --base failed", "check the conda installation")
    return Path(proc.stdout.strip().splitlines()[-1]) / "envs" / target


def create_env(exe: str, target: str, python: str, torch: str | None, cuda: str | None) -> Path:
    proc = subprocess.run(create_command(exe, target, python, torch, cuda), capture_output=True, text=True)
    prefix = prefix_of(exe, target)
    if proc.returncode != 0:
        remove_env(exe, target, prefix)
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise MambaenvError(f"{Path(exe).name} could not create {target}: {last}", "check the channels and the versions asked for")
    return prefix / "bin" / "python"


def remove_env(exe: str, target: str, prefix: Path) -> None:
    subprocess.run(remove_command(exe, target), capture_output=True)
    if prefix.exists():
        shutil.rmtree(prefix, ignore_errors=True)
