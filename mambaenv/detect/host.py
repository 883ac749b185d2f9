"""Host facts: NVIDIA driver and GPUs, CUDA toolkit, glibc, containers, Docker, conda.

Each source is tried in order and its failure recorded as a note, never raised: a doctor that
crashes on a machine without a GPU is useless exactly where people need it. Parsers are pure
functions over the text a source prints, so they are tested on real captured outputs.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mambaenv.detect.driver_cuda import max_cuda_for_driver
from mambaenv.detect.engine_facts import DockerFacts


@dataclass
class Gpu:
    name: str
    compute_capability: str | None = None  # "9.0"
    memory_mib: int | None = None


@dataclass
class NvidiaFacts:
    driver: str | None = None
    max_cuda: str | None = None
    gpus: list[Gpu] = field(default_factory=list)
    source: str | None = None  # "nvml" | "proc" | "nvidia-smi"
    notes: list[str] = field(default_factory=list)


@dataclass
class ToolkitFacts:
    cuda_home: str | None = None
    nvcc: str | None = None
    version: str | None = None  # "11.8"
    notes: list[str] = field(default_factory=list)


@dataclass
class ContainerFacts:
    in_container: bool = False
    ngc_product: str | None = None  # NVIDIA_PRODUCT_NAME
    ngc_pytorch_version: str | None = None  # NVIDIA_PYTORCH_VERSION
    cuda_version: str | None = None  # CUDA_VERSION

    @property
    def is_ngc_pytorch(self) -> bool:
        return self.ngc_product == "PyTorch" and bool(self.ngc_pytorch_version)


@dataclass
class HostFacts:
    system: str
    machine: str
    os_release: str | None
    glibc: str | None
    wsl: bool
    jetson: str | None
    nvidia: NvidiaFacts
    toolkit: ToolkitFacts
    container: ContainerFacts
    docker: DockerFacts | None
    conda: dict[str, str | None]

    def to_dict(self) -> dict:
        return asdict(self)


# --- parsers over real outputs -------------------------------------------------------------

def parse_proc_driver_version(text: str) -> str | None:
    """``/proc/driver/nvidia/version``: 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  ...'."""
    m = re.search(r"Kernel Module(?: for [\w-]+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def parse_nvidia_smi_csv(text: str) -> tuple[str | None, list[Gpu]]:
    """``nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader,nounits``."""
    driver, gpus = None, []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        name, cap, mem, drv = parts[:4]
        gpus.append(Gpu(name, cap if re.match(r"^\d+\.\d+$", cap) else None, int(mem) if mem.isdigit() else None))
        driver = drv
    return driver, gpus


def parse_nvcc_version(text: str) -> str | None:
    """``nvcc -V``: 'Cuda compilation tools, release 11.8, V11.8.89'."""
    m = re.search(r"release (\d+\.\d+)", text)
    return m.group(1) if m else None


def parse_os_release(text: str) -> str | None:
    m = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.M)
    return m.group(1) if m else None


# --- sources, each tried in order ----------------------------------------------------------

def _run(args: list[str], timeout: float = 10) -> str | None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def nvidia_from_nvml() -> NvidiaFacts:
    import pynvml  # start-up: NVML (nvidia-ml-py) and its driver library load only when the GPUs are asked about

    pynvml.nvmlInit()
    try:
        drv = pynvml.nvmlSystemGetDriverVersion()
        drv = drv.decode() if isinstance(drv, bytes) else drv
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else name
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024)
            gpus.append(Gpu(name, f"{major}.{minor}", mem))
        return NvidiaFacts(driver=drv, gpus=gpus, source="nvml")
    finally:
        pynvml.nvmlShutdown()


