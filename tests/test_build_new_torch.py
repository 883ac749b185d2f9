"""Builds for today's torch: the C++ standard torch's headers require, the kernels kept, a build without them refused.

The compile proof runs where nvcc exists (no GPU needed) with torch 2.15's real headers, which
tools/fetch_fixtures.py unpacks into .fixture-cache/: the files go through mambaenv's own source preparation
(the rewrites `build` applies), then through the compilers with the flags the prepared setup.py gives.
"""
import ast
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from mambaenv.build import BuildError, BuildPlan, build_env, cxx_standard_for, prepare_source, rewrite_cxx_standard, run_build
from tests.fixture_builders import SDISTS, TORCH_HEADERS, ensure_torch_venv

MAMBA = "mamba_ssm-2.3.2.post1"
ATEN_NEEDS_CXX20 = "C++20 or later compatible compiler is required to use ATen"


def plan_for(sdist: Path, torch: str | None, tmp: Path, **kw) -> BuildPlan:
    package = sdist.name.split("-", 1)[0]
    return BuildPlan(package, sdist, kw.pop("archs", ["9.0"]), 16, kw.pop("python", "python3"), "cu13torch2.15cxx11abiTRUE",
                     tmp / "out", torch=torch, **kw)


def std_flags(setup_py: str) -> list[str]:
    return re.findall(r"-std=c\+\+\d+", setup_py)


@pytest.mark.parametrize("torch,standard", [
    ("2.13.0", None), ("2.13.0+cu130", None), ("2.14.0", "c++20"), ("2.14.0.dev20260721+cu130", "c++20"),
    ("2.15.0+cu132", "c++20"), ("2.8.0a0+5228986c39.nv25.06", None), (None, None)])
def test_the_standard_follows_what_torchs_headers_require(torch, standard):
    assert cxx_standard_for(torch) == standard


def test_a_setup_py_without_a_pinned_standard_is_left_to_torch():
    text = 'extra_compile_args = {"cxx": ["-O3"], "nvcc": ["-O3", "--use_fast_math"]}\n'
    assert rewrite_cxx_standard(text, "c++20") == (text, 0)


@pytest.mark.parametrize("sdist", sorted(p.name for p in SDISTS.glob("*.tar.gz")) or ["none"])
def test_every_sdist_is_prepared_with_cxx20_for_torch_2_15_and_left_alone_for_2_11(sdist, tmp_path):
    path = SDISTS / sdist
    if not path.exists():
        pytest.skip("no sdist fixtures: run tools/fetch_fixtures.py")
    with tarfile.open(path) as tf:
        upstream = tf.extractfile(next(m for m in tf.getmembers() if m.name.endswith("/setup.py") and m.name.count("/") == 1)).read().decode()
    notes: dict = {}
    new = (prepare_source(plan_for(path, "2.15.0+cu130", tmp_path / "new"), tmp_path / "new", notes=notes) / "setup.py").read_text()
    old = (prepare_source(plan_for(path, "2.11.0+cu130", tmp_path / "old"), tmp_path / "old") / "setup.py").read_text()
    assert std_flags(new) == ["-std=c++20"] * len(std_flags(upstream))  # every pin replaced, cxx and nvcc, CUDA and HIP
    assert std_flags(old) == std_flags(upstream)
    if std_flags(upstream):
        assert "c++20" in notes["cxx_standard"] and "2.15.0" in notes["cxx_standard"]


def test_the_build_asks_setup_py_to_keep_the_cuda_kernels():
    env = build_env(plan_for(SDISTS / f"{MAMBA}.tar.gz", "2.15.0", Path("/nonexistent")),
                    {"MAMBA_SKIP_CUDA_BUILD": "TRUE", "PATH": "/bin"})
    assert env["MAMBA_KEEP_CUDA_BUILD"] == "TRUE" and env["MAMBA_FORCE_BUILD"] == "TRUE"
    assert "MAMBA_SKIP_CUDA_BUILD" not in env and env["TORCH_CUDA_ARCH_LIST"] == "9.0"


# An sdist shaped like upstream main after state-spaces/mamba#977: the extension is built only on request. A tiny C
# file stands in for the CUDA sources, so a real pip builds a real wheel here without a GPU or nvcc.
OPT_IN_SETUP = """import os
from setuptools import Extension, setup
keep = os.environ.get("MAMBA_KEEP_CUDA_BUILD", "FALSE") == "TRUE" and not {never}
setup(name="mamba_ssm", version="9.9.9", packages=["mamba_ssm"],
      ext_modules=[Extension("selective_scan_cuda", ["ext.c"])] if keep else [])
"""
EXT_C = """#include <Python.h>
static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "selective_scan_cuda", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_selective_scan_cuda(void) { return PyModule_Create(&m); }
"""


def opt_in_sdist(tmp: Path, never: bool) -> Path:
    root = tmp / "src" / "mamba_ssm-9.9.9"
    (root / "mamba_ssm").mkdir(parents=True)
    (root / "mamba_ssm" / "__init__.py").write_text('__version__ = "9.9.9"\n')
    (root / "setup.py").write_text(OPT_IN_SETUP.format(never=never))
    (root / "ext.c").write_text(EXT_C)
    sdist = tmp / "mamba_ssm-9.9.9.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        tf.add(root, arcname=root.name)
    return sdist


