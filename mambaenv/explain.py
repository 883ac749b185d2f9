"""Error text -> a diagnosis in plain words and the fix. Rules are data, first match wins."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Diagnosis:
    id: str
    summary: str
    fix: str
    evidence: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# (id, pattern, summary, fix), most specific first.
RULES: tuple[tuple[str, str, str, str], ...] = (
    ("no-cuda-device",
     r"Found no NVIDIA driver|no CUDA GPUs are available|CUDA driver initialization failed|torch\.cuda\.is_available\(\) is False|NO_CUDA_DEVICE",
     "no CUDA device is visible to this process",
     "run on a GPU node; in Docker pass --gpus all (mambaenv docker run does); check CUDA_VISIBLE_DEVICES and nvidia-smi"),
    ("driver-too-old", r"driver version is insufficient for CUDA runtime|CUDA driver version is insufficient|The NVIDIA driver on your system is too old",
     "the NVIDIA driver is older than the CUDA that torch was built with",
     "upgrade the driver, or install a torch built for an older CUDA (mambaenv doctor shows the driver's limit)"),
    ("cuda-mismatch-build", r"detected CUDA version \(([\d.]+)\) mismatches the version that was used to compile\s*PyTorch \(([\d.]+)\)",
     "the CUDA toolkit (nvcc) and torch's CUDA differ in major version, so the extension cannot be compiled",
     "install a CUDA toolkit whose major version equals torch's and point CUDA_HOME at it, or use a prebuilt wheel (mambaenv resolve)"),
    ("no-nvcc", r"bare_metal_version' is not defined|CUDA_HOME environment variable is not set|nvcc was not found|No such file or directory: '[^']*nvcc'",
     "no CUDA compiler (nvcc) was found, so setup.py could not build the kernels",
     "use a prebuilt wheel (mambaenv resolve / install), or install the CUDA toolkit and set CUDA_HOME"),
    ("abi-mismatch", r"undefined symbol: _ZN3c10|undefined symbol: _ZNK3c10|undefined symbol: _ZN2at|undefined symbol: .*c10.*Error",
     "the compiled extension does not match this torch: C++11 ABI (cxx11abiTRUE/FALSE) or torch version differ",
     "install the wheel whose cxx11abi and torch version match this env: mambaenv resolve; mambaenv install checks this before installing"),
    ("glibc-too-old", r"version `GLIBC_2\.(\d+)' not found|version `GLIBCXX_3\.4\.(\d+)' not found|version `CXXABI_1\.3\.(\d+)' not found",
     "the wheel's libraries need a newer glibc/libstdc++ than this system has (upstream builds on Ubuntu 22.04)",
     "use mambaenv docker (a newer base image), a conda env with a newer libstdcxx-ng, or build from source with mambaenv build"),
    ("missing-extension", r"No module named '(selective_scan_cuda|causal_conv1d_cuda)'",
     "a pure-Python build of the package was installed: its CUDA extension is missing",
     "reinstall from a prebuilt wheel (mambaenv install) or a real build (mambaenv build); a build with *_SKIP_CUDA_BUILD=TRUE has no kernels"),
    ("no-kernel-image", r"no kernel image is available for execution on the device|CUDA error: invalid device function",
     "the binary has no code for this GPU's architecture",
     "build for this GPU: mambaenv build --arch native (or use a wheel that includes this architecture)"),
    ("out-of-memory", r"CUDA out of memory|OutOfMemoryError",
     "the GPU ran out of memory", "use smaller shapes or free the GPU (nvidia-smi shows who holds it)"),
    ("triton", r"triton|Triton|PTXAS|ptxas",
     "the Triton compiler failed (the Mamba2 path uses Triton)",
     "install the triton version that matches torch (pip install torch pins it); check that a C compiler is present for Triton's launcher"),
    ("download-failed", r"urlopen error|retrieval incomplete|CERTIFICATE_VERIFY_FAILED|Remote end closed connection|Read timed out",
     "setup.py's one-shot download of the prebuilt wheel failed (it has no retry, resume or checksum)",
     "mambaenv download (resumable, mirrors, proxies), or open the URL from mambaenv resolve in a browser, then mambaenv install --offline-wheel FILE"),
    ("building-all-archs", r"Building wheel for (mamba[-_]ssm|causal[-_]conv1d) \((setup\.py|pyproject\.toml)\)",
     "pip found no prebuilt wheel and is compiling every GPU architecture from source (tens of minutes to hours; it only looks hung)",
     "stop it; mambaenv resolve tells whether a wheel exists; otherwise mambaenv build compiles only this GPU's architecture"),
    ("torch-missing", r"No module named 'torch'",
     "torch is not installed in this env (setup.py imports it)",
     "install a CUDA build of torch first, then the wheels with --no-build-isolation or mambaenv install"),
)


def explain(text: str) -> Diagnosis | None:
    for rid, pattern, summary, fix in RULES:
        m = re.search(pattern, text)
        if m:
            line = next((ln for ln in text.splitlines() if re.search(pattern, ln)), m.group(0))
            return Diagnosis(rid, summary, fix, line.strip()[:300])
    return None
