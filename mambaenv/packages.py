"""The packages mambaenv knows, one record each: every list of packages in mambaenv is derived from this table.

A new package is a new row here plus its releases in the catalog data (and, when its wheels spell their local
version another way than upstream's ``+cu12torch2.6cxx11abiTRUE``, a scheme in wheelname.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from mambaenv.errors import BadInput


@dataclass(frozen=True)
class Package:
    name: str  # as wheel file names and `--package` spell it
    project: str  # as the package index spells it
    repo: str  # the GitHub repository whose releases carry the prebuilt wheels
    extensions: tuple[str, ...]  # the compiled modules a real build carries; a pure-Python build lacks them
    build_env_prefix: str  # setup.py reads {PREFIX}_FORCE_BUILD, {PREFIX}_SKIP_CUDA_BUILD, ...
    naming: str  # the local-version scheme of its upstream wheels (wheelname.SCHEMES)
    default: bool  # installed when no --package is given
    # the most one of its wheels can weigh: upstream's biggest assets (cu12, SASS for every architecture) stay well under
    # 1 GiB; a server offering more is not serving that file, refused after the probe even when only a sha256 could tell
    max_wheel_bytes: int = 1 << 30


TABLE: tuple[Package, ...] = (
    # install order: mamba_ssm imports causal_conv1d's kernels when they are present
    Package("mamba_ssm", "mamba-ssm", "state-spaces/mamba", ("selective_scan_cuda",), "MAMBA", "upstream", True),
    Package("causal_conv1d", "causal-conv1d", "Dao-AILab/causal-conv1d", ("causal_conv1d_cuda",), "CAUSAL_CONV1D", "upstream", True),
)
BY_NAME = {p.name: p for p in TABLE}
DEFAULT = tuple(p.name for p in TABLE if p.default)
KNOWN = tuple(p.name for p in TABLE)


def get(name: str) -> Package:
    try:
        return BY_NAME[name]
    except KeyError:
        raise BadInput(f"unknown package {name!r}", f"use one of {', '.join(KNOWN)} or all") from None


def selected(package: str) -> tuple[str, ...]:
    """``--package``: ``all`` (the default set, in install order) or one known name."""
    return DEFAULT if package == "all" else (get(package).name,)


def of_filename(filename: str) -> Package | None:
    """The package a file (wheel or sdist) belongs to, by its name's first part; None for any other project."""
    head = filename.split("-", 1)[0].replace("-", "_").replace(".", "_").lower()
    return BY_NAME.get(head)


def extension_owner() -> dict[str, str]:
    """{extension module: package}."""
    return {module: p.name for p in TABLE for module in p.extensions}
