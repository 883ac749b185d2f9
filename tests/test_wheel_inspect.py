"""Reading a wheel's libraries: GPU archs from .nv_fatbin, glibc needs from .gnu.version_r, bounded memory."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mambaenv.facts import TargetEnv
from mambaenv.wheel import inspect_wheel, mismatches, read_elf_facts
from tests.conftest import run_cli
from tests.fatbin_fixture import FIXTURE_CONTAINERS, build_library, toolchain_present

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fatbin" / "libtiny_fatbin.so"
NAME = "mamba_ssm-2.3.1+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"


def make_wheel(folder: Path, libraries: dict[str, Path], name: str = NAME) -> Path:
    pkg, version = name.split("-")[:2]
    di = f"{pkg}-{version.split('+')[0]}.dist-info"
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, lib in libraries.items():
            z.write(lib, arcname)
        z.writestr(f"{di}/METADATA", f"Metadata-Version: 2.1\nName: {pkg}\nVersion: {version}\nRequires-Dist: torch\n")
        z.writestr(f"{di}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
        z.writestr(f"{di}/RECORD", "")
    return path


def test_archs_and_glibc_needs_from_the_committed_fixture():
    facts = read_elf_facts(FIXTURE, FIXTURE.name)
    assert facts.archs == (80, 90, 120) and facts.ptx == (90,)
    assert facts.glibc_needed == "2.2.5" and facts.note is None


@pytest.mark.skipif(not toolchain_present(), reason="needs gcc and objcopy")
def test_archs_from_a_library_built_here(tmp_path):
    lib = build_library(tmp_path, [[(2, 75), (2, 86)], [(2, 100)]])
    assert read_elf_facts(lib, lib.name).archs == (75, 86, 100)
    again = build_library(tmp_path / "again", FIXTURE_CONTAINERS)
    assert read_elf_facts(again, again.name).archs == read_elf_facts(FIXTURE, "x").archs


def test_a_wheel_runs_only_where_every_library_has_code(tmp_path):
    if toolchain_present():
        other = build_library(tmp_path / "b", [[(2, 80), (2, 90)]])
    else:
        pytest.skip("needs gcc and objcopy")
    whl = make_wheel(tmp_path, {"selective_scan_cuda.cpython-312-x86_64-linux-gnu.so": FIXTURE,
                                "causal_conv1d_cuda.cpython-312-x86_64-linux-gnu.so": other})
    info = inspect_wheel(whl)
    assert info.archs == (80, 90)
    env = TargetEnv(python="3.12", torch="2.8.0", torch_cuda="12.8", cxx11_abi=True, gpu_caps=("12.0",))
    problems = mismatches(info, env)
    assert len(problems) == 1 and "sm_120" in problems[0] and "build for your GPU" in problems[0]
    assert mismatches(info, TargetEnv(python="3.12", torch="2.8.0", torch_cuda="12.8", cxx11_abi=True, gpu_caps=("8.6",))) == []


def test_inspect_cli_shows_the_build_facts(tmp_path):
    whl = make_wheel(tmp_path, {"selective_scan_cuda.cpython-312-x86_64-linux-gnu.so": FIXTURE})
    out = run_cli("inspect", str(whl), "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert (d["python"], d["torch"], d["cuda"], d["cxx11_abi"], d["machine"]) == ("cp312", "2.8", 12, True, "x86_64")
    assert d["archs"] == [80, 90, 120] and d["glibc_needed"] == "2.2.5"
    text = run_cli("inspect", str(whl))
    assert text.returncode == 0 and "sm_120" in text.stdout
    bad = run_cli("inspect", str(tmp_path / "nope.whl"))
    assert bad.returncode != 0 and "no such file" in bad.stderr


@pytest.mark.slow
@pytest.mark.skipif(not toolchain_present(), reason="needs gcc and objcopy")
def test_a_huge_library_in_a_small_wheel_is_read_in_bounded_memory(tmp_path):
    # 256 MiB of zeros before the fatbin: the old whole-file read needed more than that in memory
    big = tmp_path / "zeros.bin"
    with open(big, "wb") as f:
        f.truncate(256 << 20)
    plain = build_library(tmp_path / "lib", FIXTURE_CONTAINERS)
    huge = tmp_path / "huge.so"
    subprocess.run(["objcopy", "--add-section", f".padding={big}", str(plain), str(huge)], check=True)
    assert huge.stat().st_size > 256 << 20
    whl = make_wheel(tmp_path, {"selective_scan_cuda.so": huge})
    assert whl.stat().st_size < 4 << 20  # a small download
    probe = ("import resource, sys; from pathlib import Path; from mambaenv.wheel import inspect_wheel;"
             "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
             "i = inspect_wheel(Path(sys.argv[1]));"
             "print(i.archs, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, str(whl)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    archs, base_kb, peak_kb = out.stdout.strip().rsplit(" ", 2)
    assert archs == "(80, 90, 120)"
    assert (int(peak_kb) - int(base_kb)) < 64 * 1024, f"inspection grew memory by {(int(peak_kb) - int(base_kb)) // 1024} MiB"


@pytest.mark.skipif(not toolchain_present(), reason="needs gcc and objcopy")
def test_ptx_lets_a_newer_gpu_run_what_sass_alone_would_not(tmp_path):
    lib = build_library(tmp_path / "p", [[(2, 80), (1, 80)]])  # sm_80 SASS + compute_80 PTX
    whl = make_wheel(tmp_path, {"selective_scan_cuda.so": lib})
    blackwell = TargetEnv(python="3.12", torch="2.8.0", torch_cuda="12.8", cxx11_abi=True, gpu_caps=("12.0",))
    assert mismatches(inspect_wheel(whl), blackwell) == []
    (tmp_path / "s").mkdir()
    sass_only = make_wheel(tmp_path / "s", {"selective_scan_cuda.so": build_library(tmp_path / "q", [[(2, 80)]])})
    assert "sm_120" in mismatches(inspect_wheel(sass_only), blackwell)[0]
