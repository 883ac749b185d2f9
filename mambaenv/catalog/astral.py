"""Astral's per-CUDA GPU indexes (``https://wheels.astral.sh/simple/cu130/``, ...) as predicted wheel files.

``data/astral.json`` (made by ``tools/regen_astral.py`` from astral-sh-build/build-mamba and
build-causal-conv1d) says which torch releases, Pythons, CUDA versions and machines the newest version of
each package is built for, and the manylinux policy auditwheel repaired it to. Everything here is pure:
the data in, predicted wheels out (``source: "predicted"``); the index page itself, with sha256, is the
authority once read.

Their wheels carry a local version ``+cu.{cuda}.torch.{torch}`` (``+cu.12.8.torch.2.11``: torch.version.cuda
and torch major.minor, from their patch-local-version.patch), require ``torch=={major}.{minor}.*``, and sit
in the index of their CUDA (``cu128``). Their GPU code is upstream setup.py's ``-gencode`` list for the
toolkit of that CUDA, which Astral's patches leave alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.version import Version

from mambaenv.catalog import archs_for_toolkit
from mambaenv.compat import WheelFacts
from mambaenv.wheelname import LocalTag, python_tags

ORIGIN = "astral"


def _mm(version: str) -> str:
    v = Version(Version(version).base_version)
    return f"{v.major}.{v.minor}"


def channel(cuda: str) -> str:
    """"13.0" -> "cu130": the index a CUDA's wheels live in."""
    major, minor = cuda.split(".")[:2]
    return f"cu{major}{minor}"


def cxx11_abi(rule: dict, torch: str, cuda: str) -> bool:
    """The ABI of the PyTorch build the wheel was compiled against (Astral's plan-matrix.py rule)."""
    t, c = Version(Version(torch).base_version), Version(cuda)
    first, cuda_26 = Version(rule["from_torch"]), Version(rule["torch_2_6_from_cuda"])
    return t >= first or ((t.major, t.minor) == (2, 6) and c >= cuda_26)


@dataclass(frozen=True)
class AstralWheel:
    package: str  # "mamba_ssm"
    project: str  # "mamba-ssm", as the index names it
    version: str  # "2.3.2.post1+cu.13.0.torch.2.11"
    filename: str
    index_url: str  # "https://wheels.astral.sh/simple/cu130/"
    python: str  # "3.12"
    machine: str  # "x86_64"
    torch: str  # "2.11": Requires-Dist torch==2.11.*
    torch_built: str  # "2.11.0", the release the table names
    cuda: str  # "13.0", torch.version.cuda of that build
    glibc: str  # "2.28": the manylinux policy asked of auditwheel (a real file may also carry older tags)
    cxx11_abi: bool
    archs: tuple[int, ...] | None = None  # SASS targets; None when the upstream rules were not given
    source: str = "predicted"

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def local(self) -> LocalTag:
        """Its local version (wheelname's ``astral`` scheme), with the ABI its torch build has: compat judges it as any wheel."""
        return LocalTag(self.cuda, self.torch, self.cxx11_abi, "astral")

    def facts(self) -> WheelFacts:
        return WheelFacts(self.filename, self.python, self.machine, self.local, self.archs, self.glibc)

    def to_dict(self) -> dict:
        return {"package": self.package, "origin": ORIGIN, "version": self.version, "file": self.filename,
                "index_url": self.index_url, "requirement": self.requirement, "python": self.python,
                "machine": self.machine, "torch": self.torch, "cuda": self.cuda, "glibc": self.glibc,
                "cxx11_abi": self.cxx11_abi, "archs": list(self.archs) if self.archs is not None else None,
                "source": self.source}


def wheel_filename(package: str, version: str, python: str, machine: str, glibc: str) -> str:
    py, abi = python_tags(python)
    return f"{package}-{version}-{py}-{abi}-manylinux_{glibc.replace('.', '_')}_{machine}.whl"


def expand(data: dict, package: str, arch_rules: list | None = None, torch: str | None = None) -> list[AstralWheel]:
    """Every wheel the README table says the newest version has, one per torch, CUDA, machine and Python.

    ``arch_rules``: the upstream release's (catalog record ``arch_rules`` of the same version), for ``archs``.
    ``torch``: only the rows of this torch's major.minor (a plan needs no other; a catalog page asks thousands of times)."""
    rec = data["packages"][package]
    out = []
    for row in rec["rows"]:
        t = Version(row["torch"])
        mm = f"{t.major}.{t.minor}"
        if torch is not None and mm != _mm(torch):
            continue
        for machine, cudas in sorted(row["cuda"].items()):
            for cuda in cudas:
                version = f"{rec['version']}+{LocalTag(_mm(cuda), _mm(row['torch']), None, 'astral')}"
                archs = archs_for_toolkit(arch_rules, cuda) if arch_rules else None
                abi = cxx11_abi(data["cxx11_abi"], row["torch"], cuda)
                out += [AstralWheel(package, rec["project"], version, wheel_filename(package, version, py, machine, row["glibc"]),
                                    data["index"].format(channel=channel(cuda)), py, machine, mm, row["torch"], cuda,
                                    row["glibc"], abi, archs) for py in row["pythons"]]
    return out


def candidates(wheels: list[AstralWheel], python: str, machine: str, torch: str, torch_cuda: str) -> list[AstralWheel]:
    """The wheels for this Python, machine and torch major.minor whose CUDA this torch can run: its own CUDA first,
    then older minors of the same major (built with an older toolkit); never a newer minor."""
    t, cuda = Version(Version(torch).base_version), Version(torch_cuda)
    mm = f"{t.major}.{t.minor}"

    def usable(w: AstralWheel) -> bool:
        c = Version(w.cuda)
        return w.python == python and w.machine == machine and w.torch == mm and c.major == cuda.major and c <= cuda

    return sorted((w for w in wheels if usable(w)), key=lambda w: Version(w.cuda), reverse=True)


@lru_cache(maxsize=1)
def load_astral() -> dict:
    """The shipped data, read once a process and only when asked for (resolve --offline's start stays short)."""
    return json.loads((Path(__file__).resolve().parent / "data" / "astral.json").read_text())
