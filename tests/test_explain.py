"""explain on real error texts: the corpus from public threads, whole pip logs, standard input, env facts."""
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mambaenv.explain import diagnose, explain
from mambaenv.explain.context import Context
from mambaenv.explain.logparse import parse_log
from mambaenv.explain.rules import RULES
from tests.conftest import ROOT

CORPUS = Path(__file__).resolve().parent / "data" / "errors"
CASES = json.loads((CORPUS / "cases.json").read_text())

# What `explain --python` would know about the thread's env where the text alone cannot decide.
# 024: the thread says nvcc worked in the shell (an NGC image), so "nvcc not found" came from the isolated build.
ENV_OF_CASE = {"024-nvcc-present-but-isolated-build": Context(platform="linux", torch="2.4.0", nvcc="12.5", from_env=True)}


def test_the_corpus_is_large_and_sourced():
    assert len(CASES) >= 90
    for c in CASES:
        assert c["source"].startswith("https://") and (CORPUS / c["file"]).is_file() and c["cause"] and c["fix"]
    assert sum(c["kind"] == "pip_log" for c in CASES) >= 8  # whole pip logs, not only last lines


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_each_corpus_case_gets_its_confirmed_cause(case):
    text = (CORPUS / case["file"]).read_text()
    result = diagnose(text, ENV_OF_CASE.get(case["id"]))
    assert result.diagnosis is not None, f"no diagnosis for {case['id']}"
    assert result.diagnosis.cause == case["cause"], (result.diagnosis, [o.cause for o in result.others])
    assert result.diagnosis.fix and result.diagnosis.evidence


def test_every_cause_in_the_corpus_has_a_rule():
    causes = {r.cause for r in RULES}
    assert {c["cause"] for c in CASES} <= causes


PIP_LOG_TRITON_THEN_DOWNLOAD = """\
Collecting mamba-ssm
  Downloading mamba_ssm-2.2.2.tar.gz (85 kB)
  Preparing metadata (setup.py) ... done
Collecting triton (from mamba-ssm)
  Downloading triton-3.0.0-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl.metadata (1.3 kB)
Collecting transformers (from mamba-ssm)
Building wheels for collected packages: mamba-ssm
  Building wheel for mamba-ssm (setup.py) ... error
  error: subprocess-exited-with-error

  × python setup.py bdist_wheel did not run successfully.
  │ exit code: 1
  ╰─> [9 lines of output]

      torch.__version__  = 2.3.1+cu121

      running bdist_wheel
      Guessing wheel URL:  https://github.com/state-spaces/mamba/releases/download/v2.2.2/mamba_ssm-2.2.2+cu122torch2.3cxx11abiFALSE-cp310-cp310-linux_x86_64.whl
      error: <urlopen error [Errno 110] Connection timed out>
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for mamba-ssm
  Running setup.py clean for mamba-ssm
Failed to build mamba-ssm
ERROR: Could not build wheels for mamba-ssm, which is required to install pyproject.toml-based projects
"""


def test_a_log_that_mentions_triton_but_fails_on_the_download_is_a_download_failure():
    result = diagnose(PIP_LOG_TRITON_THEN_DOWNLOAD)
    assert result.diagnosis.cause == "download_failed"
    assert "urlopen error" in result.diagnosis.evidence
    assert not any(o.cause.startswith("triton") for o in result.others)
    log = parse_log(PIP_LOG_TRITON_THEN_DOWNLOAD)
    assert log.failing.kind == "build" and log.failing.package == "mamba-ssm" and log.failing.failed


def test_a_failed_build_is_not_called_hung_but_a_silent_one_is():
    failed = "Building wheels for collected packages: mamba-ssm\n  Building wheel for mamba-ssm (setup.py) ... error\n" \
             "  error: subprocess-exited-with-error\n"
    assert explain(failed) is None or explain(failed).cause != "build_all_archs_hang"
    running = "Collecting mamba-ssm\n  Downloading mamba_ssm-2.2.2.tar.gz (85 kB)\n  Building wheel for mamba-ssm (setup.py) ... \\\n"
    assert explain(running).cause == "build_all_archs_hang"


