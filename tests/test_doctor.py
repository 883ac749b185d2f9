"""doctor on a real env with mamba_ssm installed: a loading extension passes, a broken one fails with the reason.

The extension is a tiny stand-in compiled here (no GPU, no nvcc): a real .so named selective_scan_cuda
that the env's interpreter imports after torch, carrying a fat-binary header for sm_90 in its data.
"""
import dataclasses
import json
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mambaenv.compat import runs_on
from mambaenv.detect.extensions import InstalledPackage
from mambaenv.doctor import driver_vs_torch, installed_checks, same_torch, smoke_check
from mambaenv.facts import TargetEnv
from mambaenv.wheelname import LocalTag, local_of_version
from tests.conftest import run_cli
from tests.fixture_builders import ensure_torch_venv, fixture_wheel

SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the GPU seam: this CPU torch stands for a CUDA 12 build

STANDIN_C = r"""
#include <Python.h>
%(extra)s
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "selective_scan_cuda", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_selective_scan_cuda(void) { %(call)s return PyModule_Create(&def); }
"""
# What a build against another torch leaves behind: a reference to a c10 symbol this torch lacks.
MISSING_SYMBOL = "extern void _ZN3c104cuda9SetDeviceEi(int);"


def fatbin(archs):
    """A fat binary as nvcc lays it out: header, then one SASS entry per architecture."""
    entries = b""
    for a in archs:
        payload = b"\x7fELF" + b"\0" * 60
        head = struct.pack("<HHIQIIHHI", 2, 0x101, 64, len(payload), 0, 0, 0, 0, a) + b"\0" * 32
        entries += head + payload
    return struct.pack("<IHHQ", 0xBA55ED50, 1, 16, len(entries)) + entries


def compile_standin(site: Path, broken: bool, archs=(90,)) -> Path:
    blob = fatbin(archs)
    data = ", ".join(str(b) for b in blob)
    extra = f"__attribute__((used, section(\".nv_fatbin\"))) static const unsigned char fatbin_blob[] = {{{data}}};\n"
    if broken:
        extra += MISSING_SYMBOL
    src = site.parent / "standin.c"
    src.write_text(STANDIN_C % {"extra": extra, "call": "_ZN3c104cuda9SetDeviceEi(0);" if broken else ""})
    include = sysconfig.get_paths()["include"]
    out = site / ("selective_scan_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(["gcc", "-shared", "-fPIC", "-O0", f"-I{include}", str(src), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def mamba_env(tmp_path_factory):
    """A real venv that sees the fixture torch (a .pth) and holds the pure-Python mamba_ssm build of the real sdist."""
    torch_py = ensure_torch_venv()
    root = tmp_path_factory.mktemp("doctor-env")
    venv = root / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    torch_site = next((Path(torch_py).parent.parent / "lib").glob("python*/site-packages"))
    (site / "fixture-torch.pth").write_text(str(torch_site) + "\n")
    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "--no-deps",
                    str(fixture_wheel("mamba_ssm", "2.2.4"))], check=True)
    return venv / "bin" / "python", site


def doctor_json(python, cache=None):
    env = dict(SEAM)
    if cache:
        env["MAMBAENV_CACHE_DIR"] = str(cache)
    out = run_cli("doctor", "--python", str(python), "--json", "--offline", env=env)
    return {c["name"]: c for c in json.loads(out.stdout)["checks"]}, out


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler for the stand-in extension")
def test_an_extension_that_loads_passes_and_one_that_does_not_fails_with_the_reason(mamba_env, tmp_path):
    python, site = mamba_env
    ext = compile_standin(site, broken=False)
    try:
        checks, out = doctor_json(python)
        got = checks["installed:mamba_ssm"]
        assert got["status"] == "pass", got
        assert got["detail"] == "installed: mamba_ssm 2.2.4, built for sm_90, matches torch 2.13.0+cpu"
        ext.unlink()
        compile_standin(site, broken=True)
        checks, out = doctor_json(python)
        got = checks["installed:mamba_ssm"]
        assert got["status"] == "fail" and "undefined symbol: _ZN3c104cuda9SetDeviceEi" in got["detail"]
        assert "cxx11abi" in got["fix"]  # the explain rule's fix for an ABI / torch-version mismatch
    finally:
        for f in site.glob("selective_scan_cuda*.so"):
            f.unlink()


