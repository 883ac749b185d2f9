"""Apptainer (formerly Singularity): a SIF made from an image mambaenv docker built, for Slurm clusters that run no
container engine. The conversion is Apptainer's own (``apptainer build OUT.sif docker-archive://IMAGE.tar``); the
commands here are the ones the README's Slurm recipe shows, so what mambaenv prints and what the README says agree.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from mambaenv.errors import BadInput, DockerError

BINARIES = ("apptainer", "singularity")  # SingularityCE keeps the old name and the same build/exec syntax


def find_binary() -> str | None:
    return next((p for p in map(shutil.which, BINARIES) if p), None)


def check_sif_path(sif: Path) -> Path:
    if sif.suffix != ".sif":
        raise BadInput(f"--sif {sif} does not end in .sif", "name the Apptainer image FILE.sif, e.g. --sif mamba.sif")
    if not sif.parent.is_dir():
        raise BadInput(f"--sif {sif}: no such folder {sif.parent}", "give a path in an existing folder")
    return sif


def build_command(binary: str, tar: Path, sif: Path) -> list[str]:
    return [binary, "build", "--force", str(sif), f"docker-archive://{tar}"]


def build_sif(binary: str, tar: Path, sif: Path) -> None:
    out = subprocess.run(build_command(binary, tar, sif), capture_output=True, text=True)
    if out.returncode != 0:
        said = (out.stderr.strip().splitlines() or ["no output"])[-1][:300]
        again = shlex.join(build_command(binary, tar, sif))
        raise DockerError(f"{Path(binary).name} build of {sif} failed: {said}", f"run it yourself to see all of it: {again}")


def job_steps(sif: Path) -> list[str]:
    """How a Slurm job runs the project in the SIF: GPU on (--nv), the project bound at /workspace."""
    return ["#SBATCH --gres=gpu:1",
            f'apptainer exec --nv --bind "$HOME/project:/workspace" --pwd /workspace {shlex.quote(sif.name)} python /workspace/train.py']


def cluster_steps(tar: Path, sif: Path) -> list[str]:
    """What to run where apptainer is: copy the tar there, convert it, then the job."""
    return [f"scp {shlex.quote(str(tar))} CLUSTER:",
            f"apptainer build {shlex.quote(sif.name)} docker-archive://{shlex.quote(tar.name)}"] + job_steps(sif)
