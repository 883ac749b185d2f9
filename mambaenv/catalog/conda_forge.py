"""conda-forge's own mamba-ssm and causal-conv1d packages, for conda envs whose torch is conda-forge's pytorch.

``data/conda-forge.json`` (``tools/regen_conda_forge.py``, from the two feedstocks' history) lists every build the
feedstocks asked CI for: version, build number, platform (linux-64, linux-aarch64, win-64), CUDA, Python and
the pytorch it pins. Pure functions here decide which build fits an env; the conda solver has the last word
(``source: "predicted"``), and the channel's listing is the authority once read.

A build fits when its platform and Python are the env's, its CUDA has the env's major and a minor no newer
(its ``cuda-version`` run constraint), and the pytorch it was compiled against is the env's major.minor: a torch
extension's C++ symbols change between torch minors. mamba-ssm's recipe pins no pytorch (``pytorch * cuda*``), so
the solver would take any; for those builds the pytorch is the one conda-forge's pinning named the day they were
built (``pytorch_pinning_then``, said as inferred).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from packaging.version import Version

from mambaenv.compat import WheelFacts
from mambaenv.wheelname import LocalTag

ORIGIN = "conda-forge"
CHANNEL = "conda-forge"
# conda's subdir per (system, machine) of the env
PLATFORMS = {("Linux", "x86_64"): "linux-64", ("Linux", "aarch64"): "linux-aarch64", ("Windows", "AMD64"): "win-64",
             ("Windows", "x86_64"): "win-64"}
# the machine each subdir is for, as the env's probe (platform.machine()) names it
MACHINES = {"linux-64": "x86_64", "linux-aarch64": "aarch64", "win-64": "AMD64"}


@dataclass(frozen=True)
class CondaForgeBuild:
    package: str  # "causal_conv1d"
    name: str  # "causal-conv1d", the conda package
    version: str
    build: int  # build number
    platform: str  # "linux-64"
    cuda: str  # "13.0": cuda_compiler_version, and the cuda-version it runs with
    python: str  # "3.12"
    pytorch: str | None  # "2.13": the pinned major.minor; None: unpinned in the recipe
    glibc: str | None  # c_stdlib_version ("2.28"); None on Windows
    cuda_in_build_string: bool  # the build string starts cuda<XY> (causal-conv1d's v1 recipe)
    date: str  # the day the feedstock first asked for it
    pytorch_pinning_then: str | None = None
    source: str = "predicted"

    @property
    def spec(self) -> str:
        """A conda match spec for exactly this build: the build string ends ``_<build number>`` and, where the recipe
        sets it, starts ``cuda<XY>`` (``causal-conv1d=1.7.0=cuda130*_0``)."""
        prefix = f"cuda{self.cuda.replace('.', '')}" if self.cuda_in_build_string else ""
        return f"{self.name}={self.version}={prefix}*_{self.build}"

    @property
    def built_against(self) -> str | None:
        """The pytorch major.minor it was compiled against: pinned, else inferred from the pinning of its day."""
        return self.pytorch or self.pytorch_pinning_then

    def facts(self) -> WheelFacts | None:
        """What compat judges: Python, the platform's machine, the CUDA and the pytorch it was built against, its glibc.
        conda-forge builds everything, pytorch included, with its own GCC and the C++11 ABI; Windows has no such ABI.
        None when the pytorch it was built against is unknown."""
        if self.built_against is None:
            return None
        abi = None if self.platform.startswith("win") else True
        # never written as a file name: the tag only carries the facts
        local = LocalTag(self.cuda, self.built_against, abi)
        return WheelFacts(self.spec, self.python, MACHINES.get(self.platform), local, None, self.glibc)

    def to_dict(self) -> dict:
        return {**asdict(self), "origin": ORIGIN, "channel": CHANNEL, "spec": self.spec, "built_against": self.built_against,
                "pytorch_inferred": self.pytorch is None}


def builds(data: dict, package: str) -> list[CondaForgeBuild]:
    rec = data["packages"][package]
    return [CondaForgeBuild(package, rec["name"], b["version"], b["build"], b["platform"], b["cuda"], b["python"], b["pytorch"],
                            b["glibc"], b["cuda_in_build_string"], b["date"], b.get("pytorch_pinning_then")) for b in rec["builds"]]


def platform_of(system: str, machine: str) -> str | None:
    """("Linux", "x86_64") -> "linux-64"; None where conda-forge builds neither package."""
    return PLATFORMS.get((system, machine))


def _mm(version: str) -> str:
    v = Version(Version(version).base_version)
    return f"{v.major}.{v.minor}"


def cuda_version_allows(b: CondaForgeBuild, torch_cuda: str) -> bool:
    """The build's ``cuda-version`` run constraint: the env's CUDA major, and a minor no newer than the env's."""
    c, env = Version(b.cuda), Version(torch_cuda)
    return c.major == env.major and c <= env


def fits(b: CondaForgeBuild, torch: str, torch_cuda: str, platform: str, python: str) -> bool:
    return b.platform == platform and b.python == _mm(python) and cuda_version_allows(b, torch_cuda) and b.built_against == _mm(torch)


def rank(b: CondaForgeBuild) -> tuple:
    """Best last: newest version, a pinned pytorch before an inferred one, highest build number, the newest CUDA minor."""
    return Version(b.version), b.pytorch is not None, b.build, Version(b.cuda)


def fitting(data: dict, package: str, torch: str, torch_cuda: str, platform: str, python: str) -> list[CondaForgeBuild]:
    """The builds that fit this env (conda-forge's pytorch ``torch`` built for CUDA ``torch_cuda``), best first."""
    return sorted((b for b in builds(data, package) if fits(b, torch, torch_cuda, platform, python)), key=rank, reverse=True)


def install_command(chosen: list[CondaForgeBuild], env_flag: str = "", keep: str | None = None) -> str:
    """``conda install -c conda-forge "mamba-ssm=2.3.1=*_1" "causal-conv1d=1.7.0=cuda130*_0"`` (``env_flag``: "-n NAME";
    ``keep``: the env's exact pytorch, asked for too so that the solver cannot replace it)."""
    specs = " ".join(f'"{s}"' for s in [b.spec for b in chosen] + ([keep] if keep else []))
    return " ".join(p for p in ("conda install", env_flag, f"-c {CHANNEL}", specs) if p)


@lru_cache(maxsize=1)
def load_conda_forge() -> dict:
    """The shipped data, read once a process and only when a conda env asks."""
    return json.loads((Path(__file__).resolve().parent / "data" / "conda-forge.json").read_text())