def test_a_pure_python_build_is_flagged(mamba_env):
    python, site = mamba_env
    checks, _ = doctor_json(python)
    got = checks["installed:mamba_ssm"]
    assert got["status"] == "warn" and "without its CUDA extension (selective_scan_cuda)" in got["detail"]


def test_the_last_smoke_result_of_this_env_is_shown(mamba_env, tmp_path):
    python, _ = mamba_env
    from mambaenv.smoke import record_smoke_result

    cache = tmp_path / "cache"
    path = record_smoke_result({"result": "failed", "steps": [{"name": "selective_scan", "status": "fail", "error": "boom"}]}, cache, str(python))
    assert json.loads(path.read_text())["ok"] is False
    checks, _ = doctor_json(python, cache)
    assert checks["smoke"]["status"] == "fail" and "selective_scan failed" in checks["smoke"]["detail"]
    record_smoke_result({"result": "passed", "steps": []}, cache, "/some/other/python")
    checks, _ = doctor_json(python, cache)
    assert checks["smoke"]["status"] == "fail"  # another env's result neither replaces this one's nor speaks for it


TARGET = TargetEnv(python="3.12", torch="2.11.0+cu130", torch_cuda="13.0", cxx11_abi=True)


def test_installed_decision_on_probe_facts():
    built = InstalledPackage("mamba_ssm", "2.3.2.post1+cu13torch2.11", "selective_scan_cuda", "/x.so", None, True, sass=["9.0"])
    [c] = installed_checks([built], TARGET, ["9.0"])
    assert (c.status, c.detail) == ("pass", "installed: mamba_ssm 2.3.2.post1+cu13torch2.11, built for sm_90, matches torch 2.11.0+cu130")
    [c] = installed_checks([built], TARGET, ["12.0"])
    assert c.status == "fail" and "sm_120" in c.detail and "--arch native" in c.fix
    other = InstalledPackage("causal_conv1d", "1.5.0+cu12torch2.6cxx11abiFALSE", "causal_conv1d_cuda", "/y.so", None, True, sass=["9.0"])
    [c] = installed_checks([other], TARGET, ["9.0"])
    assert c.status == "warn" and "CUDA 12" in c.detail and "torch 2.6" in c.detail and "cxx11abiFALSE" in c.detail


def test_fat_binary_architectures_of_an_installed_extension_and_what_runs_where(tmp_path):
    from mambaenv.elf import gpu_code

    (tmp_path / "site").mkdir()
    so = compile_standin(tmp_path / "site", broken=False, archs=(80, 90))
    assert gpu_code(so) == ((80, 90), ())
    # SASS: the same major, an equal or higher minor; PTX: JIT-compiled by the driver for any equal or newer GPU
    assert runs_on([80], [], 86) and not runs_on([90], [], 100) and not runs_on([86], [], 80)
    assert runs_on([], [80], 90) and runs_on([], [90], 120) and not runs_on([], [100], 90)
    assert local_of_version("2.3.2.post1+cu13torch2.11cxx11abiTRUE") == LocalTag("13", "2.11", True)
    assert local_of_version("2.2.2+cu122torch2.1cxx11abiFALSE").cuda_major == 12
    assert local_of_version("2.2.4+cu12torch2.13cxx11abitrue").cxx11_abi is True  # as a dist-info records it
    assert local_of_version("2.3.2.post1+cu.12.8.torch.2.11").cuda_major == 12
    assert local_of_version("2.2.4") is None


def test_driver_535_runs_cuda_12_torch_through_minor_version_compatibility():
    name, status, detail = driver_vs_torch("535.104.05", "12.2", "12.8")
    assert status == "pass" and "minor-version compatibility" in detail and "570.26" in detail
    assert driver_vs_torch("535.104.05", "12.2", "12.1")[1] == "pass"
    _, status, detail, fix = driver_vs_torch("535.104.05", "12.2", "13.0")
    assert status == "fail" and ">= 580" in fix
    assert driver_vs_torch("470.82.01", "11.4", "12.1")[1] == "fail"


def test_torch_versions_compare_with_the_local_part_normalised():
    assert same_torch("2.11.0", "2.11.0+cu130") and same_torch("2.11.0+cu130", "2.11.0+cu130")
    assert not same_torch("2.11.0+cu128", "2.11.0+cu130") and not same_torch("2.10.0", "2.11.0+cu130")


def test_smoke_check_words():
    assert smoke_check({"ok": True, "when": "2026-11-29T09:00:00+00:00"}).status == "pass"


