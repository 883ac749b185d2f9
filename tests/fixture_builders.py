"""Builders for test fixtures that are slow to make: cached under .fixture-cache/ (git-ignored) between runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from mambaenv.upstream import BUILD_ENV_PREFIX

CACHE = Path(__file__).resolve().parent.parent / ".fixture-cache"
TORCH_VERSION = os.environ.get("MAMBAENV_TEST_TORCH", "2.13.0")


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_torch_venv() -> Path:
    """venv + ``pip install torch==2.13.0``; returns the venv's python."""
    CACHE.mkdir(parents=True, exist_ok=True)
    venv = CACHE / f"venv-torch-{TORCH_VERSION}"
    with FileLock(str(venv) + ".lock"):
        done = venv / ".complete"
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(_venv_python(venv)), "-m", "pip", "install", "-q", f"torch=={TORCH_VERSION}"], check=True)
            done.write_text("ok")
    return _venv_python(venv)


SDISTS = CACHE / "sdists"
# torch/include/** of today's torch (2.15), unpacked by tools/fetch_fixtures.py: enough to compile against, no GPU needed.
TORCH_HEADERS = CACHE / "torch-2.15.0-headers"
WHEELS = CACHE / "wheels"
WHEELHOUSE = CACHE / "wheelhouse"
FIXTURE_LOCAL = "cu12torch2.13cxx11abiTRUE"  # what the fixture wheels claim to be built for


def _build_tools(py: Path) -> None:
    subprocess.run([str(py), "-m", "pip", "install", "-q", "setuptools>=68", "wheel", "packaging", "ninja"], check=True)


def fixture_wheel(package: str, version: str, local: str = FIXTURE_LOCAL) -> Path:
    """A pure-Python build of the real sdist (no CUDA), renamed to an upstream-style file name.

    Upstream renames its built wheels the same way (sed on the file name), so pip sees exactly
    what it sees with a real release asset.
    """
    py = ensure_torch_venv()
    WHEELS.mkdir(parents=True, exist_ok=True)
    tag = _venv_tag(py)
    target = WHEELS / f"{package}-{version}+{local}-{tag}-{tag}-linux_x86_64.whl"
    with FileLock(str(WHEELS / f"{package}-{version}.lock")):
        if target.exists():
            return target
        plain = WHEELS / f"{package}-{version}-py3-none-any.whl"
        if not plain.exists():
            _build_tools(py)
            prefix = BUILD_ENV_PREFIX[package]
            env = dict(os.environ, **{f"{prefix}_FORCE_BUILD": "TRUE", f"{prefix}_SKIP_CUDA_BUILD": "TRUE"})
            out = WHEELS / "build"
            subprocess.run([str(py), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                            str(SDISTS / f"{package}-{version}.tar.gz")], check=True, env=env)
            built = next(out.glob(f"{package}-{version}-*.whl"))
            built.replace(plain)
        shutil.copyfile(plain, target)
    return target


def _venv_tag(py: Path) -> str:
    out = subprocess.run([str(py), "-c", "import sys; print('cp%d%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def wheelhouse() -> Path:
    """Dependency wheels of the fixture packages (not torch), for offline installs: downloaded once."""
    py = ensure_torch_venv()
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    done = WHEELHOUSE / ".complete"
    with FileLock(str(WHEELHOUSE) + ".lock"):
        if not done.exists():
            subprocess.run([str(py), "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE), "--only-binary=:all:",
                            f"torch=={TORCH_VERSION}", "einops", "transformers", "packaging", "ninja", "setuptools>=61.0.0"], check=True)
            done.write_text("ok")
    return WHEELHOUSE


BASE_IMAGE = "mambaenv-test-base:bookworm"
ROOTFS_TAR = CACHE / "rootfs-bookworm-python3.tar"


def debian_mirror() -> str:
    """The Debian archive apt is configured with on this machine (MAMBAENV_DEBIAN_MIRROR overrides)."""
    import re

    if os.environ.get("MAMBAENV_DEBIAN_MIRROR"):
        return os.environ["MAMBAENV_DEBIAN_MIRROR"]
    sources = list(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for f in sources:
        text = f.read_text() if f.exists() else ""
        for m in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s*)?)(\S+)", text, re.M):
            if "security" not in m.group(1):
                return m.group(1)
    raise RuntimeError("no Debian archive configured for apt; set MAMBAENV_DEBIAN_MIRROR")


def docker_base_image() -> str:
    """A small base image with python3 and pip, made without any registry: a debootstrap minbase
    rootfs (Debian's packages), imported with ``docker import``; the rootfs tarball is cached."""
    import docker

    c = docker.from_env(version="auto")
    try:
        c.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ROOTFS_TAR) + ".lock"):
        if not ROOTFS_TAR.exists():
            root = CACHE / "rootfs-build"
            shutil.rmtree(root, ignore_errors=True)
            subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-pip", "bookworm", str(root),
                            debian_mirror()], check=True, stdout=subprocess.DEVNULL)
            tmp = ROOTFS_TAR.with_suffix(".part")
            subprocess.run(["tar", "-C", str(root), "-cf", str(tmp), "."], check=True)
            tmp.replace(ROOTFS_TAR)
            shutil.rmtree(root, ignore_errors=True)
        repo, tag = BASE_IMAGE.split(":")
        c.api.import_image(src=str(ROOTFS_TAR), repository=repo, tag=tag)
    return BASE_IMAGE