def test_no_module_named_torch_is_build_isolation_during_a_build_and_a_missing_torch_at_run_time():
    build = ("Collecting mamba-ssm\n  Getting requirements to build wheel ... error\n  error: subprocess-exited-with-error\n"
             "  ╰─> [17 lines of output]\n      Traceback (most recent call last):\n        File \"<string>\", line 9, in <module>\n"
             "      ModuleNotFoundError: No module named 'torch'\n      [end of output]\n")
    assert explain(build).cause == "build_isolation_no_torch"
    assert "--no-build-isolation" in explain(build).fix
    run = "Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\n    import torch\nModuleNotFoundError: No module named 'torch'\n"
    assert explain(run).cause == "torch_missing"


NO_NVCC = "UserWarning: mamba_ssm was requested, but nvcc was not found.\nNameError: name 'bare_metal_version' is not defined"


def test_no_nvcc_is_read_with_the_platform_and_the_torch_build():
    plain = explain(NO_NVCC)
    assert plain.cause == "no_nvcc" and "CUDA toolkit" in plain.fix
    rocm = explain(NO_NVCC, Context(platform="linux", rocm=True, torch="2.3.1+rocm6.0", from_env=True))
    assert rocm.cause == "no_nvcc" and "ROCm" in rocm.fix and "install the CUDA toolkit" not in rocm.fix
    win = explain("C:\\Users\\me\\AppData\\Local\\Temp\\pip-install-x\\setup.py\n" + NO_NVCC)
    assert "WSL2" in win.fix
    mac = explain("/private/var/folders/rd/T/pip-install-x/setup.py:77: UserWarning\n" + NO_NVCC)
    assert mac.cause == "macos_unsupported"
    nightly = explain(NO_NVCC, Context(torch="2.10.0.dev20251101+cu128", torch_cuda="12.8", from_env=True))
    assert "mambaenv build" in nightly.fix and "prebuilt wheel instead" not in nightly.fix
    ngc = explain("undefined symbol: _ZN3c104cuda9SetDeviceEi", Context(torch="2.5.0a0+872d972e41.nv24.08", from_env=True))
    assert ngc.cause == "abi_mismatch" and "mambaenv build" in ngc.fix


ISSUE_FAMILIES = {
    "ImportError: libcudart.so.11.0: cannot open shared object file: No such file or directory": "libcudart_missing",
    ">>> import causal_conv1d_cuda\nImportError: libc10.so: cannot open shared object file: No such file or directory": "libc10_missing",
    "csrc/selective_scan/selective_scan_fwd_fp32.cu(12): error: identifier \"M_LOG2E\" is undefined": "windows_msvc",
    "RuntimeError: mamba_ssm is only supported on CUDA 11.6 and above.  Note: make sure nvcc has a supported version": "no_nvcc",
    "      ModuleNotFoundError: No module named 'packaging'": "build_env_no_packaging",
    "ninja: error: '/tmp/pip-install-1/causal-conv1d_1/csrc/causal_conv1d.cpp', needed by 'build/x.o', missing and no known rule to make it":
        "sdist_missing_csrc",
    "TypeError: causal_conv1d_fwd(): incompatible function arguments. The following argument types are supported:": "causal_conv1d_incompatible_args",
    "AttributeError: 'NoneType' object has no attribute 'causal_conv1d_fwd'": "causal_conv1d_none",
    "FileNotFoundError: [Errno 2] No such file or directory: 'ldconfig'": "triton_ldconfig",
    "/tmp/tmpx/main.c:354:3: error: 'for' loop initial declarations are only allowed in C99 mode": "triton_old_gcc",
    "/usr/local/cuda/include/ATen/cuda/CUDAContext.h:6:22: fatal error: cusparse.h: No such file or directory": "cusparse_missing",
    "/usr/local/cuda/include/crt/host_config.h:132:2: error: #error -- unsupported GNU version! gcc versions later than 12 are not supported!":
        "gcc_too_new",
    "RuntimeError: causal_conv1d with channel last layout requires strides (x.stride(0) and x.stride(2)) to be multiples of 8": "mamba2_strides",
    "RuntimeError: Expected B.stride(-1) == 1 to be true, but got false.": "b_stride",
    "ptxas /tmp/x.ptx, line 305; error   : Feature '.bf16' requires .target sm_80 or higher\nRuntimeError: Internal Triton PTX codegen error":
        "bf16_pre_ampere",
    "triton.runtime.errors.OutOfResources: out of resource: shared memory, Required: 263168, Hardware limit: 232448": "shared_memory_headdim",
    "ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found (required by x.so)": "glibc_too_old",
    "ImportError: /usr/lib64/libstdc++.so.6: version `GLIBCXX_3.4.29' not found (required by x.so)": "glibcxx_too_old",
    "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain":
        "ssl_untrusted_ca",
}