def _h200(driver="580.159.04", max_cuda="13.0"):
    from mambaenv.detect.host import ContainerFacts, Gpu, HostFacts, NvidiaFacts, ToolkitFacts

    return HostFacts(system="Linux", machine="x86_64", os_release="Ubuntu 24.04.3 LTS", glibc="2.39", wsl=False, jetson=None,
                     nvidia=NvidiaFacts(driver=driver, max_cuda=max_cuda, gpus=[Gpu("NVIDIA H200", "9.0")]),
                     toolkit=ToolkitFacts(), container=ContainerFacts(), docker=None, conda={})


def _pyenv(torch="2.11.0+cu130", cuda="13.0", record_torch="2.11.0"):
    from mambaenv.detect.pyenv import PyEnvFacts

    raw = {"python": "3.12.3", "machine": "x86_64", "system": "Linux", "site_dirs": ["/v/site-packages"],
           "packages": {"torch": {"version": torch}, "mamba_ssm": {"version": "2.3.2.post1+cu13torch2.11cxx11abiTRUE"},
                        "causal_conv1d": {"version": "1.7.0+cu13torch2.11cxx11abiTRUE"}},
           "extensions": {"selective_scan_cuda": "/v/s.so", "causal_conv1d_cuda": "/v/c.so"},
           "torch": {"version": torch, "cuda": cuda, "hip": None, "cxx11_abi": True}, "record": {"torch": record_torch}}
    return PyEnvFacts("/v/bin/python", raw)


def _plans(pyenv, cache=None):
    """The planner's answer for a probed env (offline: the shipped catalog)."""
    from mambaenv.plan import PlanRequest, plan
    from mambaenv.target import Target

    # third-party builds left out: these tests are about the env's own builds when upstream has no wheel for torch 2.11
    return plan(PlanRequest(Target(pyenv.target({}), pyenv), offline=True, cache=cache, third_party=False)).packages


def test_a_working_local_build_passes_and_the_missing_upstream_wheel_is_information():
    """The H200 after build + install + smoke: torch 2.11 has no upstream wheel, the local builds load and cover sm_90."""
    from mambaenv.doctor import doctor_checks, has_working_path

    pyenv = _pyenv()
    choices = _plans(pyenv)
    assert all(p.upstream.wheel is None for p in choices)  # the premise: no prebuilt wheel for torch 2.11
    assert [p.chosen.origin for p in choices] == ["installed", "installed"]  # the builds in the env fit it
    installed = [InstalledPackage("mamba_ssm", "2.3.2.post1+cu13torch2.11cxx11abiTRUE", "selective_scan_cuda", "/v/s.so", None, True, sass=["9.0"]),
                 InstalledPackage("causal_conv1d", "1.7.0+cu13torch2.11cxx11abiTRUE", "causal_conv1d_cuda", "/v/c.so", None, True, sass=["9.0"])]
    checks = doctor_checks(_h200(), pyenv, choices, installed, None, {"ok": True, "when": "2026-11-29T09:00:00+00:00"})
    by = {c.name: c for c in checks}
    assert by["installed:mamba_ssm"].status == "pass" and by["installed:causal_conv1d"].status == "pass"
    assert by["wheel:mamba_ssm"].status == "info" and by["wheel:causal_conv1d"].status == "info"
    assert by["smoke"].status == "pass" and "torch-moved" not in by
    assert not [c for c in checks if c.status == "fail"] and has_working_path(checks, choices)
    broken = [InstalledPackage("mamba_ssm", "2.3.2.post1", "selective_scan_cuda", "/v/s.so", "ImportError: undefined symbol: _ZN3c10x", False)]
    checks = doctor_checks(_h200(), pyenv, choices, broken, None, None)
    by = {c.name: c for c in checks}
    assert by["installed:mamba_ssm"].status == "fail" and by["wheel:mamba_ssm"].status == "fail"


def test_driver_535_with_a_cu128_torch_is_not_blocking():
    from mambaenv.doctor import doctor_checks

    pyenv = _pyenv("2.8.0+cu128", "12.8", record_torch="2.8.0+cu128")
    by = {c.name: c for c in doctor_checks(_h200("535.104.05", "12.2"), pyenv, [], [], None, None)}
    assert by["driver-vs-torch"].status == "pass" and "570.26" in by["driver-vs-torch"].detail


