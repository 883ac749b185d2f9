"""Builders for test fixtures that are slow to make: cached under .fixture-cache/ (git-ignored) between runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from mambaenv.packages import TABLE as PACKAGE_TABLE
from mambaenv.packages import get as package_record

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
            prefix = package_record(package).build_env_prefix
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


def base_rootfs_tar() -> Path:
    """A debootstrap minbase rootfs with python3 and pip (Debian's packages) as a tarball, made once and cached."""
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
    return ROOTFS_TAR


def docker_base_image() -> str:
    """A small base image with python3 and pip, made without any registry: the rootfs tarball imported with
    ``docker import``."""
    import docker

    c = docker.from_env(version="auto")
    try:
        c.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    repo, tag = BASE_IMAGE.split(":")
    c.api.import_image(src=str(base_rootfs_tar()), repository=repo, tag=tag)
    return BASE_IMAGE


def podman_base_image(prefix: tuple[str, ...] = ()) -> str:
    """The same base for Podman (``podman import``; Podman names it localhost/...). ``prefix``: run podman as another
    user (rootless: its own storage)."""
    name = f"localhost/{BASE_IMAGE}"
    if subprocess.run([*prefix, "podman", "image", "exists", name]).returncode != 0:
        with open(base_rootfs_tar(), "rb") as tar:  # through stdin: the user behind ``prefix`` need not read the cache
            subprocess.run([*prefix, "podman", "import", "--quiet", "-", name], stdin=tar, check=True, stdout=subprocess.DEVNULL)
    return name


# A stand-in for a package's compiled extension: a real shared object named as the wheel's, whose init imports torch
# as the real one needs torch's libraries loaded first. No CUDA, no nvcc: the probe only imports it.
STANDIN_EXTENSION_C = r"""
#include <Python.h>
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(module)s", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_%(module)s(void) {
    PyObject *torch = PyImport_ImportModule("torch");
    if (torch == NULL) return NULL;
    Py_DECREF(torch);
    return PyModule_Create(&def);
}
"""

# A stand-in torch: the files the probes read (version.py) and an import that leaves a mark, so a test can tell
# whether anything imported torch in the env.
STANDIN_TORCH_INIT = """\
import os
import types
from torch import version
from torch.version import __version__
_C = types.SimpleNamespace(_GLIBCXX_USE_CXX11_ABI=True)  # what the probe's --deep reads
cuda = types.SimpleNamespace(is_available=lambda: False)
with open(os.path.join(os.path.dirname(__file__), "imported"), "a") as f:
    f.write("imported\\n")
"""


def standin_extension(site: Path, module: str) -> Path:
    """Compile the stand-in extension into ``site`` (gcc and Python's headers needed)."""
    import sysconfig

    src = site.parent / f"{module}.c"
    src.write_text(STANDIN_EXTENSION_C % {"module": module})
    out = site / (module + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(["gcc", "-shared", "-fPIC", "-O0", f"-I{sysconfig.get_paths()['include']}", str(src), "-o", str(out)], check=True)
    return out


def standin_torch(site: Path, version: str = f"{TORCH_VERSION}+cpu") -> Path:
    """A torch package of two files in ``site``; returns the file its import marks."""
    pkg = site / "torch"
    pkg.mkdir(exist_ok=True)
    (pkg / "version.py").write_text(f"__version__ = {version!r}\ncuda = None\nhip = None\n")
    (pkg / "__init__.py").write_text(STANDIN_TORCH_INIT)
    return pkg / "imported"


def installed_mamba_env(root: Path, torch: str = "real") -> tuple[Path, Path]:
    """A venv where mamba_ssm and causal_conv1d are installed as far as mambaenv's probes can tell: the real
    dist-info of the pure-Python builds of their sdists, plus a stand-in extension each. ``torch="real"`` makes
    the fixture's CPU torch visible (a .pth); ``"standin"`` puts the stand-in torch there instead.
    Returns (python, site-packages)."""
    from uv import find_uv_bin

    venv = root / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = _venv_python(venv)
    site = next((venv / "lib").glob("python*/site-packages"))
    if torch == "real":
        torch_site = next((ensure_torch_venv().parent.parent / "lib").glob("python*/site-packages"))
        (site / "fixture-torch.pth").write_text(str(torch_site) + "\n")
    else:
        standin_torch(site)
    wheels = [str(fixture_wheel("mamba_ssm", "2.2.4")), str(fixture_wheel("causal_conv1d", "1.5.0.post8"))]
    subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(python), "--no-deps", *wheels], check=True)
    for module in (p.extensions[0] for p in PACKAGE_TABLE):
        standin_extension(site, module)
    return python, site