@pytest.mark.slow
def test_an_opt_in_kernel_build_comes_out_with_its_extension(tmp_path):
    py = str(ensure_torch_venv())
    plan = plan_for(opt_in_sdist(tmp_path, never=False), "2.15.0", tmp_path, archs=None, python=py, split=False)
    (tmp_path / "work").mkdir()
    wheel = run_build(plan, tmp_path / "work", tmp_path / "build.log")
    assert wheel.name.startswith("mamba_ssm-9.9.9+cu13torch2.15cxx11abiTRUE-")
    assert any(n.startswith("selective_scan_cuda") and n.endswith(".so") for n in zipfile.ZipFile(wheel).namelist())


@pytest.mark.slow
def test_a_build_whose_wheel_lacks_the_extension_is_refused(tmp_path):
    py = str(ensure_torch_venv())
    plan = plan_for(opt_in_sdist(tmp_path, never=True), "2.15.0", tmp_path, archs=None, python=py, split=False)
    (tmp_path / "work").mkdir()
    with pytest.raises(BuildError, match="without its CUDA extension selective_scan_cuda") as e:
        run_build(plan, tmp_path / "work", tmp_path / "build.log")
    assert e.value.exit_code == 6 and not (tmp_path / "out").exists()  # nothing handed out as built


# --- the compile proof against torch 2.15's headers ---------------------------------------------------------

NVCC = shutil.which("nvcc")
INCLUDE = TORCH_HEADERS / "torch" / "include"


def cuda_include() -> Path | None:
    homes = [os.environ.get("CUDA_HOME"), "/usr/local/cuda", NVCC and Path(NVCC).resolve().parents[1]]
    return next((Path(h) / "include" for h in homes if h and (Path(h) / "include" / "cuda_runtime_api.h").exists()), None)


def compile_args(setup_py: str) -> dict[str, list[str]]:
    """The CUDA branch's extra_compile_args of a prepared setup.py, nvcc's with the architecture flags it sets."""
    tree = ast.parse(setup_py)
    value = next(a.value for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "HIP_BUILD"
                 for a in n.orelse if isinstance(a, ast.Assign) and ast.unparse(a.targets[0]) == "extra_compile_args")
    cc_flag = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                   if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "cc_flag" and isinstance(n.value, ast.List) and n.value.elts)
    args = {ast.literal_eval(k): [c.value for c in ast.walk(v) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            for k, v in zip(value.keys, value.values)}
    args["nvcc"] += cc_flag
    return {k: ["-O0" if a == "-O3" else a for a in v] for k, v in args.items()}  # -O0: the proof is the front end


def prepared(tmp: Path, torch: str) -> tuple[Path, dict[str, list[str]]]:
    src = prepare_source(plan_for(SDISTS / f"{MAMBA}.tar.gz", torch, tmp), tmp)
    return src, compile_args((src / "setup.py").read_text())


def includes(src: Path) -> list[str]:
    """What torch's cpp_extension passes: its headers, the Python headers, the extension's own folder."""
    return [f"-I{INCLUDE}", f"-I{INCLUDE / 'torch/csrc/api/include'}", f"-I{sysconfig.get_paths()['include']}",
            f"-I{src / 'csrc/selective_scan'}"]


def compile_host(src: Path, flags: list[str], tmp: Path) -> subprocess.CompletedProcess:
    defines = ["-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=selective_scan_cuda", "-D_GLIBCXX_USE_CXX11_ABI=1"]
    return subprocess.run(["c++", "-c", "csrc/selective_scan/selective_scan.cpp", "-o", str(tmp / "host.o"), "-fPIC",
                           *flags, *includes(src), f"-I{cuda_include()}", *defines], cwd=src, capture_output=True, text=True)


needs_nvcc_and_headers = pytest.mark.skipif(
    NVCC is None or not (TORCH_HEADERS / ".complete").exists() or cuda_include() is None,
    reason="needs nvcc, the CUDA headers and torch 2.15's headers (tools/fetch_fixtures.py); no GPU needed")


@pytest.mark.slow
@needs_nvcc_and_headers
def test_mambas_host_file_compiles_against_torch_2_15_only_with_the_standard_build_sets(tmp_path):
    src, args = prepared(tmp_path / "fixed", "2.15.0+cu132")
    assert "-std=c++20" in args["cxx"] and "-std=c++20" in args["nvcc"] and "-std=c++17" not in args["cxx"] + args["nvcc"]
    done = compile_host(src, args["cxx"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    old_src, old_args = prepared(tmp_path / "upstream", "2.13.0")  # the flags upstream's setup.py pins
    refused = compile_host(old_src, old_args["cxx"], tmp_path)
    assert refused.returncode != 0 and ATEN_NEEDS_CXX20 in refused.stderr


@pytest.mark.slow
@needs_nvcc_and_headers
def test_a_split_selective_scan_fwd_piece_compiles_with_nvcc_in_cxx20_against_torch_2_15(tmp_path):
    src, args = prepared(tmp_path / "fixed", "2.15.0+cu132")
    piece = "csrc/selective_scan/selective_scan_fwd_fp32_mesplit00.cu"
    assert piece in (src / "setup.py").read_text()  # the split put it in setup.py's sources
    done = subprocess.run([NVCC, "-c", piece, "-o", str(tmp_path / "fwd.o"), "-Xcompiler", "-fPIC", *args["nvcc"], *includes(src),
                           "-DTORCH_API_INCLUDE_EXTENSION_H", "-D_GLIBCXX_USE_CXX11_ABI=1"], cwd=src, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "arch=compute_90,code=sm_90" in args["nvcc"] and "-std=c++20" in args["nvcc"]
    syms = subprocess.run(["nm", "-C", str(tmp_path / "fwd.o")], capture_output=True, text=True).stdout
    assert "selective_scan_fwd_cuda<float, float>" in syms