def test_smoke_records_its_result_for_doctor(torch_venv, isolated_cache):
    out = run_cli("smoke", "--python", str(torch_venv), "--json")
    assert out.returncode == 8  # ExitCode.NO_CUDA_DEVICE: no GPU here: its own result, recorded all the same
    from mambaenv.smoke.record import smoke_record_path

    last = json.loads(smoke_record_path(isolated_cache, str(torch_venv)).read_text())
    assert last["python"] == str(torch_venv) and last["ok"] is False and last["result"] == "no_cuda_device"
    assert any(s["name"] == "cuda device" for s in last["steps"]) and last["when"].endswith("+00:00")


# --- fixes aimed at the env doctor examined (--python / --env), not the active one ----------------------------------

def test_aim_fix_names_the_target_in_each_command_and_leaves_prose_alone():
    from mambaenv.fix_target import NamedTarget, aim_fix

    py = NamedTarget("/envs/a/bin/python")
    assert aim_fix("mambaenv build --package mamba_ssm", py) == "mambaenv build --python /envs/a/bin/python --package mamba_ssm"
    assert aim_fix("pip install 'torch==2.8.*' --index-url https://download.pytorch.org/whl/cu128", py) == \
        "/envs/a/bin/python -m pip install 'torch==2.8.*' --index-url https://download.pytorch.org/whl/cu128"
    assert aim_fix("reinstall a real build: mambaenv install (a prebuilt wheel) or mambaenv build", py) == \
        "reinstall a real build: mambaenv install --python /envs/a/bin/python (a prebuilt wheel) or mambaenv build --python /envs/a/bin/python"
    already = ["mambaenv install --offline-wheel w.whl --python /other/bin/python", "let mambaenv install --new-env make an env",
               "mambaenv smoke --env x", "/envs/a/bin/python -m pip install torch", "uv pip install --python /x/bin/python torch",
               "conda install -n other libstdcxx-ng"]
    assert [aim_fix(t, py) for t in already] == already
    assert aim_fix("mambaenv explain 'pip install failed'", py) == "mambaenv explain --python /envs/a/bin/python 'pip install failed'"
    assert aim_fix("uv pip install torch", py) == "uv pip install --python /envs/a/bin/python torch"
    assert aim_fix("python3 -m pip install -U triton; pip3 install ninja", py) == \
        "/envs/a/bin/python -m pip install -U triton; /envs/a/bin/python -m pip install ninja"
    assert aim_fix("install a newer libstdc++ into the env (conda install -c conda-forge libstdcxx-ng)", py) == \
        "install a newer libstdc++ into the env (conda install -p /envs/a -c conda-forge libstdcxx-ng)"
    assert aim_fix("conda install -c conda-forge gcc", NamedTarget("/c/envs/ml/bin/python", env="ml")) == "conda install -n ml -c conda-forge gcc"
    # a new line ends a command: the next line's --python belongs to the next command
    assert aim_fix("mambaenv install torch\nmambaenv smoke --python /x", py) == \
        "mambaenv install --python /envs/a/bin/python torch\nmambaenv smoke --python /x"
    # what is inserted is not read again, even a path that holds "pip install"
    odd = NamedTarget("/srv/try pip install/bin/python")
    assert aim_fix("mambaenv build", odd) == "mambaenv build --python '/srv/try pip install/bin/python'"
    prose = ["use Python 3.7 or newer (upstream wheels start at cp37)", "upstream publishes no ROCm wheels; build from source",
             "mambaenv catalog refresh", "install CUDA toolkit 12.x and point CUDA_HOME at it"]
    assert [aim_fix(t, py) for t in prose] == prose
    spaced = NamedTarget("/home/me/my envs/a/bin/python")
    assert aim_fix("mambaenv install --offline-wheel /c/w.whl", spaced) == \
        "mambaenv install --python '/home/me/my envs/a/bin/python' --offline-wheel /c/w.whl"
    assert aim_fix("e.g. pip install torch", spaced) == "e.g. '/home/me/my envs/a/bin/python' -m pip install torch"
    by_name = NamedTarget("/conda/envs/ml/bin/python", env="ml")
    assert aim_fix("mambaenv build --arch native; or pip install torch", by_name) == \
        "mambaenv build --env ml --arch native; or /conda/envs/ml/bin/python -m pip install torch"
    once = aim_fix("mambaenv build; pip install torch", spaced)
    assert aim_fix(once, spaced) == once  # aiming twice (choices, then checks) changes nothing more
    assert aim_fix("mambaenv build; pip install torch", None) == "mambaenv build; pip install torch"  # the active env


