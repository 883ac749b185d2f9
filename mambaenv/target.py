"""The target env a command works for: probed from an interpreter (once per command), or built from explicit facts for
another machine."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from packaging.version import Version

from mambaenv.errors import BadInput
from mambaenv.facts import (
    Target,
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
    cpu_build = Version(torch).local == "cpu"
    if torch_cuda is None and said is None and not cpu_build:  # silence would mean a CPU-only torch: never guessed
        raise BadInput(f"--torch {torch} does not say which CUDA that torch was built for",
                       "add --torch-cuda X.Y (python -c 'import torch; print(torch.version.cuda)' there), or --torch-cuda none for a CPU-only torch")
    cuda = check_cuda_version(torch_cuda) if torch_cuda is not None else said
    if cpu_build and cuda:
        raise BadInput(f"--torch {torch} is a CPU-only build, but --torch-cuda is {torch_cuda}",
                       "drop --torch-cuda, or give the CUDA build's version (e.g. 2.6.0+cu126)")
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


def probed(python: str, deep: bool = False, gpu_caps: tuple[str, ...] | None = None) -> Target:
    """Probe the interpreter (the one probe of a command) for an env on this machine; its wheels must run on the GPUs
    here (``gpu_caps``, or NVML's answer when None)."""
    from mambaenv.detect.host import native_gpu_caps  # start-up: resolve with explicit facts never probes
    from mambaenv.detect.pyenv import probe_python

    pyenv = probe_python(python, deep)
    caps = native_gpu_caps() if gpu_caps is None else gpu_caps
    return Target(dataclasses.replace(pyenv.target(), gpu_caps=tuple(caps)), pyenv)


def gpu_caps_from(text: str | None) -> tuple[str, ...] | None:
    """``--gpu-arch``: ``native`` (the GPUs here), a list like ``12.0,8.6`` / ``sm_120``; None when not given."""
    if not text:
        return None
    if text == "native":
        from mambaenv.detect.host import native_gpu_caps  # start-up: NVML loads only when this machine's GPUs matter

        return native_gpu_caps()
    from mambaenv.compat import sm  # start-up: only a --gpu-arch list needs it

    caps = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            n = sm(part)
        except ValueError:
            raise BadInput(f"malformed GPU architecture {part!r}", "give compute capabilities like 12.0,8.6 or sm_120, or native") from None
        caps.append(f"{n // 10}.{n % 10}")
    return tuple(caps)


def target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc, gpu_arch: str | None = None) -> Target:
    """Explicit facts when ``--torch`` is given (``--python`` is then a version); else probe the interpreter.

    ``gpu_arch`` (``--gpu-arch``): the GPUs a wheel's code must run on; unset, a probed env's are the GPUs here and
    explicit facts name none (not checked)."""
    caps = gpu_caps_from(gpu_arch)
    if torch is not None:
        if not python:
            raise BadInput("--torch needs --python VERSION", "add e.g. --python 3.10")
        if not is_python_version(python):
            raise BadInput(f"--python {python} is an interpreter, but --torch asks for explicit facts",
                           "give --python a version such as 3.10 with --torch, or drop --torch to probe that interpreter")
        return Target(explicit_target(python, torch, torch_cuda, cxx11abi, machine, ngc)).with_gpus(caps or ())
    from mambaenv.detect.pyenv import choose_python  # start-up: resolve with explicit facts never probes

    if is_python_version(python):
        raise BadInput(f"--python {python} is a version, which needs the other facts too",
                       "add --torch VERSION --torch-cuda X.Y --cxx11abi true|false, or give --python an interpreter path")
    return probed(choose_python(python, env), gpu_caps=caps)


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
    gpu_arch: str | None = None  # --gpu-arch as typed

    @property
    def explicit(self) -> bool:
        return self.torch is not None

    def resolve(self) -> Target:
        """The target: explicit facts, or the interpreter probed (once: keep the answer)."""
        return target_from_args(self.python, self.env, self.torch, self.torch_cuda, self.cxx11abi, self.machine, self.ngc, self.gpu_arch)


# What bundle --from reads of a doctor --json file: the target env (each fact then checked as the flags are) and the server's
# interpreter, named in the commands bundle prints
DOCTOR_FILE_SHAPE = {"target": {"python": str, "?machine": str, "?system": str, "?torch": (str, None), "?torch_cuda": (str, None),
                                "?torch_hip": (str, None), "?cxx11_abi": (bool, None), "?ngc_version": (str, None),
                                "?cuda_version_env": (str, None), "?gpu_caps": [str], "?glibc": (str, None),
                                "?torch_channel": (str, None), "?torch_conda": (str, None)},
                     "?pyenv": {"?python_path": (str, None)}}


def target_from_doctor_file(path: str) -> tuple[Target, str | None]:
    """The target facts a ``doctor --json`` file recorded on the server, each checked as if typed as a flag, and that
    server's interpreter."""
    from mambaenv import jsonshape  # start-up: only a bundle --from reads a doctor file

    fix = "run mambaenv doctor --json > doctor.json on the server and copy it here"
    try:
        data = jsonshape.loads(jsonshape.read_file(path, str(path), 16 << 20), str(path))
        jsonshape.checked(data, DOCTOR_FILE_SHAPE, f"{path} (not a mambaenv doctor --json file)")
    except FileNotFoundError:
        raise BadInput(f"--from {path}: no such file", fix) from None
    except OSError as e:
        raise BadInput(f"cannot read {path} ({e.strerror})", fix) from None
    except ValueError as e:
        raise BadInput(str(e), fix) from None
    t = data["target"]
    torch = check_torch_version(t["torch"]) if t.get("torch") else None
    env = TargetEnv(python=check_python_version(t["python"]), machine=check_machine(t.get("machine", "x86_64")),
                    system=t.get("system", "Linux"), torch=torch,
                    torch_cuda=check_cuda_version(t.get("torch_cuda")), torch_hip=t.get("torch_hip"), cxx11_abi=t.get("cxx11_abi"),
                    ngc_version=t.get("ngc_version"), cuda_version_env=t.get("cuda_version_env"),
                    gpu_caps=tuple(t.get("gpu_caps", ())), glibc=t.get("glibc"), torch_channel=t.get("torch_channel"),
                    torch_conda=t.get("torch_conda"))
    return Target(env), (data.get("pyenv") or {}).get("python_path")
