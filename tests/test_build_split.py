"""The translation-unit split on the real sdists: pieces partition the instantiations, setup.py lists them,
unsafe shapes are refused, and (where nvcc exists) the technique compiles and links without a GPU."""
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from mambaenv.build_split import INSTANTIATION, apply_split, cuda_sources, deal, max_pieces_per_file, plan_split, split_instantiation_list, unshareable
from tests.fixture_builders import SDISTS

CAUSAL = "causal_conv1d-1.7.0"
MAMBA = "mamba_ssm-2.3.2.post1"


def unpack(name: str, dest: Path) -> Path:
    with tarfile.open(SDISTS / f"{name}.tar.gz") as tf:
        tf.extractall(dest, filter="data")
    return dest / name


def instantiation_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if INSTANTIATION.match(ln)]


@pytest.fixture(scope="module")
def causal(tmp_path_factory):
    return unpack(CAUSAL, tmp_path_factory.mktemp("causal"))


@pytest.fixture(scope="module")
def mamba(tmp_path_factory):
    return unpack(MAMBA, tmp_path_factory.mktemp("mamba"))


def test_causal_files_split_into_siblings_that_partition_the_instantiations(causal):
    before = {rel: (causal / rel).read_text() for rel in cuda_sources((causal / "setup.py").read_text())}
    report = plan_split(causal, (causal / "setup.py").read_text(), jobs=16)
    assert {Path(s.original).name for s in report.splits} == {"causal_conv1d_fwd.cu", "causal_conv1d_bwd.cu", "causal_conv1d_update.cu"}
    for fs in report.splits:
        original = instantiation_lines(before[fs.original])
        assert len(original) == fs.units and fs.technique == "instantiations"
        assert instantiation_lines(fs.new_original) == []  # the original keeps none
        pieces = [instantiation_lines(t) for t in fs.sibling_texts]
        assert sorted(sum(pieces, [])) == sorted(original)  # every line exactly once
        assert all(pieces) and len(pieces) == len(fs.siblings) >= 2
        for text in fs.sibling_texts:
            assert f'#include "{Path(fs.original).name}"' in text
        # the definitions are untouched: the new original is the old one minus the instantiation lines
        kept = "\n".join(ln for ln in before[fs.original].splitlines() if not INSTANTIATION.match(ln)).rstrip("\n").split("\n")
        assert [ln for ln in fs.new_original.splitlines() if not ln.startswith("// mambaenv")][:len(kept)] == kept


def test_the_heavy_channel_last_instantiations_are_dealt_across_pieces(causal):
    text = (causal / "csrc/causal_conv1d_bwd.cu").read_text()
    fs, why = split_instantiation_list("csrc/causal_conv1d_bwd.cu", text, 11, causal / "csrc")
    assert why is None
    heavy_per_piece = [sum("channellast" in ln for ln in instantiation_lines(t)) for t in fs.sibling_texts]
    assert max(heavy_per_piece) == 1  # contiguous shares would put two of the slow ones together


def test_setup_py_lists_the_siblings_in_place_of_the_original(causal, tmp_path):
    src = shutil.copytree(causal, tmp_path / "src")
    report = apply_split(src, jobs=16)
    setup = (src / "setup.py").read_text()
    listed = cuda_sources(setup)
    for fs in report.splits:
        assert fs.original not in listed
        assert all(s in listed for s in fs.siblings)
        assert all((src / s).read_text() == t for s, t in zip(fs.siblings, fs.sibling_texts))
    assert "csrc/causal_conv1d.cpp" in setup
    compile(setup, "setup.py", "exec")  # still Python


def test_pieces_follow_the_jobs(causal):
    text = (causal / "csrc/causal_conv1d_bwd.cu").read_text()
    sizes = {jobs: len(plan_split(causal, (causal / "setup.py").read_text(), jobs).splits[1].siblings) for jobs in (1, 4, 16, 64)}
    assert sizes[1] == 2 and sizes[4] == max_pieces_per_file(4, 3) and sizes[16] == max_pieces_per_file(16, 3)
    assert sizes[64] == len(instantiation_lines(text))  # never more pieces than instantiations