def test_named_target_only_when_a_flag_named_the_env():
    from mambaenv.fix_target import NamedTarget, named_target

    assert named_target(None, None, "/usr/bin/python3") is None
    assert named_target("/v/bin/python", None, "/v/bin/python") == NamedTarget("/v/bin/python")
    assert named_target(None, "ml", "/conda/envs/ml/bin/python") == NamedTarget("/conda/envs/ml/bin/python", "ml")


def test_local_build_and_torch_moved_fixes_name_the_examined_env(tmp_path):
    from mambaenv.build_cache import BuildKey, store_build
    from mambaenv.doctor import doctor_checks
    from mambaenv.fix_target import NamedTarget
    from tests.wheels import write_wheel

    pyenv = _pyenv(record_torch="2.8.0")
    del pyenv.raw["packages"]["mamba_ssm"], pyenv.raw["packages"]["causal_conv1d"]  # nothing installed yet
    (tmp_path / "out").mkdir()
    name = "mamba_ssm-2.3.2.post1+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    stored = store_build(write_wheel(tmp_path / "out", name, tag="cp312-cp312-linux_x86_64"),
                         BuildKey("mamba_ssm", "ab" * 32, "2.11.0+cu130", "13.0", "3.12", True, "9.0"), tmp_path / "cache")
    choices = _plans(pyenv, tmp_path / "cache")
    local = {"mamba_ssm": stored.resolve()}
    aimed = {c.name: c for c in doctor_checks(_h200(), pyenv, choices, [], None, None, NamedTarget("/v/bin/python"))}
    bare = {c.name: c for c in doctor_checks(_h200(), pyenv, choices, [], None, None)}
    assert aimed["wheel:mamba_ssm"].fix == f"mambaenv install --python /v/bin/python --offline-wheel {local['mamba_ssm']}"
    assert bare["wheel:mamba_ssm"].fix == f"mambaenv install --offline-wheel {local['mamba_ssm']}"
    assert aimed["torch-moved"].fix == "reinstall the matching wheels with mambaenv install --python /v/bin/python"
    assert bare["torch-moved"].fix == "reinstall the matching wheels with mambaenv install"
    assert aimed["wheel:causal_conv1d"].fix.startswith("/v/bin/python -m pip install 'torch==")  # resolve's top alternative
    assert bare["wheel:causal_conv1d"].fix.startswith("pip install 'torch==")


@pytest.fixture(scope="module")
def spaced_torch_env(tmp_path_factory):
    """A real venv under a folder with a space in its name that sees the fixture (CPU) torch through a .pth."""
    torch_py = ensure_torch_venv()
    venv = tmp_path_factory.mktemp("doctor-aim") / "my env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "fixture-torch.pth").write_text(str(next((Path(torch_py).parent.parent / "lib").glob("python*/site-packages"))) + "\n")
    return venv


def _doctor(*args, env=None):
    out = run_cli("doctor", *args, "--json", "--offline", env=env)
    data = json.loads(out.stdout)
    return data, {c["name"]: c for c in data["checks"]}


def test_doctor_python_aims_the_cpu_torch_fix_at_that_interpreter_and_the_active_env_stays_bare(torch_venv):
    from mambaenv.upstream import torch_index_for

    data, checks = _doctor("--python", str(torch_venv))
    assert checks["torch"]["status"] == "fail"  # the premise: a CPU-only torch
    assert checks["torch"]["fix"] == f"install a CUDA build, e.g. {torch_venv} -m pip install torch --index-url {torch_index_for('12.6')}"
    # the same env as the active one (a venv's activate sets VIRTUAL_ENV): the fix is for this env as typed
    active, checks = _doctor(env={"VIRTUAL_ENV": str(Path(torch_venv).parent.parent)})
    assert active["pyenv"]["python_path"] == data["pyenv"]["python_path"]
    assert checks["torch"]["fix"] == f"install a CUDA build, e.g. pip install torch --index-url {torch_index_for('12.6')}"
    assert sorted(active) == sorted(data)  # the JSON shape is the same either way


