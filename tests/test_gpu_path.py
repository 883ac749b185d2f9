"""What can be proven without a GPU: the error classifier, the architecture rewrite, smoke's no-GPU path."""
import ast
import json
import tarfile
from pathlib import Path

import pytest

from mambaenv.build import check_toolchain, gencode_flags, local_tag_for, rewrite_arch_flags
from mambaenv.errors import BuildError
from mambaenv.explain import explain
from tests.conftest import run_cli
from tests.fixture_builders import SDISTS

REAL_ERRORS = [
    ("ImportError: /envs/m/lib/python3.10/site-packages/selective_scan_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: "
     "_ZN3c105ErrorC2ENS_14SourceLocationESs", "abi_mismatch"),
    ("ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found (required by causal_conv1d_cuda.so)", "glibc_too_old"),
    ("ImportError: /usr/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.26' not found", "glibcxx_too_old"),
    ("ModuleNotFoundError: No module named 'selective_scan_cuda'", "selective_scan_cuda_missing"),
    ("ModuleNotFoundError: No module named 'causal_conv1d_cuda'", "causal_conv1d_cuda_missing"),
    ("RuntimeError: CUDA error: no kernel image is available for execution on the device", "no_kernel_image"),
    ("  Building wheel for mamba-ssm (setup.py) ... |", "build_all_archs_hang"),
    ("urllib.error.URLError: <urlopen error retrieval incomplete: got only 1048576 out of 41943040 bytes>", "download_failed"),
    ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "ssl_untrusted_ca"),
    ("http.client.RemoteDisconnected: Remote end closed connection without response", "download_failed"),
    ("RuntimeError: \nThe detected CUDA version (13.0) mismatches the version that was used to compile\nPyTorch (12.8). "
     "Please make sure to use the same CUDA versions.", "cuda_mismatch"),
    ("NameError: name 'bare_metal_version' is not defined", "no_nvcc"),
    ("OSError: CUDA_HOME environment variable is not set. Please set it to your CUDA install root.", "no_nvcc"),
    ("RuntimeError: The NVIDIA driver on your system is too old (found version 11040).", "driver_too_old"),
    ("RuntimeError: Found no NVIDIA driver on your system.", "no_cuda_device"),
    ("triton.runtime.errors.OutOfResources: out of resource: shared memory", "shared_memory_headdim"),
]


@pytest.mark.parametrize("text,rid", REAL_ERRORS)
def test_each_real_error_text_gets_its_diagnosis(text, rid):
    d = explain(text)
    assert d is not None and d.id == rid and d.fix


def test_explain_cli_reads_a_log_and_says_the_fix(tmp_path):
    log = tmp_path / "pip.log"
    log.write_text("Collecting mamba-ssm\n  Downloading mamba_ssm-2.2.2.tar.gz\n  Building wheel for mamba-ssm (setup.py) ... -\n")
    out = run_cli("explain", "--file", str(log), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["diagnosis"]["cause"] == "build_all_archs_hang"
    out = run_cli("explain", "everything is fine")
    assert out.returncode == 1 and "no known cause" in out.stdout


def setup_py_of(sdist: Path) -> str:
    with tarfile.open(sdist) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("/setup.py") and m.name.count("/") == 1)
        return tf.extractfile(member).read().decode()


@pytest.mark.parametrize("sdist", ["mamba_ssm-1.2.0", "mamba_ssm-2.2.2", "mamba_ssm-2.2.4", "mamba_ssm-2.3.2.post1",
                                   "causal_conv1d-1.4.0", "causal_conv1d-1.5.0.post8", "causal_conv1d-1.7.0"])
def test_arch_rewrite_on_real_upstream_setup_py(sdist):
    original = setup_py_of(SDISTS / f"{sdist}.tar.gz")
    new, replaced = rewrite_arch_flags(original, ["9.0"])
    ast.parse(new)  # still valid Python
    assert replaced >= 6
    assert "arch=compute_80" not in new and "sm_75" not in new
    assert new.count("arch=compute_90,code=sm_90") == 1
    assert original.count("arch=compute_") >= 3  # upstream's list really was longer


def test_arch_rewrite_refuses_a_setup_py_it_does_not_understand():
    with pytest.raises(BuildError, match="cannot apply the architecture rewrite"):
        rewrite_arch_flags("from setuptools import setup\nsetup(name='x')\n", ["9.0"])


def test_gencode_flags_and_bad_arch():
    assert gencode_flags(["9.0a", "8.6"]) == ["-gencode", "arch=compute_90a,code=sm_90a", "-gencode", "arch=compute_86,code=sm_86"]
    with pytest.raises(BuildError, match="malformed architecture"):
        gencode_flags(["hopper"])