def test_mamba_selective_scan_bwd_files_get_the_launch_split(mamba):
    report = plan_split(mamba, (mamba / "setup.py").read_text(), jobs=16)
    by_name = {Path(s.original).name: s for s in report.splits}
    assert len(by_name) == 9 and not report.skipped
    bwd = by_name["selective_scan_bwd_bf16_complex.cu"]
    assert bwd.technique == "launches" and bwd.units == 5  # the CUDA branch only: no ROCm launch sizes
    externs = re.findall(r"extern template void (selective_scan_bwd_launch<[^>]+>)", bwd.new_original)
    defined = sum((re.findall(r"^template void (selective_scan_bwd_launch<[^>]+>)", t, re.M) for t in bwd.sibling_texts), [])
    assert sorted(externs) == sorted(defined) and len(set(defined)) == 5  # each declared launch defined exactly once
    assert "selective_scan_bwd_launch<128, 16, at::BFloat16, complex_t>" in defined
    assert "template void selective_scan_bwd_cuda<at::BFloat16, complex_t>" in bwd.new_original  # the dispatcher stays
    assert bwd.original in bwd.sources  # and keeps compiling
    assert by_name["selective_scan_fwd_fp32.cu"].technique == "instantiations"


def test_a_file_with_a_plain_function_definition_is_not_split(tmp_path):
    text = ("#include \"k.h\"\nint counter = 0;\ntemplate<typename T> void f(T x) {}\n"
            "template void f<float>(float x);\ntemplate void f<double>(double x);\n")
    fs, why = split_instantiation_list("k.cu", text, 8)
    assert fs is None and "cannot be included twice" in why and "counter" in why
    assert unshareable("void g() { }\n") == "void g()"
    assert unshareable("template<int N> __global__ void k(float* p) { }\nstruct S { int a; };\nnamespace cub = hipcub;\n") is None


def test_a_file_without_an_instantiation_list_builds_unsplit_and_says_so(causal, tmp_path):
    src = shutil.copytree(causal, tmp_path / "src")
    bwd = src / "csrc/causal_conv1d_bwd.cu"
    lines = bwd.read_text().splitlines()
    bwd.write_text("\n".join(lines + ["static int trailing_definition = 1;"]) + "\n")
    report = apply_split(src, jobs=16)
    skipped = {d["file"]: d["reason"] for d in report.skipped}
    assert "no list of explicit instantiations" in skipped["csrc/causal_conv1d_bwd.cu"]
    assert "csrc/causal_conv1d_bwd.cu" in cuda_sources((src / "setup.py").read_text())
    assert "causal_conv1d_bwd.cu" in report.to_dict()["unsplit"][0]["file"]
    assert "built whole: causal_conv1d_bwd.cu (no list of explicit instantiations" in report.summary()


def test_deal_is_round_robin():
    assert deal(list(range(7)), 3) == [[0, 3, 6], [1, 4], [2, 5]]


NVCC = shutil.which("nvcc")
SYNTHETIC_HEADER = """#pragma once
#include <cuda_runtime.h>
template<int N, typename T> __global__ void kern(T* p) { p[threadIdx.x] += T(N); }
template<int N, int M, typename T> void run_launch(T* params, cudaStream_t stream) { kern<N * M, T><<<1, N, 0, stream>>>(params); }
template<typename T> void dispatch(T* params, int n, cudaStream_t stream) {
#ifndef USE_ROCM
    if (n <= 32) { run_launch<32, 4, T>(params, stream); } else { run_launch<64, 8, T>(params, stream); }
#else
    run_launch<64, 16, T>(params, stream);
#endif
}
"""