def test_doctor_aims_resolves_alternatives_at_the_named_env_quoted(spaced_torch_env):
    python = spaced_torch_env / "bin" / "python"
    quoted = f"'{python}'"
    data, checks = _doctor("--python", str(python), env=SEAM)
    fix = checks["wheel:mamba_ssm"]["fix"]  # torch 2.13 has no prebuilt wheel: the top alternative is another torch
    assert fix.startswith(f"{quoted} -m pip install 'torch==") and "--index-url" in fix
    commands = {a["kind"]: a["command"] for a in data["packages"][0]["alternatives"]}
    assert commands["build"] == f"mambaenv build --python {quoted} --package mamba_ssm"
    # named by --env (a venv folder): mambaenv commands repeat --env, pip runs through the env's interpreter
    data, checks = _doctor("--env", str(spaced_torch_env), env=SEAM)
    assert checks["wheel:mamba_ssm"]["fix"].startswith(f"{quoted} -m pip install 'torch==")
    commands = {a["kind"]: a["command"] for a in data["packages"][0]["alternatives"]}
    assert commands["build"] == f"mambaenv build --env '{spaced_torch_env}' --package mamba_ssm"


def test_smoke_python_aims_the_explained_fix_at_that_interpreter(torch_venv):
    def cpu_fix(*args, env=None):
        out = run_cli("smoke", *args, "--json", env=env)
        step = next(s for s in json.loads(out.stdout)["steps"] if s["name"] == "cuda device")
        assert step["diagnosis"]["cause"] == "torch_cpu_only"  # the premise: the CPU torch explained
        return step["diagnosis"]["fix"]

    fix = cpu_fix("--python", str(torch_venv))
    assert f"{torch_venv} -m pip install torch --index-url" in fix and fix.endswith(f"mambaenv install --python {torch_venv}")
    bare = cpu_fix(env={"VIRTUAL_ENV": str(Path(torch_venv).parent.parent)})  # the same env, active
    assert "(pip install torch --index-url" in bare and bare.endswith("then mambaenv install")


def test_install_python_aims_the_no_wheel_fix_at_that_interpreter(torch_venv):
    def no_wheel(*args, env):
        out = run_cli("install", *args, "--json", env=dict(SEAM, **env))
        assert out.returncode == 1, out.stderr  # the premise: no prebuilt wheel for torch 2.13, nothing installed
        return json.loads(out.stdout)["fix"]

    assert no_wheel("--python", str(torch_venv), env={}).startswith(f"{torch_venv} -m pip install 'torch==")
    active = no_wheel(env={"VIRTUAL_ENV": str(Path(torch_venv).parent.parent)})
    assert active.startswith("pip install 'torch==")


# --- native Windows: conda-forge where it builds the package, else WSL2 ----------------------------------------------------

def test_native_windows_points_to_conda_forge_where_it_has_a_build_else_to_wsl2():
    from mambaenv.detect.pyenv import PyEnvFacts
    from mambaenv.doctor import doctor_checks

    host = dataclasses.replace(_h200(), system="Windows", machine="AMD64", os_release=None, glibc=None)
    raw = {"python": "3.12.9", "machine": "AMD64", "system": "Windows", "prefix": "C:\\envs\\mamba", "site_dirs": ["C:\\envs\\mamba\\Lib\\site-packages"],
           "packages": {"torch": {"version": "2.13.0"}}, "extensions": {}, "record": None,
           "torch": {"version": "2.13.0", "cuda": "13.0", "hip": None, "cxx11_abi": None},
           "conda_torch": {"name": "pytorch", "version": "2.13.0", "build": "cuda130_generic_py312_h5e6f7a8_200", "channel": "conda-forge"}}
    pyenv = PyEnvFacts("C:\\envs\\mamba\\python.exe", raw)
    plans = _plans(pyenv)
    by = {c.name: c for c in doctor_checks(host, pyenv, plans)}
    causal, mamba = by["windows:causal_conv1d"], by["windows:mamba_ssm"]
    assert causal.status == "info" and causal.detail.startswith("conda-forge builds causal-conv1d 1.7.0 for native Windows (win-64: CUDA 13.0")
    assert causal.fix == "conda install -c conda-forge causal-conv1d (in that env)"
    assert mamba.status == "fail" and "no native Windows build" in mamba.detail and mamba.fix.startswith("use WSL2")
    assert all("\n" not in c.detail + (c.fix or "") for c in (causal, mamba))  # one line each
    # this env's pytorch is conda-forge's: the plan names the win-64 build that fits it, and mamba-ssm has none anywhere
    assert by["wheel:causal_conv1d"].status == "info" and "causal-conv1d=1.7.0=cuda130*_0" in by["wheel:causal_conv1d"].fix
    assert by["wheel:mamba_ssm"].status == "fail"
    linux = {c.name for c in doctor_checks(_h200(), _pyenv(), _plans(_pyenv()))}
    assert not any(n.startswith("windows:") for n in linux)
