"""conda / mamba / micromamba: the one module that builds their command lines.

These tools (and their channels) cannot run in our test machines; tests put a small stand-in
executable on PATH that creates a real env, and check the command lines built here.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from mambaenv.errors import BadInput, ExitCode, MambaenvError
from mambaenv.upstream import PYTORCH_CHANNEL_LAST_TORCH, torch_index_for

FRONTENDS = ("micromamba", "mamba", "conda")


@dataclass(frozen=True)
class CondaRecipe:
    """How a new conda env gets its Python and torch: the create command's packages, and whether pip adds torch after."""

    packages: tuple[str, ...]  # "python=3.11", "pytorch=2.4.0", "pytorch-cuda=12.1", ...
    channels: tuple[str, ...]
    torch_by_pip: bool  # True: create with Python only, then pip installs torch from PyTorch's CUDA index


def recipe(python: str, torch: str | None, cuda: str | None, conda_forge: bool = False) -> CondaRecipe:
    """Decide where torch comes from; ``cuda`` is ``12.1``, ``none`` for a CPU-only torch, or None when nobody said.

    0. torch asked for without its CUDA: refuse, never fall back to a CPU-only torch silently.
    1. No torch asked for: Python only.
    2. ``conda_forge``: conda-forge's builds, the CUDA chosen with its ``cuda-version`` package (the user asked for conda packages).
    3. torch up to 2.5: the ``pytorch`` channel, with ``pytorch-cuda`` (or ``cpuonly``) from the ``nvidia`` channel.
    4. newer torch: the ``pytorch`` channel has none; Python only, then pip installs torch from PyTorch's index
       (what PyTorch documents for conda envs since 2.6).
    """
    base = (f"python={python}",)
    if not torch:
        return CondaRecipe(base, (), False)
    if cuda is None:
        raise BadInput(f"which CUDA should torch {torch} in the new conda env be built for?",
                       "add --torch-cuda 12.8 (mambaenv doctor shows what the driver supports), --torch-cuda none for CPU-only, "
                       f"or --torch-index {torch_index_for('12.8')}")
    cuda = None if cuda == "none" else cuda
    if conda_forge:
        build = f"pytorch={torch}=cuda*" if cuda else f"pytorch={torch}=cpu*"
        return CondaRecipe(base + ((build, f"cuda-version={cuda}") if cuda else (build,)), ("conda-forge",), False)
    if Version(torch).release[:2] <= Version(PYTORCH_CHANNEL_LAST_TORCH).release[:2]:
        if cuda:
            return CondaRecipe(base + (f"pytorch={torch}", f"pytorch-cuda={cuda}"), ("pytorch", "nvidia"), False)
        return CondaRecipe(base + (f"pytorch={torch}", "cpuonly"), ("pytorch",), False)
    return CondaRecipe(base, (), True)


def find_frontend(preferred: str | None = None) -> str | None:
    for name in ([preferred] if preferred else []) + list(FRONTENDS):
        path = shutil.which(name)
        if path:
            return path
    return None


def _target_flag(target: str) -> list[str]:
    return ["-p", target] if ("/" in target or target.startswith(".")) else ["-n", target]


def create_command(exe: str, target: str, plan: CondaRecipe) -> list[str]:
    cmd = [exe, "create", "-y", *_target_flag(target), *plan.packages]
    for channel in plan.channels:
        cmd += ["-c", channel]
    return cmd


def install_command(exe: str, prefix: Path, specs: list[str], keep: str | None) -> list[str]:
    """conda-forge's builds into the env at ``prefix``; ``keep``, the env's exact pytorch (``pytorch=2.10.0=<build>``), is
    asked for too, so the solver can never replace torch to satisfy them."""
    return [exe, "install", "-y", "-p", str(prefix), "-c", "conda-forge", *specs, *([keep] if keep else [])]


def remove_packages_command(exe: str, prefix: Path, names: list[str]) -> list[str]:
    """Undo an install: exactly these packages go (``--force``: no solve, so nothing else is touched)."""
    return [exe, "remove", "-y", "-p", str(prefix), "--force", *names]


def packages(prefix: Path) -> set[str]:
    """The conda packages in the env, by name: conda-meta holds one ``<name>-<version>-<build>.json`` per package."""
    return {f.name.rsplit("-", 2)[0] for f in (Path(prefix) / "conda-meta").glob("*-*-*.json")}


def remove_command(exe: str, target: str) -> list[str]:
    return [exe, "env", "remove", "-y", *_target_flag(target)]


def prefix_of(exe: str, target: str) -> Path:
    if "/" in target or target.startswith("."):
        return Path(target).resolve()
    proc = subprocess.run([exe, "info", "--base"], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise MambaenvError(f"{exe} info --base failed", "check the conda installation")
    return Path(proc.stdout.strip().splitlines()[-1]) / "envs" / target


def create_env(exe: str, target: str, plan: CondaRecipe) -> Path:
    proc = subprocess.run(create_command(exe, target, plan), capture_output=True, text=True)
    prefix = prefix_of(exe, target)
    if proc.returncode != 0:
        remove_env(exe, target, prefix)
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise MambaenvError(f"{Path(exe).name} could not create {target}: {last}", "check the channels and the versions asked for",
                            exit_code=ExitCode.INSTALL_FAILED)
    return prefix / "bin" / "python"


def remove_env(exe: str, target: str, prefix: Path) -> None:
    subprocess.run(remove_command(exe, target), capture_output=True)
    if prefix.exists():
        shutil.rmtree(prefix, ignore_errors=True)
