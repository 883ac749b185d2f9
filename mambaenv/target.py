"""The target env a command works for: probed from an interpreter, or built from explicit facts for another machine."""
from __future__ import annotations

from dataclasses import dataclass

from mambaenv.errors import BadInput
from mambaenv.facts import (
    TargetEnv,
    check_cuda_version,
    check_machine,
    check_python_version,
    check_torch_version,
    cuda_from_torch_local,
    is_python_version,
)


def parse_bool(text: str | None, flag: str) -> bool | None:
    if text is None:
        return None
    t = text.lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise BadInput(f"malformed {flag} value {text!r}", f"use {flag} true or {flag} false")


def explicit_target(python: str, torch: str, torch_cuda: str | None, cxx11abi: str | None, machine: str, ngc: str | None) -> TargetEnv:
    torch = check_torch_version(torch)
    said = cuda_from_torch_local(torch)
    cuda = check_cuda_version(torch_cuda) if torch_cuda is not None else said
    if said and torch_cuda is not None and (cuda or "").split(".")[:2] != said.split(".")[:2]:
        # two facts that cannot both hold: picking either would name a wheel for the wrong CUDA
        raise BadInput(f"--torch {torch} says CUDA {said} but --torch-cuda is {torch_cuda}",
                       "drop --torch-cuda (the +cuXYZ tag is torch's CUDA) or give the torch version without its +cu tag")
    abi = parse_bool(cxx11abi, "--cxx11abi")
    if abi is None:
        # Never guess the ABI from the version alone; without the flag, say so.
        raise BadInput("--cxx11abi is required with explicit facts", "run python -c 'import torch; print(torch._C._GLIBCXX_USE_CXX11_ABI)' on that machine")
    return TargetEnv(python=check_python_version(python), machine=check_machine(machine), torch=torch,
                     torch_cuda=cuda, cxx11_abi=abi, ngc_version=ngc, cuda_version_env=cuda if ngc else None)


def target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc) -> TargetEnv:
    """Explicit facts when ``--torch`` is given (``--python`` is then a version); else probe the interpreter."""
    if torch is not None:
        if not python:
            raise BadInput("--torch needs --python VERSION", "add e.g. --python 3.10")
        if not is_python_version(python):
            raise BadInput(f"--python {python} is an interpreter, but --torch asks for explicit facts",
                           "give --python a version such as 3.10 with --torch, or drop --torch to probe that interpreter")
        return explicit_target(python, torch, torch_cuda, cxx11abi, machine, ngc)
    from mambaenv.detect.pyenv import choose_python, probe_python  # start-up: resolve with explicit facts never probes

    if is_python_version(python):
        raise BadInput(f"--python {python} is a version, which needs the other facts too",
                       "add --torch VERSION --torch-cuda X.Y --cxx11abi true|false, or give --python an interpreter path")
    return probe_python(choose_python(python, env)).target()


@dataclass(frozen=True)
class TargetArgs:
    """The facts flags resolve, download and bundle share, as typed: explicit facts for another machine, or an env to probe."""

    python: str | None = None  # a version (explicit facts, with torch) or an interpreter path
    env: str | None = None
    torch: str | None = None
    torch_cuda: str | None = None
    cxx11abi: str | None = None  # "true"/"false" as typed; parse_bool reads it
    machine: str = "x86_64"
    ngc: str | None = None

    def target(self) -> TargetEnv:
        return target_from_args(self.python, self.env, self.torch, self.torch_cuda, self.cxx11abi, self.machine, self.ngc)