@pytest.mark.slow
@pytest.mark.skipif(NVCC is None, reason="needs nvcc (no GPU needed)")
def test_nvcc_compiles_and_links_both_techniques_without_a_gpu(tmp_path):
    """Both rewrites on a small stand-in of the real shapes: every instantiation defined once, none missing."""
    from mambaenv.build_split import split_launches

    (tmp_path / "k.cuh").write_text(SYNTHETIC_HEADER)
    launch_file = '#include "k.cuh"\ntemplate void dispatch<float>(float* params, int n, cudaStream_t stream);\n'
    fs, why = split_launches("d.cu", launch_file, tmp_path, 4)
    assert why is None and fs.units == 2
    (tmp_path / "d.cu").write_text(fs.new_original)
    for name, text in zip(fs.siblings, fs.sibling_texts):
        (tmp_path / name).write_text(text)
    lib = "\n".join(["#include <cuda_runtime.h>", "template<typename T> void f(T* p, cudaStream_t s);",
                     "template<typename T> __global__ void g(T* p) { p[0] = T(1); }",
                     "template<typename T> void f(T* p, cudaStream_t s) { g<T><<<1, 1, 0, s>>>(p); }",
                     "template void f<float>(float* p, cudaStream_t s);", "template void f<double>(double* p, cudaStream_t s);",
                     "template void f<int>(int* p, cudaStream_t s);", ""])
    fi, why = split_instantiation_list("f.cu", lib, 2)
    assert why is None
    (tmp_path / "f.cu").write_text(fi.new_original)
    for name, text in zip(fi.siblings, fi.sibling_texts):
        (tmp_path / name).write_text(text)
    (tmp_path / "main.cu").write_text(
        "#include <cuda_runtime.h>\ntemplate<typename T> void dispatch(T* params, int n, cudaStream_t stream);\n"
        "template<typename T> void f(T* p, cudaStream_t s);\n"
        "int main() { dispatch<float>(nullptr, 1, 0); f<float>(nullptr, 0); f<double>(nullptr, 0); f<int>(nullptr, 0); return 0; }\n")
    sources = ["main.cu", *fs.sources, *fi.siblings]
    objs = []
    for src in sources:
        obj = src.replace(".cu", ".o")
        subprocess.run([NVCC, "-c", src, "-o", obj, "-gencode", "arch=compute_90,code=sm_90"], cwd=tmp_path, check=True, capture_output=True)
        objs.append(obj)
    linked = subprocess.run([NVCC, *objs, "-o", "prog"], cwd=tmp_path, capture_output=True, text=True)
    assert linked.returncode == 0, linked.stderr  # nothing undefined, nothing defined twice
    nm = subprocess.run(["nm", "-C", "d.o"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert "U void run_launch<32, 4, float>" in nm and "kern<" not in nm  # the dispatcher's file compiles no kernel


@pytest.mark.skipif(not (shutil.which("g++") and shutil.which("nm")), reason="needs g++ and nm")
def test_a_launch_left_undefined_after_the_split_fails_the_build_not_the_import(tmp_path):
    import zipfile

    from mambaenv.build import check_no_undefined_launches
    from mambaenv.errors import BuildError

    (tmp_path / "m.cpp").write_text("template<int N> void sel_launch(int);\nvoid dispatch(int n) { sel_launch<32>(n); }\n")
    subprocess.run(["g++", "-shared", "-fPIC", "m.cpp", "-o", "ext.so"], cwd=tmp_path, check=True)
    wheel = tmp_path / "x-1.0-cp312-cp312-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(tmp_path / "ext.so", "ext.so")
    report = {"split": [{"file": "csrc/a.cu", "technique": "launches", "units": 2, "pieces": 2}]}
    with pytest.raises(BuildError, match="undefined"):
        check_no_undefined_launches(wheel, report)
    check_no_undefined_launches(wheel, {"split": [dict(report["split"][0], technique="instantiations")]})  # not checked


def _torch_include():
    from tests.fixture_builders import CACHE

    found = sorted(CACHE.glob("venv-torch-*/lib/python3*/site-packages/torch/include"))
    return found[-1] if found else None


@pytest.mark.slow
@pytest.mark.skipif(NVCC is None or _torch_include() is None, reason="needs nvcc and the fixture torch's headers")
def test_the_real_rewritten_files_compile_with_nvcc_on_cpu(mamba, causal, tmp_path):
    """nvcc needs no GPU: the rewritten mamba dispatcher compiles to an object with no kernel and the five
    launches left to the siblings, and a real causal_conv1d piece compiles. The CPU torch lacks one generated
    CUDA header, which a one-line stand-in provides."""
    import sysconfig

    inc = _torch_include()
    shim = tmp_path / "shim" / "c10" / "cuda" / "impl"
    shim.mkdir(parents=True)
    (shim / "cuda_cmake_macros.h").write_text("#pragma once\n")
    flags = ["-std=c++17", "-O0", "--expt-relaxed-constexpr", "--expt-extended-lambda", "-U__CUDA_NO_HALF_OPERATORS__",
             "-U__CUDA_NO_HALF_CONVERSIONS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__", "-gencode", "arch=compute_90,code=sm_90",
             f"-I{tmp_path / 'shim'}", f"-I{inc}", f"-I{inc / 'torch/csrc/api/include'}", f"-I{sysconfig.get_paths()['include']}"]
    m = shutil.copytree(mamba, tmp_path / "m")
    apply_split(m, jobs=16)
    d = subprocess.run([NVCC, "-c", "csrc/selective_scan/selective_scan_bwd_fp32_complex.cu", "-o", str(tmp_path / "d.o"), *flags],
                       cwd=m, capture_output=True, text=True)
    assert d.returncode == 0, d.stderr[-2000:]
    syms = subprocess.run(["nm", "-C", str(tmp_path / "d.o")], capture_output=True, text=True).stdout
    assert len(re.findall(r" U void selective_scan_bwd_launch<", syms)) == 5 and "selective_scan_bwd_kernel" not in syms
    c = shutil.copytree(causal, tmp_path / "c")
    apply_split(c, jobs=16)
    p = subprocess.run([NVCC, "-c", "csrc/causal_conv1d_update_mesplit00.cu", "-o", str(tmp_path / "u.o"), *flags],
                       cwd=c, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