def test_toolchain_checks_before_building():
    with pytest.raises(BuildError, match="differ in major version"):
        check_toolchain("12.4", "13.0")
    with pytest.raises(BuildError, match="no nvcc"):
        check_toolchain(None, "12.1")
    with pytest.raises(BuildError, match="CPU-only"):
        check_toolchain("12.4", None)
    check_toolchain("13.0", "13.0")
    assert local_tag_for("13.0", "2.11.0+cu130", True) == "cu13torch2.11cxx11abiTRUE"


def test_build_on_a_cpu_torch_env_says_why(torch_venv):
    out = run_cli("build", "--python", str(torch_venv), "--sdist", str(SDISTS / "mamba_ssm-2.3.2.post1.tar.gz"), "--package", "mamba_ssm")
    assert out.returncode == 6 and "CPU-only" in out.stderr


def test_smoke_without_a_gpu_is_its_own_result(torch_venv):
    out = run_cli("smoke", "--python", str(torch_venv), "--json")
    assert out.returncode == 8  # ExitCode.NO_CUDA_DEVICE: not 3, which is a failed download
    res = json.loads(out.stdout)
    assert res["result"] == "no_cuda_device"
    step = next(s for s in res["steps"] if s["name"] == "cuda device")
    # the fixture torch is a CPU wheel: on a GPU node that is the usual reason, so it is said instead of "no GPU"
    assert step["diagnosis"]["cause"] == "torch_cpu_only" and "CPU-only build" in step["error"]


def test_smoke_in_an_env_without_torch_is_a_failure_not_no_device(tmp_path):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "v")], check=True)
    out = run_cli("smoke", "--python", str(tmp_path / "v" / "bin" / "python"), "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["result"] == "failed"


@pytest.mark.parametrize("script", ["mambaenv/detect/probe_script.py", "mambaenv/smoke/smoke_script.py"])
def test_scripts_that_run_inside_the_target_env_are_python_37_syntax(script):
    source = (Path(__file__).resolve().parent.parent / script).read_text()
    ast.parse(source, feature_version=(3, 7))
    tree = ast.parse(source)
    imported = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"json", "math", "os", "platform", "re", "sys", "sysconfig", "time", "traceback", "torch", "mamba_ssm", "causal_conv1d", "triton"}


def test_sdist_fetch_goes_through_the_envs_pip_and_a_pep503_mirror(tmp_path, torch_venv):
    import hashlib

    from mambaenv.build import fetch_sdist
    from tests.httpserver import LoopbackServer, Route

    data = (SDISTS / "causal_conv1d-1.4.0.tar.gz").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    page = f'<html><body><a href="../../files/causal_conv1d-1.4.0.tar.gz#sha256={digest}">causal_conv1d-1.4.0.tar.gz</a></body></html>'
    with LoopbackServer() as srv:
        srv.add("/simple/causal-conv1d/", Route(body=page.encode(), content_type="text/html"))
        srv.add("/files/causal_conv1d-1.4.0.tar.gz", Route(body=data))
        got = fetch_sdist("causal_conv1d", "1.4.0", tmp_path, str(torch_venv), index_url=srv.url("/simple"))
    assert got.read_bytes() == data


def test_sdist_fetch_failure_names_the_offline_fix(tmp_path, torch_venv):
    from mambaenv.build import fetch_sdist
    from tests.httpserver import LoopbackServer

    with LoopbackServer() as srv:
        with pytest.raises(BuildError, match="cannot fetch the causal_conv1d sdist") as err:
            fetch_sdist("causal_conv1d", "9.9.9", tmp_path, str(torch_venv), index_url=srv.url("/simple"))
    assert "--sdist FILE" in err.value.fix


def test_sdist_extraction_refuses_links_and_escapes_and_unpacks_a_real_one(tmp_path):
    import io
    import tarfile

    from mambaenv.build import extract_sdist
    from mambaenv.errors import BuildError

    root = extract_sdist(SDISTS / "causal_conv1d-1.7.0.tar.gz", tmp_path / "ok")
    assert (root / "setup.py").is_file() and (root / "csrc" / "causal_conv1d_bwd.cu").is_file()
    for member in (tarfile.TarInfo("pkg/../../escaped"), tarfile.TarInfo("pkg/link")):
        bad = tmp_path / "bad.tar.gz"
        with tarfile.open(bad, "w:gz") as tf:
            if member.name.endswith("link"):
                member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(member)
            else:
                member.size = 2
                tf.addfile(member, io.BytesIO(b"hi"))
        with pytest.raises(BuildError, match="unsafe member"):
            extract_sdist(bad, tmp_path / "out")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out").exists()