def test_the_issue_families_each_get_their_own_cause():
    for text, cause in ISSUE_FAMILIES.items():
        d = explain(text)
        assert d is not None and d.cause == cause, (text, d)


def test_glibc_and_glibcxx_get_different_fixes():
    glibc = explain("version `GLIBC_2.32' not found")
    glibcxx = explain("version `GLIBCXX_3.4.29' not found")
    assert "libstdcxx" in glibcxx.fix and "libstdcxx" not in glibc.fix


def test_selective_scan_cuda_missing_inside_a_source_checkout_is_shadowing():
    text = ("Traceback (most recent call last):\n  File \"/home/u/mamba/mamba_ssm/ops/selective_scan_interface.py\", line 20, in <module>\n"
            "    import selective_scan_cuda\nModuleNotFoundError: No module named 'selective_scan_cuda'\n")
    assert explain(text).cause == "source_checkout_shadowing"
    installed = text.replace("/home/u/mamba/", "/home/u/venv/lib/python3.10/site-packages/")
    result = diagnose(installed)
    assert result.diagnosis.cause == "selective_scan_cuda_missing"
    assert "failed" in result.diagnosis.summary and "source checkout" in result.diagnosis.summary  # all three causes named


def test_an_ambiguous_text_says_so_with_a_ranking():
    text = "UserWarning: mamba_ssm was requested, but nvcc was not found.\n/tmp/pip-build-env-x/overlay/lib/python3.10/site-packages/torch/utils.py\n" \
           "No ROCm runtime is found, using ROCM_HOME='/opt/rocm-6.2.3'\n"
    result = diagnose(text)
    assert result.diagnosis.cause == "build_isolation_wrong_torch" and result.diagnosis.confidence < 0.8
    assert [o.cause for o in result.others] == ["no_nvcc"]


# --- the command ---------------------------------------------------------------------------------

def _cli(args, stdin_text=None):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "mambaenv", "explain", *args], input=stdin_text, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, stdin=None if stdin_text is not None else subprocess.DEVNULL)


def test_standard_input_is_read_when_piped():
    out = _cli(["--json"], PIP_LOG_TRITON_THEN_DOWNLOAD)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"diagnosis", "others"}
    assert set(data["diagnosis"]) == {"cause", "summary", "fix", "evidence", "confidence"}
    assert data["diagnosis"]["cause"] == "download_failed"


def test_file_dash_reads_standard_input_and_file_reads_a_file(tmp_path):
    text = (CORPUS / "037-ssl-certificate-verify-failed.log").read_text()
    out = _cli(["--file", "-"], text)
    assert out.returncode == 0 and "ssl_untrusted_ca" in out.stdout and "REQUESTS_CA_BUNDLE" in out.stdout
    log = tmp_path / "pip.log"
    log.write_text(text)
    assert "ssl_untrusted_ca" in _cli(["--file", str(log)]).stdout


def test_nothing_to_explain_and_no_match_say_so():
    empty = _cli([])
    assert empty.returncode == 2 and "nothing to explain" in empty.stderr and "mambaenv explain" in empty.stderr
    missing = _cli(["--file", "/nonexistent/pip.log"])
    assert missing.returncode == 2 and "cannot read /nonexistent/pip.log" in missing.stderr
    unknown = _cli(["--json", "everything is fine"])
    assert unknown.returncode == 1 and json.loads(unknown.stdout) == {"diagnosis": None, "others": []}


def test_explain_with_python_makes_the_fix_concrete_for_that_env(torch_venv):
    """The fixture env: torch 2.13 (standing for a CUDA 12.8 build); no upstream wheel is built for torch 2.13."""
    env = dict(os.environ, COLUMNS="200", MAMBAENV_ASSUME_TORCH_CUDA="12.8")
    text = "ImportError: /x/site-packages/selective_scan_cuda.cpython-311-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    out = subprocess.run([sys.executable, "-m", "mambaenv", "explain", "--python", str(torch_venv), "--json", text],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)["diagnosis"]
    assert d["cause"] == "abi_mismatch"
    assert "no prebuilt mamba_ssm wheel fits" in d["fix"] and "torch 2.13" in d["fix"] and "mambaenv build" in d["fix"]
    # the error came from that env: the commands in the fix act there, not on the env mambaenv runs in
    assert f"mambaenv build --python {torch_venv}" in d["fix"]