def detect_nvidia(proc_root: str = "/proc") -> NvidiaFacts:
    notes = []
    try:
        facts = nvidia_from_nvml()
    except Exception as e:  # NVML absent or no driver: record and try the next source
        notes.append(f"nvml: {type(e).__name__}: {e}".strip())
        facts = NvidiaFacts()
    if not facts.driver:
        text = _read(Path(proc_root) / "driver/nvidia/version")
        drv = parse_proc_driver_version(text) if text else None
        if drv:
            facts = NvidiaFacts(driver=drv, source="proc")
        else:
            notes.append("proc: /proc/driver/nvidia/version absent")
    if not facts.gpus and shutil.which("nvidia-smi"):
        out = _run(["nvidia-smi", "--query-gpu=name,compute_cap,memory.total,driver_version", "--format=csv,noheader,nounits"])
        if out:
            drv, gpus = parse_nvidia_smi_csv(out)
            facts.gpus = gpus
            facts.driver = facts.driver or drv
            facts.source = facts.source or "nvidia-smi"
        else:
            notes.append("nvidia-smi: failed")
    elif not facts.gpus:
        notes.append("nvidia-smi: not on PATH")
    facts.max_cuda = max_cuda_for_driver(facts.driver) if facts.driver else None
    facts.notes = notes
    return facts


def native_gpu_caps() -> tuple[str, ...]:
    """The compute capabilities of the GPUs here, sorted; () when none is found."""
    return tuple(sorted({g.compute_capability for g in detect_nvidia().gpus if g.compute_capability}))


def detect_toolkit(env: dict | None = None) -> ToolkitFacts:
    env = os.environ if env is None else env
    facts = ToolkitFacts()
    home = env.get("CUDA_HOME") or env.get("CUDA_PATH")
    candidates = []
    if home:
        candidates.append(Path(home) / "bin" / "nvcc")
    on_path = shutil.which("nvcc", path=env.get("PATH"))
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(Path("/usr/local/cuda/bin/nvcc"))
    for nvcc in candidates:
        if nvcc.exists():
            facts.nvcc = str(nvcc)
            facts.cuda_home = home or str(nvcc.parent.parent)
            out = _run([str(nvcc), "-V"])
            facts.version = parse_nvcc_version(out) if out else None
            if not facts.version:
                facts.notes.append(f"{nvcc} -V gave no version")
            break
    else:
        facts.notes.append("no nvcc: neither CUDA_HOME, PATH nor /usr/local/cuda has one")
    return facts


def detect_container(env: dict | None = None) -> ContainerFacts:
    env = os.environ if env is None else env
    cgroup = _read("/proc/1/cgroup") or ""
    inside = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists() or any(
        k in cgroup for k in ("docker", "kubepods", "containerd", "lxc"))
    return ContainerFacts(inside, env.get("NVIDIA_PRODUCT_NAME"), env.get("NVIDIA_PYTORCH_VERSION"), env.get("CUDA_VERSION"))


def detect_docker(timeout: float = 3.0) -> DockerFacts:
    """The container engine mambaenv docker would use (Docker or Podman) and whether GPUs reach its containers."""
    from mambaenv.detect.docker_engine import detect_engine  # start-up: only doctor and docker checks ask the engine

    return detect_engine(timeout)


def detect_glibc() -> str | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        text = ""
    m = re.search(r"(\d+\.\d+)", text)
    if m:
        return m.group(1)
    lib, ver = platform.libc_ver()
    return ver or None if lib == "glibc" else None


def detect_host(with_docker: bool = True) -> HostFacts:
    proc_version = _read("/proc/version") or ""
    tegra = _read("/etc/nv_tegra_release")
    return HostFacts(
        system=platform.system(),
        machine=platform.machine(),
        os_release=parse_os_release(_read("/etc/os-release") or ""),
        glibc=detect_glibc(),
        wsl="microsoft" in proc_version.lower(),
        jetson=tegra.strip().splitlines()[0] if tegra else None,
        nvidia=detect_nvidia(),
        toolkit=detect_toolkit(),
        container=detect_container(),
        docker=detect_docker() if with_docker else None,
        conda={name: shutil.which(name) for name in ("conda", "mamba", "micromamba")},
    )