def test_explain_with_python_says_which_python_tag_that_env_needs(torch_venv):
    """pip's bare refusal becomes the reason for that env: the probed interpreter's own version against the file's tag."""
    version = subprocess.run([str(torch_venv), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                             capture_output=True, text=True, check=True).stdout.strip()
    text = WHEEL_REFUSED.format("mamba_ssm-2.2.4+cu12torch2.6cxx11abiFALSE-cp38-cp38-linux_x86_64.whl")
    out = subprocess.run([sys.executable, "-m", "mambaenv", "explain", "--python", str(torch_venv), "--json", text],
                         capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"), cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)["diagnosis"]
    assert d["cause"] == "wheel_not_supported"
    assert f"built for cp38, this env runs Python {version}: take the cp{version.replace('.', '')} file" in d["fix"]


def test_env_facts_name_the_wheel_the_causal_conv1d_and_the_arch():
    from mambaenv.commands.explain import advise  # the planner's answer for the env, as explain --python gives it

    ctx = advise(Context(platform="linux", torch="2.6.0+cu124", torch_cuda="12.4", cxx11_abi=False, python="3.10", machine="x86_64",
                         gpu_capability="12.0", installed={"mamba_ssm": "2.2.4", "causal_conv1d": "1.4.0"}, from_env=True))
    abi = explain("ImportError: /e/site-packages/selective_scan_cuda.so: undefined symbol: _ZN3c104cuda9SetDeviceEi", ctx)
    assert "mamba_ssm-" in abi.fix and "+cu12torch2.6cxx11abiFALSE-cp310-cp310-linux_x86_64.whl" in abi.fix
    pair = explain("TypeError: causal_conv1d_fwd(): incompatible function arguments.", ctx)
    assert "mamba_ssm 2.2.4 was released with causal_conv1d 1.5.0.post8 (this env has 1.4.0)" in pair.fix
    arch = explain("RuntimeError: CUDA error: no kernel image is available for execution on the device", ctx)
    assert "sm_120" in arch.fix and "--arch 12.0" in arch.fix
    nightly = Context(torch="2.10.0.dev20251101+cu128", torch_cuda="12.8", python="3.12", from_env=True)
    assert "nightly" in explain("undefined symbol: _ZN3c105ErrorC2E", nightly).fix


def test_env_facts_name_the_flag_the_env_var_and_the_file_for_todays_failures():
    from mambaenv.commands.explain import advise  # the planner's answer for the env, as explain --python gives it

    ctx = advise(Context(platform="linux", torch="2.6.0+cu124", torch_cuda="12.4", cxx11_abi=False, python="3.12", machine="x86_64",
                         gpu_capability="7.5", nvcc="13.0", cuda_home="/opt/cuda-13.0", from_env=True))
    ptxas = explain("ptxas fatal   : Value 'sm_121a' is not defined for option 'gpu-name'", ctx)
    assert ptxas.cause == "triton_ptxas_too_old" and "export TRITON_PTXAS_PATH=/opt/cuda-13.0/bin/ptxas" in ptxas.fix
    old_toolkit = explain("ptxas fatal   : Value 'sm_121a' is not defined for option 'gpu-name'", replace(ctx, nvcc="12.4"))
    assert "CUDA toolkit here is 12.4" in old_toolkit.fix and "TRITON_PTXAS_PATH" in old_toolkit.fix
    turing = explain("IndexError: map::at", ctx)
    assert turing.cause == "triton_old_gpu" and "sm_75" in turing.fix and "TRITON_F32_DEFAULT=ieee" in turing.fix
    assert "cannot compile for it" in explain("IndexError: map::at", replace(ctx, gpu_capability="6.1")).fix
    guess = explain('File "<string>", line 315, in get_wheel_url\npackaging.version.InvalidVersion: Invalid version: \'gpgpu.7\'', ctx)
    assert guess.cause == "wheel_url_invalid_version" and "MAMBA_FORCE_BUILD=TRUE" in guess.fix and "--no-build-isolation" in guess.fix
    cxx20 = explain("ATen.h:5:2: error: #error C++20 or later compatible compiler is required to use ATen.", ctx)
    assert cxx20.cause == "cxx20_required" and "-std=c++20" in cxx20.fix and "cp312-cp312-linux_x86_64.whl" in cxx20.fix
    blackwell = explain("NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.\n"
                        "RuntimeError: CUDA error: no kernel image is available for execution on the device",
                        replace(ctx, gpu_capability="12.0", torch="2.5.1+cu121"))
    assert blackwell.cause == "torch_arch_missing" and "whl/cu128" in blackwell.fix and "torch 2.5.1+cu121" in blackwell.fix


WHEEL_REFUSED = "ERROR: {} is not a supported wheel on this platform."


@pytest.mark.parametrize("filename,reason", [
    ("flash_attn-2.7.2.post1+cu12torch2.5cxx11abiFALSE-cp310-cp310-linux_x86_64.whl", "built for cp310, this env runs Python 3.12"),
    ("triton-3.3.0+gitaaa9932acu129torch2.7.0-cp312-cp312-linux_x86_64whl.whl", "for platform linux_x86_64whl, this env is linux x86_64"),
    ("causal_conv1d-1.5.0.post8+cu129torch2.7.0-cp312-cp312-win_amd64.whl", "for platform win_amd64"),
    ("mamba_ssm-2.3.2.post1+cu.12.8.torch.2.11-cp312-cp312-manylinux_2_34_x86_64.whl", "needs glibc 2.34 or newer"),
    ("mamba_ssm_cu12.whl", "not a valid wheel file name"),
])
def test_a_refused_wheel_is_told_apart_by_its_name_against_the_env(filename, reason):
    ctx = Context(platform="linux", torch="2.6.0+cu124", python="3.12", machine="x86_64", from_env=True)
    d = explain(WHEEL_REFUSED.format(filename), ctx)
    assert d.cause == "wheel_not_supported" and reason in d.fix


MORE_VARIANTS = [
    ("ImportError: cannot import name 'GreedySearchDecoderOnlyOutput' from 'transformers.generation'", "transformers_version"),
    ("AssertionError: Torch not compiled with CUDA enabled", "torch_cpu_only"),
    ("nvcc fatal   : Unsupported gpu architecture 'compute_120'", "nvcc_too_old_for_arch"),
    ("ImportError: cannot import name 'causal_conv1d_varlen_states' from 'causal_conv1d.causal_conv1d_varlen'", "causal_conv1d_incompatible_args"),
    ("TypeError: causal_conv1d_fn() got an unexpected keyword argument 'seq_idx'", "causal_conv1d_incompatible_args"),
    ("ModuleNotFoundError: No module named 'causal_conv1d'", "causal_conv1d_none"),
    ("error: invalid command 'bdist_wheel'", "build_env_no_packaging"),
    ("RuntimeError: CUDA error: the provided PTX was compiled with an unsupported toolchain.", "driver_too_old"),
    ("/tmp/tmpx/main.c:12:3: error: 'for' loop initial declarations are only allowed in C99 or C11 mode", "triton_old_gcc"),
    ("  File \"/x/site-packages/triton/runtime/autotuner.py\", line 75, in _bench\n    full_nargs = {**self.nargs, **current}\n"
     "TypeError: 'NoneType' object is not a mapping", "triton_version"),
    ("AttributeError: module 'triton.language' has no attribute 'flip'", "triton_version"),
    ("  Running setup.py install for mamba-ssm ... /", "build_all_archs_hang"),
    ("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "out_of_memory"),
    ("RuntimeError: Found no NVIDIA driver on your system.", "no_cuda_device"),
    ("Internal Triton PTX codegen error:\nptxas fatal   : Unresolved extern function 'x'", "triton_compile"),
    ("RuntimeError: Expected all tensors to be on the same device, but found cpu and cuda:0", "cpu_not_supported"),
]


@pytest.mark.parametrize("text,cause", MORE_VARIANTS)
def test_more_real_variants(text, cause):
    assert explain(text).cause == cause


def test_every_rule_is_exercised_by_some_text_here():
    exercised = {c["cause"] for c in CASES} | set(ISSUE_FAMILIES.values()) | {c for _, c in MORE_VARIANTS}
    exercised |= {"torch_missing", "build_isolation_no_torch", "macos_unsupported"}  # the build/run-time and platform tests
    assert {r.cause for r in RULES} - exercised == set()


# --- bounded work: linear patterns, capped lines, only the lines that can matter, read as a stream --------------

try:  # the regex parser's tree is the only way to read a pattern's repeats; it moved in Python 3.11
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # Python 3.9, 3.10
    import sre_constants
    import sre_parse

UNBOUNDED = float("inf")
REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None)}


def most_read(items) -> float:
    """The most characters one try of a pattern at one position can read (lookarounds included); inf when unbounded."""
    total = 0.0
    for op, av in items:
        if op in REPEATS:
            low, high, sub = av
            total += UNBOUNDED if high == sre_constants.MAXREPEAT else high * most_read(sub)
        elif op is sre_constants.SUBPATTERN:
            total += most_read(av[-1])
        elif op is sre_constants.BRANCH:
            total += max(most_read(b) for b in av[1])
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            total += most_read(av[1])
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            total = UNBOUNDED
        elif op is not sre_constants.AT:
            total += 1
    return total


def patterns_explain_runs() -> list[tuple[str, str]]:
    """Every rule's pattern and every compiled pattern the explain package keeps at module level."""
    import importlib
    import pkgutil
    import re

    import mambaenv.explain as package

    found = [(f"rule {r.cause}", r.pattern) for r in RULES]
    modules = [package] + [importlib.import_module(f"mambaenv.explain.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    for module in modules:
        for name, value in vars(module).items():
            values = [value] + ([v for item in value if isinstance(item, tuple) for v in item] if isinstance(value, tuple) else [])
            found += [(f"{module.__name__}.{name}", v.pattern) for v in values if isinstance(v, re.Pattern)]
    return found


def test_no_pattern_explain_runs_can_read_unboundedly_from_one_position():
    """A repeat without a bound after a word the text repeats ("OSError: " + "OSError: /" * N) made each try read to the
    line's end from every occurrence: quadratic (320 KB did not finish in 200 s). With every repeat bounded, one try
    reads a bounded number of characters, so a search is linear in the text."""
    found = patterns_explain_runs()
    assert len(found) > 60  # the rules and logparse's, context's and the engine's own patterns
    unbounded = [(name, pattern[:80]) for name, pattern in found if most_read(sre_parse.parse(pattern)) > 4096]
    assert unbounded == []


def test_a_line_over_the_cap_is_cut_keeping_its_start_and_its_end():
    line = "ImportError: /home/u/venv/lib/python3.10/site-packages/" + "d/" * 500_000 + \
           "selective_scan_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    log = parse_log("Traceback (most recent call last):\n" + line + "\n")
    assert max(len(ln) for ln in log.lines) < 10_000
    kept = next(ln for ln in log.lines if ln.startswith("ImportError"))
    assert kept.startswith("ImportError: /home/u/venv/lib/python3.10/site-packages/d/d/") and kept.endswith("_ZN3c104cuda9SetDeviceEi")
    assert explain(line).cause == "abi_mismatch"


def test_a_long_log_keeps_its_ends_and_a_window_around_each_error_line_and_nothing_else():
    from tests.build_logs import CAUSE, DECISIVE, write_build_log

    quiet = "      a line no window holds: Torch not compiled with CUDA enabled\n"  # it names a cause, but it marks no error
    out = io.StringIO()
    write_build_log(out, 8 << 20, quiet=quiet)
    text = out.getvalue()
    log = parse_log(text)
    kept = "\n".join(log.lines)
    assert DECISIVE.strip() in kept and "Collecting mamba-ssm" in kept and "Failed to build mamba-ssm" in kept
    assert quiet.strip() not in kept
    assert len(log.lines) < 3000 and len(kept) < (1 << 20)  # of 8 MB, 28,000 lines
    result = diagnose(text)
    assert result.diagnosis.cause == CAUSE
    assert log.failing.kind == "build" and log.failing.package == "mamba-ssm" and log.failing.failed  # pip -v names the step after it


def test_a_log_of_errors_only_keeps_a_bounded_number_of_them_the_first_and_the_last():
    text = "".join(f"error: number {n}\n" for n in range(400_000))
    lines = parse_log(text).lines
    assert "error: number 0" in lines and "error: number 399999" in lines
    assert len(lines) < 6000  # of 400,000


class RecordedReads(io.StringIO):
    """Standard input that remembers how much each read asked for."""

    def __init__(self, text):
        super().__init__(text)
        self.asked: list[int] = []

    def read(self, size=-1):
        self.asked.append(size)
        return super().read(size)

    def isatty(self):
        return False


def test_standard_input_is_read_in_chunks_never_whole():
    from mambaenv.commands.explain import ExplainRequest, explain_cmd
    from tests.build_logs import CAUSE, write_build_log

    out = io.StringIO()
    write_build_log(out, 5 << 20)
    stdin = RecordedReads(out.getvalue())
    result = explain_cmd(ExplainRequest(file="-", stdin=stdin))
    assert result.found.diagnosis.cause == CAUSE
    assert len(stdin.asked) > 3 and all(0 < size <= 1 << 20 for size in stdin.asked)
